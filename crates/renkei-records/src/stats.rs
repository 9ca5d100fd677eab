//! Statistics of a record log (システム管理: 統計): exchanges per day (JST), procedure,
//! direction and outcome. Computed from the records themselves, so the figures agree with
//! what an auditor can verify.
//!
//! Online, a [`RecordBook`] keeps the same counts as counters in its index tree, one per
//! (day, procedure, direction, outcome), folded in from the log in sequence order with a
//! mark of how far they got (docs/decisions/0046). Appends do not touch them; whoever
//! reads statistics (and the gateway's background tick) folds in what is new, so a query
//! over seven years reads a few thousand counters instead of millions of records.

use std::collections::BTreeMap;

use prost::Message as _;
use renkei_proto::v1::{Direction, ExchangeRecord, Outcome};
use renkei_store::Batch;

use crate::{RecordBook, RecordError, decode};

/// Counter keys: this tag, the JST day, the procedure, 0, the direction, the outcome.
pub(crate) const COUNTER_TAG: u8 = b'#';
/// How far the counters have folded the log in (exclusive sequence number).
pub(crate) const COUNTED: &[u8] = b"~counted-upto";
/// Counters are written back at least this often while folding a long log.
const FOLD_BATCH: u64 = 100_000;

/// One row: how many records of this kind were written on this day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatKey {
    /// `YYYY-MM-DD` in JST.
    pub day: String,
    pub procedure: String,
    /// `inquiry`, `provision`, `relay` or `system`.
    pub direction: &'static str,
    /// `provided`, `no_data`, `refused`, `held`, `pending`, …
    pub outcome: &'static str,
}

/// The stable name of a [`Direction`] value, as statistics and exports print it.
pub fn direction_name(d: i32) -> &'static str {
    match Direction::try_from(d).unwrap_or(Direction::Unspecified) {
        Direction::Inquiry => "inquiry",
        Direction::Provision => "provision",
        Direction::Relay => "relay",
        Direction::System => "system",
        Direction::Unspecified => "unspecified",
    }
}

/// The stable name of an [`Outcome`] value, as statistics, filters and exports use it.
pub fn outcome_name(o: i32) -> &'static str {
    match Outcome::try_from(o).unwrap_or(Outcome::Unspecified) {
        Outcome::Provided => "provided",
        Outcome::NoData => "no_data",
        Outcome::Refused => "refused",
        Outcome::Held => "held",
        Outcome::NotProvided => "not_provided",
        Outcome::Expired => "expired",
        Outcome::Failed => "failed",
        Outcome::Relayed => "relayed",
        Outcome::Purged => "purged",
        Outcome::Pending => "pending",
        Outcome::Unspecified => "unspecified",
    }
}

/// Counts per [`StatKey`], for records recorded in `[since_ms, until_ms)`.
#[derive(Debug, Clone, Default)]
pub struct Statistics {
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    pub rows: BTreeMap<StatKey, u64>,
    /// Entries that do not decode as records (counted, never guessed at).
    pub undecodable: u64,
}

impl Statistics {
    pub fn new(since_ms: Option<i64>, until_ms: Option<i64>) -> Statistics {
        Statistics {
            since_ms,
            until_ms,
            ..Statistics::default()
        }
    }

    /// Adds one encoded record.
    pub fn add_entry(&mut self, entry: &[u8]) {
        match ExchangeRecord::decode(entry) {
            Ok(r) => self.add(&r),
            Err(_) => self.undecodable += 1,
        }
    }

    pub fn add(&mut self, r: &ExchangeRecord) {
        if self.since_ms.is_some_and(|s| r.recorded_at_ms < s)
            || self.until_ms.is_some_and(|u| r.recorded_at_ms >= u)
        {
            return;
        }
        let key = StatKey {
            day: jst_day(r.recorded_at_ms),
            procedure: r.procedure.clone(),
            direction: direction_name(r.direction),
            outcome: outcome_name(r.outcome),
        };
        *self.rows.entry(key).or_default() += 1;
    }

    /// RFC 4180 CSV with a header line.
    pub fn to_csv(&self) -> String {
        fn field(s: &str) -> String {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        }
        let mut out = String::from("day,procedure,direction,outcome,count\n");
        for (k, n) in &self.rows {
            out.push_str(&format!(
                "{},{},{},{},{n}\n",
                field(&k.day),
                field(&k.procedure),
                k.direction,
                k.outcome
            ));
        }
        out
    }
}

/// `YYYY-MM-DD` in JST.
fn jst_day(ms: i64) -> String {
    let stamp = renkei_core::format_ms(ms);
    stamp.get(..10).unwrap_or(&stamp).to_owned()
}

fn counter_key(r: &ExchangeRecord) -> Vec<u8> {
    let day = jst_day(r.recorded_at_ms);
    let mut k = Vec::with_capacity(14 + r.procedure.len());
    k.push(COUNTER_TAG);
    k.extend_from_slice(day.as_bytes());
    k.extend_from_slice(r.procedure.as_bytes());
    k.push(0);
    k.push(u8::try_from(r.direction).unwrap_or(u8::MAX));
    k.push(u8::try_from(r.outcome).unwrap_or(u8::MAX));
    k
}

fn be_u64(v: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(v).ok().map(u64::from_be_bytes)
}

