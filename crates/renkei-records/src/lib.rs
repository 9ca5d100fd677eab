//! 情報提供等記録: the exchange records a gateway tenant or the hub keeps.
//!
//! A [`RecordBook`] appends [`ExchangeRecord`]s to a [`Ledger`] (durable, append-only) and
//! keeps secondary indexes in a sled tree so records can be found by person, inquiry,
//! permit or counterparty. The index is derived data: it is written without its own
//! fsync and, on open, caught up from the ledger, so a crash can delay it but never make
//! it disagree with the log.
//!
//! Index entries are plain inserts, never a sled `apply_batch`: sled 0.34 writes out (and
//! `sync_file_range`s) its I/O buffer twice for every batch, which made indexing the most
//! expensive step of an exchange (docs/performance.md, "End to end"). Atomicity is not
//! needed: sled recovers a prefix of its log, and the `~indexed-upto` mark is written only
//! after every key of every record below it (see [`Watermark`]).
#![forbid(unsafe_code)]

mod check;
mod log;
mod retention;
mod stats;

pub use retention::DEFAULT_RETENTION_DAYS;
pub use stats::{StatKey, Statistics, direction_name, outcome_name};

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use prost::Message as _;
use renkei_ledger::Ledger;
use renkei_proto::v1::ExchangeRecord;
use renkei_store::Tree;

/// Why a record operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    #[error(transparent)]
    Ledger(#[from] renkei_ledger::LedgerError),
    #[error("record index: {0}")]
    Index(#[from] renkei_store::StoreError),
    #[error("record {seq} cannot be decoded: {reason}")]
    Decode { seq: u64, reason: String },
    /// The record lacks something a 情報提供等記録 must hold, or holds what it must not.
    #[error("record refused, {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// Filters for [`RecordBook::query`]. At most one of the key filters is used as the
/// index; the rest are applied to the records found.
#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    pub unified_address_number: Option<String>,
    pub inquiry_id: Option<String>,
    pub permit_id: Option<String>,
    /// Records where this agency is the counterparty, the inquirer or the provider.
    pub agency: Option<String>,
    pub person_ref: Option<Vec<u8>>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: usize,
    /// Exactly this counterparty (the other side of the exchange).
    pub counterparty: Option<String>,
    pub procedure: Option<String>,
    /// A [`renkei_proto::v1::Direction`] value.
    pub direction: Option<i32>,
    /// [`renkei_proto::v1::Outcome`] values; empty means any.
    pub outcomes: Vec<i32>,
    /// [`RecordBook::page`] only: the first sequence number to look at.
    pub from_seq: u64,
    /// [`RecordBook::page`] only: at most this many records are examined per call
    /// (0: no bound), so a narrow filter over a 7-year log cannot hold a call for long.
    pub scan_limit: usize,
}

impl RecordQuery {
    fn matches(&self, r: &ExchangeRecord) -> bool {
        self.since_ms.is_none_or(|s| r.recorded_at_ms >= s)
            && self.until_ms.is_none_or(|u| r.recorded_at_ms < u)
            && self
                .unified_address_number
                .as_ref()
                .is_none_or(|u| &r.unified_address_number == u)
            && self.inquiry_id.as_ref().is_none_or(|i| &r.inquiry_id == i)
            && self.permit_id.as_ref().is_none_or(|p| &r.permit_id == p)
            && self.person_ref.as_ref().is_none_or(|p| &r.person_ref == p)
            && self
                .agency
                .as_ref()
                .is_none_or(|a| &r.counterparty == a || &r.inquirer == a || &r.provider == a)
            && self
                .counterparty
                .as_ref()
                .is_none_or(|c| &r.counterparty == c)
            && self.procedure.as_ref().is_none_or(|p| &r.procedure == p)
            && self.direction.is_none_or(|d| r.direction == d)
            && (self.outcomes.is_empty() || self.outcomes.contains(&r.outcome))
    }

    /// The index that narrows the search most, if any filter has one.
    fn index_prefix(&self) -> Option<Vec<u8>> {
        if let Some(u) = &self.unified_address_number {
            Some(prefix(b'u', u.as_bytes()))
        } else if let Some(i) = &self.inquiry_id {
            Some(prefix(b'i', i.as_bytes()))
        } else if let Some(p) = &self.permit_id {
            Some(prefix(b'p', p.as_bytes()))
        } else if let Some(p) = &self.person_ref {
            Some(prefix(b'r', p))
        } else {
            // The agency index holds every counterparty too.
            self.agency
                .as_ref()
                .or(self.counterparty.as_ref())
                .map(|a| prefix(b'a', a.as_bytes()))
        }
    }
}

/// One page of [`RecordBook::page`].
#[derive(Debug, Clone, Default)]
pub struct RecordPage {
    pub records: Vec<ExchangeRecord>,
    /// The sequence number the next page starts from; `None` when nothing is left.
    pub next: Option<u64>,
}

const UPTO: &[u8] = b"~indexed-upto";

/// Records indexed out of order beyond which the lagging ones are indexed from the log
/// (an appender whose request was cancelled between its append and its indexing never
/// comes back to index its record).
const MAX_AHEAD: usize = 1024;

/// How far the index is complete. Concurrent appenders index in any order; the stored mark
/// only ever covers a contiguous prefix of the log, so a crash cannot leave a record
/// below the mark unindexed (catch-up on open starts at the mark).
#[derive(Debug, Default)]
struct Watermark {
    /// Every record below this is indexed.
    upto: u64,
    /// Records at or above `upto` already indexed.
    ahead: BTreeSet<u64>,
}

#[derive(Debug, Clone)]
pub struct RecordBook {
    ledger: Ledger,
    index: Tree,
    /// One counter update at a time (module `stats`): counters are read, added to and
    /// written back.
    counting: std::sync::Arc<std::sync::Mutex<()>>,
    mark: Arc<Mutex<Watermark>>,
}

fn key(tag: u8, value: &[u8], seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(value.len() + 10);
    k.push(tag);
    k.extend_from_slice(value);
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn prefix(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(value.len() + 2);
    k.push(tag);
    k.extend_from_slice(value);
    k.push(0);
    k
}

fn index_keys(r: &ExchangeRecord, seq: u64) -> Vec<Vec<u8>> {
    let mut keys = Vec::with_capacity(6);
    let mut add = |tag, v: &[u8]| {
        if !v.is_empty() {
            keys.push(key(tag, v, seq));
        }
    };
    add(b'u', r.unified_address_number.as_bytes());
    add(b'i', r.inquiry_id.as_bytes());
    add(b'p', r.permit_id.as_bytes());
    add(b'r', &r.person_ref);
    let mut agencies = vec![
        r.counterparty.as_str(),
        r.inquirer.as_str(),
        r.provider.as_str(),
    ];
    agencies.sort_unstable();
    agencies.dedup();
    for a in agencies {
        add(b'a', a.as_bytes());
    }
    keys
}

impl RecordBook {
    /// Opens the book and brings its index up to date with the ledger.
    pub fn open(ledger: Ledger, index: Tree) -> Result<RecordBook, RecordError> {
        let book = RecordBook {
            ledger,
            index,
            counting: Default::default(),
            mark: Arc::new(Mutex::new(Watermark::default())),
        };
        book.catch_up()?;
        Ok(book)
    }

    fn indexed_upto(&self) -> Result<u64, RecordError> {
        Ok(
            match self
                .index
                .get(UPTO)
                .map_err(renkei_store::StoreError::from)?
            {
                Some(v) if v.len() == 8 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&v);
                    u64::from_be_bytes(b)
                }
                _ => 0,
            },
        )
    }

    fn catch_up(&self) -> Result<(), RecordError> {
        let from = self.indexed_upto()?.max(self.ledger.first_kept());
        let to = self.ledger.len();
        if from < to {
            tracing::info!(from, to, "catching up the record index from the log");
        }
        for seq in from..to {
            let Some(bytes) = self.ledger.get(seq)? else {
                break;
            };
            let r = decode(seq, &bytes)?;
            self.insert_keys(&r, seq)?;
        }
        let mut mark = self.lock_mark();
        mark.upto = from.max(to);
        mark.ahead.clear();
        self.store_mark(mark.upto)
    }

    fn lock_mark(&self) -> std::sync::MutexGuard<'_, Watermark> {
        // The mark is plain data; a panic elsewhere cannot leave it inconsistent.
        self.mark.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn store_mark(&self, upto: u64) -> Result<(), RecordError> {
        self.index
            .insert(UPTO, &upto.to_be_bytes()[..])
            .map_err(renkei_store::StoreError::from)?;
        Ok(())
    }

    fn insert_keys(&self, r: &ExchangeRecord, seq: u64) -> Result<(), RecordError> {
        for k in index_keys(r, seq) {
            self.index
                .insert(k, &[][..])
                .map_err(renkei_store::StoreError::from)?;
        }
        Ok(())
    }

    fn index_one(&self, r: &ExchangeRecord, seq: u64) -> Result<(), RecordError> {
        self.insert_keys(r, seq)?;
        let mut mark = self.lock_mark();
        if seq < mark.upto {
            return Ok(());
        }
        mark.ahead.insert(seq);
        if mark.ahead.len() > MAX_AHEAD {
            // Index the stragglers from the log (idempotent if their appenders are merely
            // slow); the mutex is held so the mark cannot move meanwhile.
            let first_ahead = mark.ahead.first().copied().unwrap_or(mark.upto);
            for s in mark.upto..first_ahead {
                if let Some(bytes) = self.ledger.get(s)? {
                    self.insert_keys(&decode(s, &bytes)?, s)?;
                }
                mark.ahead.insert(s);
            }
        }
        let before = mark.upto;
        while mark.ahead.first() == Some(&mark.upto) {
            mark.ahead.pop_first();
            mark.upto += 1;
        }
        if mark.upto != before {
            // Written under the mutex, after the keys of every record below it.
            self.store_mark(mark.upto)?;
        }
        Ok(())
    }

    /// Appends a record durably and indexes it. Returns the record with `sequence` set.
    pub async fn append(&self, mut record: ExchangeRecord) -> Result<ExchangeRecord, RecordError> {
        record.sequence = 0;
        check::check(&record)?;
        let seq = self.ledger.append(record.encode_to_vec()).await?;
        self.index_one(&record, seq)?;
        record.sequence = seq;
        Ok(record)
    }

    pub fn len(&self) -> u64 {
        self.ledger.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ledger.is_empty()
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn get(&self, seq: u64) -> Result<Option<ExchangeRecord>, RecordError> {
        match self.ledger.get(seq)? {
            Some(b) => {
                let mut r = decode(seq, &b)?;
                r.sequence = seq;
                Ok(Some(r))
            }
            None => Ok(None),
        }
    }

    /// Records matching `q`, oldest first, at most `q.limit` (0 means 1000).
    pub fn query(&self, q: &RecordQuery) -> Result<Vec<ExchangeRecord>, RecordError> {
        let q = RecordQuery {
            from_seq: 0,
            scan_limit: 0,
            ..q.clone()
        };
        Ok(self.page(&q)?.records)
    }

    /// Records matching `q` from sequence `q.from_seq` on, oldest first: at most `q.limit`
    /// (0 means 1000), and at most `q.scan_limit` examined. A page may hold fewer records
    /// than the limit (even none) and still have a next one: only `next == None` means the
    /// end. Records appended meanwhile appear on a later page; none appears twice.
    pub fn page(&self, q: &RecordQuery) -> Result<RecordPage, RecordError> {
        let limit = if q.limit == 0 { 1000 } else { q.limit };
        let budget = if q.scan_limit == 0 {
            usize::MAX
        } else {
            q.scan_limit
        };
        let start = q.from_seq.max(self.ledger.first_kept());
        // The candidates: the index's entries for the narrowest filter, or every sequence.
        let candidates: Box<dyn Iterator<Item = Result<u64, RecordError>> + '_> =
            match q.index_prefix() {
                Some(p) => {
                    let mut from = p.clone();
                    from.extend_from_slice(&start.to_be_bytes());
                    Box::new(
                        self.index
                            .range(from..)
                            .map(|item| item.map_err(|e| renkei_store::StoreError::from(e).into()))
                            .take_while(move |item| {
                                item.as_ref().map_or(true, |(k, _)| k.starts_with(&p))
                            })
                            .filter_map(|item| {
                                item.map(|(k, _)| {
                                    k.get(k.len().saturating_sub(8)..)
                                        .and_then(|b| <[u8; 8]>::try_from(b).ok())
                                        .map(u64::from_be_bytes)
                                })
                                .transpose()
                            }),
                    )
                }
                None => Box::new((start..self.ledger.len()).map(Ok)),
            };
        let mut out = Vec::new();
        for (examined, seq) in candidates.enumerate() {
            let seq = seq?;
            if out.len() >= limit || examined >= budget {
                return Ok(RecordPage {
                    records: out,
                    next: Some(seq),
                });
            }
            if let Some(r) = self.get(seq)?
                && q.matches(&r)
            {
                out.push(r);
            }
        }
        Ok(RecordPage {
            records: out,
            next: None,
        })
    }
}

fn decode(seq: u64, bytes: &[u8]) -> Result<ExchangeRecord, RecordError> {
    ExchangeRecord::decode(bytes).map_err(|e| RecordError::Decode {
        seq,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_ledger::LedgerOptions;
    use renkei_store::{Store, StoreOptions};

    fn record(uan: &str, inquiry: &str, t: i64) -> ExchangeRecord {
        ExchangeRecord {
            recorded_at_ms: t,
            keeper: "141003".into(),
            direction: renkei_proto::v1::Direction::Inquiry as i32,
            counterparty: "011002".into(),
            procedure: "vaccination".into(),
            item: 25,
            permit_id: format!("pm-{inquiry}"),
            outcome: renkei_proto::v1::Outcome::Provided as i32,
            unified_address_number: uan.into(),
            inquiry_id: inquiry.into(),
            ..Default::default()
        }
    }

    /// A store and a book over `dir`/db and `dir`/log; the store is returned for tests
    /// that reach into the index.
    fn open_book(dir: &std::path::Path) -> (Store, RecordBook) {
        let store = Store::open(&dir.join("db"), &StoreOptions::default()).unwrap();
        let ledger = Ledger::open(&dir.join("log"), LedgerOptions::default()).unwrap();
        let book = RecordBook::open(ledger, store.global("idx").unwrap()).unwrap();
        (store, book)
    }

    #[tokio::test]
    async fn query_by_person_and_inquiry_and_catch_up_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (store, book) = open_book(dir.path());
        book.append(record("100", "inq-a", 10)).await.unwrap();
        book.append(record("200", "inq-b", 20)).await.unwrap();
        let r = book.append(record("100", "inq-c", 30)).await.unwrap();
        assert_eq!(r.sequence, 2);
        // An incomplete record is refused and nothing is appended.
        let mut bad = record("300", "inq-d", 40);
        bad.procedure.clear();
        assert!(matches!(
            book.append(bad).await,
            Err(RecordError::Invalid {
                field: "procedure",
                ..
            })
        ));
        assert_eq!(book.len(), 3);
        let q = RecordQuery {
            unified_address_number: Some("100".into()),
            ..Default::default()
        };
        let found = book.query(&q).unwrap();
        assert_eq!(
            found
                .iter()
                .map(|r| r.inquiry_id.as_str())
                .collect::<Vec<_>>(),
            ["inq-a", "inq-c"]
        );
        let q = RecordQuery {
            unified_address_number: Some("100".into()),
            since_ms: Some(15),
            ..Default::default()
        };
        assert_eq!(book.query(&q).unwrap().len(), 1);
        let q = RecordQuery {
            agency: Some("011002".into()),
            ..Default::default()
        };
        assert_eq!(book.query(&q).unwrap().len(), 3);

        // Wipe the index: reopening must rebuild it from the log.
        let idx = store.global("idx").unwrap();
        idx.clear().unwrap();
        drop(book);
        let ledger = Ledger::open(&dir.path().join("log"), LedgerOptions::default()).unwrap();
        let book = RecordBook::open(ledger, idx).unwrap();
        let q = RecordQuery {
            inquiry_id: Some("inq-b".into()),
            ..Default::default()
        };
        assert_eq!(book.query(&q).unwrap()[0].unified_address_number, "200");
    }

    #[tokio::test]
    async fn pages_return_every_match_once_and_counters_match_the_records() {
        use renkei_proto::v1::{Direction, Outcome};
        let dir = tempfile::tempdir().unwrap();
        let (store, book) = open_book(dir.path());
        // 2025-11-23 00:00 JST, then one record per hour for 50 hours.
        let day0 = 1_763_823_600_000;
        for i in 0..50i64 {
            let mut r = record(
                &format!("{}", 100 + i % 5),
                &format!("q-{i}"),
                day0 + i * 3_600_000,
            );
            r.outcome = if i % 3 == 0 {
                Outcome::Refused
            } else {
                Outcome::Provided
            } as i32;
            r.direction = if i % 2 == 0 {
                Direction::Inquiry
            } else {
                Direction::Provision
            } as i32;
            r.counterparty = if i % 4 == 0 { "141003" } else { "011002" }.into();
            book.append(r).await.unwrap();
        }
        let all = |q: RecordQuery| {
            let mut seen = Vec::new();
            let mut q = RecordQuery {
                limit: 3,
                scan_limit: 7,
                ..q
            };
            loop {
                let page = book.page(&q).unwrap();
                assert!(page.records.len() <= 3);
                seen.extend(page.records.into_iter().map(|r| r.sequence));
                match page.next {
                    Some(n) => q.from_seq = n,
                    None => return seen,
                }
            }
        };
        let want =
            |f: &dyn Fn(i64) -> bool| (0..50u64).filter(|&i| f(i as i64)).collect::<Vec<_>>();
        assert_eq!(all(RecordQuery::default()), want(&|_| true));
        assert_eq!(
            all(RecordQuery {
                outcomes: vec![Outcome::Refused as i32],
                ..Default::default()
            }),
            want(&|i| i % 3 == 0)
        );
        assert_eq!(
            all(RecordQuery {
                counterparty: Some("141003".into()),
                ..Default::default()
            }),
            want(&|i| i % 4 == 0)
        );
        assert_eq!(
            all(RecordQuery {
                unified_address_number: Some("102".into()),
                direction: Some(Direction::Inquiry as i32),
                ..Default::default()
            }),
            want(&|i| i % 5 == 2 && i % 2 == 0)
        );
        // Day 2 (JST) only.
        assert_eq!(
            all(RecordQuery {
                since_ms: Some(day0 + 86_400_000),
                until_ms: Some(day0 + 2 * 86_400_000),
                ..Default::default()
            }),
            want(&|i| (24..48).contains(&i))
        );

        let stats = book.statistics(None, None).unwrap();
        assert_eq!(stats.rows.values().sum::<u64>(), 50);
        let count = |stats: &Statistics, day: &str, d: &str, o: &str| {
            stats
                .rows
                .iter()
                .filter(|(k, _)| k.day == day && k.direction == d && k.outcome == o)
                .map(|(_, n)| *n)
                .sum::<u64>()
        };
        let by_hand = |lo: i64, hi: i64, inquiry: bool, refused: bool| {
            (lo..hi)
                .filter(|i| (i % 2 == 0) == inquiry && (i % 3 == 0) == refused)
                .count() as u64
        };
        assert_eq!(
            count(&stats, "2025-11-23", "inquiry", "refused"),
            by_hand(0, 24, true, true)
        );
        assert_eq!(
            count(&stats, "2025-11-24", "provision", "provided"),
            by_hand(24, 48, false, false)
        );
        assert_eq!(
            count(&stats, "2025-11-25", "inquiry", "provided"),
            by_hand(48, 50, true, false)
        );
        let one_day = book
            .statistics(Some("2025-11-24"), Some("2025-11-25"))
            .unwrap();
        assert_eq!(one_day.rows.values().sum::<u64>(), 24);
        // New records are folded in on the next read, each exactly once.
        book.append(record("100", "late", day0)).await.unwrap();
        assert_eq!(
            book.statistics(None, None)
                .unwrap()
                .rows
                .values()
                .sum::<u64>(),
            51
        );
        assert_eq!(book.update_counters().unwrap(), 0);
        // Counters lost with the index are rebuilt from the log.
        let idx = store.global("idx").unwrap();
        idx.clear().unwrap();
        drop(book);
        let ledger = Ledger::open(&dir.path().join("log"), LedgerOptions::default()).unwrap();
        let book = RecordBook::open(ledger, idx).unwrap();
        let rebuilt = book.statistics(None, None).unwrap();
        assert_eq!(rebuilt.rows.values().sum::<u64>(), 51);
        assert_eq!(
            count(&rebuilt, "2025-11-23", "inquiry", "refused"),
            by_hand(0, 24, true, true)
        );
    }

    #[tokio::test]
    async fn the_index_mark_never_passes_an_unindexed_record() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, book) = open_book(dir.path());
        // An appender cancelled between its append and its indexing: seq 0 is in the log
        // but nobody indexes it.
        let lost = record("100", "inq-lost", 10);
        book.ledger().append(lost.encode_to_vec()).await.unwrap();
        for i in 0..10 {
            book.append(record("200", &format!("inq-{i}"), 20))
                .await
                .unwrap();
        }
        // Records 1..11 are indexed, but the stored mark stays at the gap, so a restart
        // would index record 0 from the log.
        assert_eq!(book.indexed_upto().unwrap(), 0);
        let by_inquiry = |id: &str| RecordQuery {
            inquiry_id: Some(id.into()),
            ..Default::default()
        };
        assert!(book.query(&by_inquiry("inq-lost")).unwrap().is_empty());
        // Once too many records are indexed beyond the gap, the straggler is indexed from
        // the log and the mark catches up.
        let tasks: Vec<_> = (0..MAX_AHEAD + 10)
            .map(|i| {
                let book = book.clone();
                tokio::spawn(async move {
                    book.append(record("300", &format!("more-{i}"), 30))
                        .await
                        .unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(book.indexed_upto().unwrap(), book.len());
        assert_eq!(book.query(&by_inquiry("inq-lost")).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_restart_indexes_what_the_mark_does_not_cover() {
        let dir = tempfile::tempdir().unwrap();
        let (store, book) = open_book(dir.path());
        book.ledger()
            .append(record("100", "inq-lost", 10).encode_to_vec())
            .await
            .unwrap();
        book.append(record("200", "inq-b", 20)).await.unwrap();
        assert_eq!(book.indexed_upto().unwrap(), 0);
        drop(book);
        let ledger = Ledger::open(&dir.path().join("log"), LedgerOptions::default()).unwrap();
        let book = RecordBook::open(ledger, store.global("idx").unwrap()).unwrap();
        assert_eq!(book.indexed_upto().unwrap(), 2);
        let q = RecordQuery {
            inquiry_id: Some("inq-lost".into()),
            ..Default::default()
        };
        assert_eq!(book.query(&q).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn retention_purges_old_records_records_the_purge_and_stays_verifiable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        let (key, _) = renkei_crypto::SigningKey::generate().unwrap();
        let public = key.public_key();
        let ledger = Ledger::open_signed(
            &dir.path().join("log"),
            LedgerOptions { segment_bytes: 600 },
            renkei_ledger::HeadSigner {
                log_id: "141003".into(),
                key,
            },
        )
        .unwrap();
        let book = RecordBook::open(ledger, store.global("idx").unwrap()).unwrap();
        // 60 old records (time 1000..), then 20 recent ones.
        for i in 0..60 {
            book.append(record(
                &format!("{}", 100 + i),
                &format!("old-{i}"),
                1000 + i,
            ))
            .await
            .unwrap();
        }
        for i in 0..20 {
            book.append(record("900", &format!("new-{i}"), 5_000_000 + i))
                .await
                .unwrap();
        }
        book.publish_tree_head().unwrap();
        // Blocking, as servers run it: off the async threads.
        let purge = |now| {
            let book = book.clone();
            tokio::task::spawn_blocking(move || {
                book.purge_recorded_before(2_000_000, "141003", now, 2557)
            })
        };
        assert_eq!(
            book.statistics(None, None)
                .unwrap()
                .rows
                .values()
                .sum::<u64>(),
            80
        );
        let purged = purge(6_000_000).await.unwrap().unwrap();
        let kept = book.ledger().first_kept();
        assert!(purged > 20 && purged <= 60, "{purged}");
        assert_eq!(kept, purged);
        // Old records are gone from reads and the index; recent ones are all there.
        let q = RecordQuery {
            inquiry_id: Some("old-0".into()),
            ..Default::default()
        };
        assert!(book.query(&q).unwrap().is_empty());
        let q = RecordQuery {
            unified_address_number: Some("900".into()),
            ..Default::default()
        };
        assert_eq!(book.query(&q).unwrap().len(), 20);
        // The purge is itself on record, as the last record.
        let last = book.get(book.len() - 1).unwrap().unwrap();
        assert_eq!(last.outcome, renkei_proto::v1::Outcome::Purged as i32);
        assert_eq!(last.direction, renkei_proto::v1::Direction::System as i32);
        assert!(last.note.contains(&format!("0..{kept}")), "{}", last.note);
        // Statistics outlive the records they count: 80 exchanges and the purge itself.
        let stats = book.statistics(None, None).unwrap();
        assert_eq!(stats.rows.values().sum::<u64>(), 81);
        // Nothing left to purge: a second run does nothing and records nothing.
        let len = book.len();
        assert_eq!(purge(6_000_001).await.unwrap().unwrap(), 0);
        assert_eq!(book.len(), len);
        book.publish_tree_head().unwrap();
        let report =
            renkei_ledger::verify_log(&dir.path().join("log"), &public, &mut |_| {}).unwrap();
        assert!(report.is_ok(), "{:?}", report.problem);
        assert_eq!(report.records, len);
    }
}