impl RecordBook {
    /// Folds the records appended since the last call into the counters; returns how many
    /// were folded. Blocking (reads the log).
    pub fn update_counters(&self) -> Result<u64, RecordError> {
        let _one_at_a_time = match self.counting.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let store = |e| RecordError::Index(renkei_store::StoreError::from(e));
        let counted = self
            .index
            .get(COUNTED)
            .map_err(store)?
            .and_then(|v| be_u64(&v))
            .unwrap_or(0);
        let from = counted.max(self.ledger().first_kept());
        let to = self.ledger().len();
        let mut pending: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut upto = from;
        let mut folded = 0;
        let flush = |pending: &mut BTreeMap<Vec<u8>, u64>, upto: u64| {
            let mut batch = Batch::default();
            for (k, n) in std::mem::take(pending) {
                let had = self
                    .index
                    .get(&k)
                    .map_err(store)?
                    .and_then(|v| be_u64(&v))
                    .unwrap_or(0);
                batch.insert(k, &(had + n).to_be_bytes()[..]);
            }
            batch.insert(COUNTED, &upto.to_be_bytes()[..]);
            // Counters and mark in one atomic batch: a crash loses both or neither, so
            // no record is ever counted twice.
            self.index.apply_batch(batch).map_err(store)
        };
        for seq in from..to {
            // In flight (not yet readable): the next call folds it.
            let Some(bytes) = self.ledger().get(seq)? else {
                break;
            };
            let r = decode(seq, &bytes)?;
            *pending.entry(counter_key(&r)).or_default() += 1;
            upto = seq + 1;
            folded += 1;
            if folded % FOLD_BATCH == 0 {
                flush(&mut pending, upto)?;
            }
        }
        if upto > counted {
            flush(&mut pending, upto)?;
        }
        Ok(folded)
    }

    /// Counts per (day, procedure, direction, outcome) for the JST days `from_day`
    /// (inclusive) to `until_day` (exclusive), both `YYYY-MM-DD`, after folding in what is
    /// new. Counts of purged records stay: statistics outlive the records they count.
    pub fn statistics(
        &self,
        from_day: Option<&str>,
        until_day: Option<&str>,
    ) -> Result<Statistics, RecordError> {
        self.update_counters()?;
        let mut start = vec![COUNTER_TAG];
        start.extend_from_slice(from_day.unwrap_or("").as_bytes());
        let end = match until_day {
            Some(d) => {
                let mut e = vec![COUNTER_TAG];
                e.extend_from_slice(d.as_bytes());
                e
            }
            None => vec![COUNTER_TAG + 1],
        };
        let mut stats = Statistics::default();
        for item in self.index.range(start..end) {
            let (k, v) = item.map_err(|e| RecordError::Index(e.into()))?;
            // '#', the 10-byte day, the procedure, 0, the direction, the outcome.
            let n = k.len();
            let Some(count) = be_u64(&v) else { continue };
            if n < 14 || k[n - 3] != 0 {
                continue;
            }
            let key = StatKey {
                day: String::from_utf8_lossy(&k[1..11]).into_owned(),
                procedure: String::from_utf8_lossy(&k[11..n - 3]).into_owned(),
                direction: direction_name(i32::from(k[n - 2])),
                outcome: outcome_name(i32::from(k[n - 1])),
            };
            *stats.rows.entry(key).or_default() += count;
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: i64, procedure: &str, d: Direction, o: Outcome) -> Vec<u8> {
        ExchangeRecord {
            recorded_at_ms: t,
            procedure: procedure.into(),
            direction: d as i32,
            outcome: o as i32,
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn counts_by_jst_day_procedure_direction_and_outcome() {
        // 2025-11-22 23:30 JST and 2025-11-23 00:30 JST: one hour apart, two days.
        let late = 1_763_821_800_000;
        let early = late + 3_600_000;
        let mut s = Statistics::new(None, None);
        s.add_entry(&rec(
            late,
            "vaccination",
            Direction::Inquiry,
            Outcome::Provided,
        ));
        s.add_entry(&rec(
            early,
            "vaccination",
            Direction::Inquiry,
            Outcome::Provided,
        ));
        s.add_entry(&rec(
            early,
            "vaccination",
            Direction::Inquiry,
            Outcome::Provided,
        ));
        s.add_entry(&rec(
            early,
            "vaccination",
            Direction::Provision,
            Outcome::Refused,
        ));
        s.add_entry(&rec(
            early,
            "vaccination",
            Direction::Provision,
            Outcome::Held,
        ));
        s.add_entry(b"\xff\xff not a record");
        assert_eq!(s.undecodable, 1);
        let csv = s.to_csv();
        assert_eq!(
            csv,
            "day,procedure,direction,outcome,count\n\
             2025-11-22,vaccination,inquiry,provided,1\n\
             2025-11-23,vaccination,inquiry,provided,2\n\
             2025-11-23,vaccination,provision,held,1\n\
             2025-11-23,vaccination,provision,refused,1\n"
        );
        let mut windowed = Statistics::new(Some(early), None);
        windowed.add_entry(&rec(
            late,
            "vaccination",
            Direction::Inquiry,
            Outcome::Provided,
        ));
        windowed.add_entry(&rec(early, "a,\"b\"", Direction::Relay, Outcome::Relayed));
        assert_eq!(
            windowed.to_csv(),
            "day,procedure,direction,outcome,count\n2025-11-23,\"a,\"\"b\"\"\",relay,relayed,1\n"
        );
    }
}
