//! Registering provision copies (副本) of 予防接種の実施に関する情報 from the local master.
//!
//! A state file keeps, per person, the SHA-256 of the content the gateway acknowledged.
//! A re-run sends only persons whose content changed (or who are new), and deletes the
//! copies of persons no longer in the master. The state is appended and synced after
//! every acknowledged chunk, so an interrupted run resumes where it stopped: whatever was
//! acknowledged is not sent again, whatever was not is.
//!
//! Bad input never deletes a copy: a person missing from the input may be missing only
//! because their rows were bad, so a run keeps the copies of persons its bad rows name, and
//! deletes nothing at all when a bad row names no readable person ([`DeletionGuard`]).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use futures::StreamExt as _;
use renkei_proto::v1::provision_copies_client::ProvisionCopiesClient;
use renkei_proto::v1::symbols_client::SymbolsClient;
use renkei_proto::v1::{
    DeleteCopyRequest, Dose, ProvisionCopy, PutCopyRequest, RegisterAddressNumberRequest,
    VaccinationHistory,
};
use tonic::transport::Channel;

use crate::client::Progress;
use crate::ledger::{ReadOptions, StreamReport, read_ledger_persons, stream_ledger};
use crate::model::{LocalMaster, content_of};
use crate::{RowError, VaccinationError};

/// 主務省令第2条の表 item 25: 予防接種法による予防接種の実施に関する情報.
pub const VACCINATION_ITEM: u32 = 25;

const STATE_HEADER: &str = "# renkei vaccination sync state v1";

/// Per-person content hashes of what the gateway has acknowledged.
#[derive(Debug)]
pub struct SyncState {
    path: PathBuf,
    hashes: HashMap<String, [u8; 32]>,
    log: Option<std::fs::File>,
}

impl SyncState {
    /// Opens (or starts) a state file. A torn last line from a crash is ignored: that
    /// chunk was not acknowledged in the state, so it is sent again.
    pub fn open(path: &Path) -> Result<SyncState, VaccinationError> {
        let mut hashes = HashMap::new();
        match std::fs::File::open(path) {
            Ok(f) => {
                let bad = |line: usize, why: &str| VaccinationError::State {
                    path: path.into(),
                    reason: format!("line {line}: {why}; remove the file to sync everything again"),
                };
                for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
                    let line = line.map_err(|e| VaccinationError::io(path, e))?;
                    if i == 0 {
                        if line != STATE_HEADER {
                            return Err(bad(1, "not a renkei sync state file"));
                        }
                        continue;
                    }
                    let Some((uan, hash)) = line.split_once(' ') else {
                        continue; // torn final line
                    };
                    if hash == "-" {
                        hashes.remove(uan);
                        continue;
                    }
                    let mut h = [0u8; 32];
                    if hex::decode_to_slice(hash, &mut h).is_err() {
                        continue; // torn final line
                    }
                    hashes.insert(uan.to_owned(), h);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(VaccinationError::io(path, e)),
        }
        Ok(SyncState {
            path: path.to_owned(),
            hashes,
            log: None,
        })
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    pub fn get(&self, uan: &str) -> Option<&[u8; 32]> {
        self.hashes.get(uan)
    }

    fn log(&mut self) -> Result<&mut std::fs::File, VaccinationError> {
        if self.log.is_none() {
            let exists = self.path.exists();
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| VaccinationError::io(&self.path, e))?;
            if !exists {
                writeln!(f, "{STATE_HEADER}").map_err(|e| VaccinationError::io(&self.path, e))?;
            }
            self.log = Some(f);
        }
        self.log
            .as_mut()
            .ok_or_else(|| VaccinationError::Invalid("state log not open".into()))
    }

    /// Records acknowledged entries (`None` = deleted) and syncs them to disk.
    pub fn record(
        &mut self,
        entries: &[(String, Option<[u8; 32]>)],
    ) -> Result<(), VaccinationError> {
        if entries.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let mut buf = String::with_capacity(entries.len() * 80);
        for (uan, h) in entries {
            buf.push_str(uan);
            buf.push(' ');
            match h {
                Some(h) => buf.push_str(&hex::encode(h)),
                None => buf.push('-'),
            }
            buf.push('\n');
        }
        let f = self.log()?;
        f.write_all(buf.as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(|e| VaccinationError::io(&path, e))?;
        for (uan, h) in entries {
            match h {
                Some(h) => self.hashes.insert(uan.clone(), *h),
                None => self.hashes.remove(uan),
            };
        }
        Ok(())
    }

    /// Rewrites the file with one line per person (after a completed run), atomically.
    pub fn compact(&mut self) -> Result<(), VaccinationError> {
        self.log = None;
        let tmp = self.path.with_extension("tmp");
        let io = |e| VaccinationError::io(&tmp, e);
        let f = std::fs::File::create(&tmp).map_err(io)?;
        let mut w = BufWriter::new(f);
        writeln!(w, "{STATE_HEADER}").map_err(io)?;
        let mut keys: Vec<_> = self.hashes.iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (uan, h) in keys {
            writeln!(w, "{uan} {}", hex::encode(h)).map_err(io)?;
        }
        let f = w.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(|e| VaccinationError::io(&self.path, e))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Which copies a run must keep although the input no longer names their persons: those of
/// persons named by bad input rows, or all of them when a bad row named no readable person.
#[derive(Debug, Clone, Default)]
pub struct DeletionGuard {
    persons: HashSet<String>,
    all: bool,
}

impl DeletionGuard {
    pub fn from_errors<'e>(errors: impl IntoIterator<Item = &'e RowError>) -> DeletionGuard {
        let mut g = DeletionGuard::default();
        g.add(errors);
        g
    }

    pub fn add<'e>(&mut self, errors: impl IntoIterator<Item = &'e RowError>) {
        for e in errors {
            match &e.person {
                Some(p) => {
                    self.persons.insert(p.clone());
                }
                None => self.all = true,
            }
        }
    }

    fn allows(&self, uan: &str) -> bool {
        !self.all && !self.persons.contains(uan)
    }
}

#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub state: PathBuf,
    /// Send every person, whatever the state says (the state is then rewritten).
    pub full: bool,
    /// Persons per bulk import call; each call is one acknowledged step of the state.
    pub chunk: usize,
    /// Stop after this many chunks (for tests of interrupted runs).
    pub max_chunks: Option<usize>,
    /// The bad rows of the input given to [`sync`] (a streamed [`sync_ledger`] adds the
    /// ones it reads itself).
    pub guard: DeletionGuard,
}

impl SyncOptions {
    pub fn new(state: impl Into<PathBuf>) -> Self {
        SyncOptions {
            state: state.into(),
            full: false,
            chunk: 5000,
            max_chunks: None,
            guard: DeletionGuard::default(),
        }
    }
}

/// One person the gateway refused, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub unified_address_number: String,
    pub field: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub persons: u64,
    pub unchanged: u64,
    pub sent: u64,
    pub accepted: u64,
    pub deleted: u64,
    /// Persons no longer in the input whose copies were kept because bad rows may be why
    /// they are missing; a clean run deletes them.
    pub withheld: u64,
    pub registered: u64,
    pub refused: Vec<Refused>,
    /// Persons acknowledged by an earlier, interrupted run and not sent again.
    pub complete: bool,
}

/// One person to send: the content hash the state will record once the gateway has
/// acknowledged it, whether the number must be registered first, and the doses in
/// canonical order (moved into the request, never cloned).
struct Outgoing {
    uan: String,
    hash: [u8; 32],
    new: bool,
    doses: Vec<Dose>,
}

/// Sends chunks of persons, two in flight (the adapter builds and encodes the next while
/// the gateway stores the current one), and records each acknowledged chunk in the state
/// as it arrives. Returns the number of chunks sent, at most `limit`.
async fn send_chunks(
    channel: Channel,
    chunks: impl futures::Stream<Item = Vec<Outgoing>>,
    limit: usize,
    state: &mut SyncState,
    report: &mut SyncReport,
    progress: &dyn Progress,
) -> Result<usize, VaccinationError> {
    let symbols = SymbolsClient::new(channel.clone());
    let copies = ProvisionCopiesClient::new(channel);
    let mut in_flight = std::pin::pin!(
        chunks
            .take(limit)
            .map(|batch| {
                let new: Vec<RegisterAddressNumberRequest> = batch
                    .iter()
                    .filter(|o| o.new)
                    .map(|o| RegisterAddressNumberRequest {
                        unified_address_number: o.uan.clone(),
                    })
                    .collect();
                let mut keys = Vec::with_capacity(batch.len());
                let mut reqs = Vec::with_capacity(batch.len());
                for o in batch {
                    reqs.push(PutCopyRequest {
                        copy: Some(ProvisionCopy {
                            unified_address_number: o.uan.clone(),
                            item: VACCINATION_ITEM,
                            content: Some(content_of(VaccinationHistory { doses: o.doses })),
                            ..Default::default()
                        }),
                    });
                    keys.push((o.uan, o.hash));
                }
                let mut symbols = symbols.clone();
                let mut copies = copies.clone();
                async move {
                    let registered = if new.is_empty() {
                        0
                    } else {
                        symbols
                            .register_address_numbers(tokio_stream::iter(new))
                            .await?
                            .into_inner()
                            .accepted
                    };
                    let summary = copies
                        .import_copies(tokio_stream::iter(reqs))
                        .await?
                        .into_inner();
                    Ok::<_, VaccinationError>((keys, registered, summary))
                }
            })
            .buffered(2)
    );
    let mut done_chunks = 0;
    while let Some(result) = in_flight.next().await {
        let (keys, registered, summary) = result?;
        done_chunks += 1;
        report.registered += registered;
        report.sent += keys.len() as u64;
        report.accepted += summary.accepted;
        let mut refused_at = vec![false; keys.len()];
        for e in &summary.errors {
            if let Some(slot) = refused_at.get_mut(e.index as usize) {
                *slot = true;
            }
            report.refused.push(Refused {
                unified_address_number: e.key.clone(),
                field: e.field.clone(),
                reason: e.reason.clone(),
            });
        }
        // If the gateway listed fewer errors than it counted, we cannot tell which were
        // kept: record none of this chunk, so all of it is sent again next time.
        if summary.rejected as usize == summary.errors.len() {
            let n = keys.len() as u64;
            let acked: Vec<(String, Option<[u8; 32]>)> = keys
                .into_iter()
                .zip(&refused_at)
                .filter(|(_, r)| !**r)
                .map(|((u, h), _)| (u, Some(h)))
                .collect();
            state.record(&acked)?;
            progress.inc(n);
        } else {
            progress.inc(keys.len() as u64);
        }
    }
    Ok(done_chunks)
}

/// Deletes the copies of persons no longer in the master, then rewrites the state file
/// compactly: the end of a completed run.
async fn finish_run(
    channel: Channel,
    gone: Vec<String>,
    guard: &DeletionGuard,
    state: &mut SyncState,
    report: &mut SyncReport,
) -> Result<(), VaccinationError> {
    let mut copies = ProvisionCopiesClient::new(channel);
    let mut deleted = Vec::new();
    let (gone, kept): (Vec<String>, Vec<String>) = gone.into_iter().partition(|u| guard.allows(u));
    report.withheld = kept.len() as u64;
    for uan in gone {
        copies
            .delete_copy(DeleteCopyRequest {
                unified_address_number: uan.clone(),
                item: VACCINATION_ITEM,
            })
            .await?;
        deleted.push((uan, None));
    }
    report.deleted = deleted.len() as u64;
    state.record(&deleted)?;
    state.compact()?;
    report.complete = true;
    Ok(())
}

/// Sends the persons whose content differs from the state; see the module docs.
pub async fn sync(
    channel: Channel,
    master: &LocalMaster,
    opts: &SyncOptions,
    progress: &dyn Progress,
) -> Result<SyncReport, VaccinationError> {
    let mut state = SyncState::open(&opts.state)?;
    if opts.full {
        state.hashes.clear();
    }
    let mut report = SyncReport {
        persons: master.persons.len() as u64,
        ..Default::default()
    };
    // Only (person, hash) is kept per person to send; contents are built a chunk at a
    // time, so memory stays near the size of the master itself.
    let mut to_send = Vec::new();
    for (uan, person) in &master.persons {
        let hash = crate::model::person_sha256(person);
        if state.get(uan) == Some(&hash) {
            report.unchanged += 1;
        } else {
            // A person the state knows is registered already; only new ones need it.
            let new = state.get(uan).is_none();
            to_send.push((uan, person, hash, new));
        }
    }
    let gone: Vec<String> = state
        .hashes
        .keys()
        .filter(|u| !master.persons.contains_key(*u))
        .cloned()
        .collect();
    progress.start("sending provision copies", to_send.len() as u64);
    let chunk = opts.chunk.max(1);
    let total_chunks = to_send.len().div_ceil(chunk);
    let chunks = futures::stream::iter(to_send.chunks(chunk).map(|batch| {
        batch
            .iter()
            .map(|(u, p, h, new)| Outgoing {
                uan: (*u).clone(),
                hash: *h,
                new: *new,
                doses: p.history().doses,
            })
            .collect::<Vec<_>>()
    }));
    let limit = opts.max_chunks.unwrap_or(usize::MAX);
    let done_chunks = send_chunks(
        channel.clone(),
        chunks,
        limit,
        &mut state,
        &mut report,
        progress,
    )
    .await?;
    progress.finish();
    if done_chunks < total_chunks {
        return Ok(report);
    }
    finish_run(channel, gone, &opts.guard, &mut state, &mut report).await?;
    Ok(report)
}

/// What the reading thread of [`sync_ledger`] hands back when the file is read.
struct ReadSide {
    stream: StreamReport,
    /// Persons the state knew and the file did not name: their copies are deleted.
    gone: HashMap<String, [u8; 32]>,
    /// Persons whose content matched the state: only their hashes are kept.
    kept: HashMap<String, [u8; 32]>,
    /// The consumer stopped taking chunks before the file was read.
    stopped: bool,
    /// Chunks handed to the sender (some may still have been queued when it stopped).
    queued: usize,
}

/// Reads a ledger file and sends the changed persons while the file is still being read:
/// a thread parses, validates, groups and hashes the rows, and hands over chunks of
/// changed persons (bounded: two chunks queued), while this task sends them. Memory holds
/// the hashes of the state and the chunks in flight, never the population.
///
/// Persons whose rows are not contiguous in the file (exports are grouped by person, so
/// this is rare) are sent as read and then once more whole, from a second pass over the
/// file that reads only their rows; the state records the second.
pub async fn sync_ledger(
    channel: Channel,
    path: &Path,
    read: &ReadOptions,
    opts: &SyncOptions,
    progress: &dyn Progress,
) -> Result<(SyncReport, StreamReport), VaccinationError> {
    let mut state = SyncState::open(&opts.state)?;
    if opts.full {
        state.hashes.clear();
    }
    // The reader owns the known hashes; the state keeps only what this run acknowledges.
    let known = std::mem::take(&mut state.hashes);
    let chunk = opts.chunk.max(1);
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<Outgoing>>(2);
    let reader = {
        let path = path.to_owned();
        let read = read.clone();
        tokio::task::spawn_blocking(move || -> Result<ReadSide, VaccinationError> {
            let mut known = known;
            let mut kept = HashMap::new();
            let mut buf = Vec::with_capacity(chunk);
            let mut stopped = false;
            let mut queued = 0;
            let stream = stream_ledger(&path, &read, |uan, person| {
                let hash = crate::model::person_sha256(&person);
                let new = match known.remove_entry(&uan) {
                    Some((k, h)) if h == hash => {
                        kept.insert(k, h);
                        return true;
                    }
                    Some(_) => false,
                    None => true,
                };
                buf.push(Outgoing {
                    uan,
                    hash,
                    new,
                    doses: person.doses,
                });
                if buf.len() >= chunk {
                    let full = std::mem::replace(&mut buf, Vec::with_capacity(chunk));
                    if tx.blocking_send(full).is_err() {
                        stopped = true;
                        return false;
                    }
                    queued += 1;
                }
                true
            })?;
            if !buf.is_empty() && !stopped {
                if tx.blocking_send(buf).is_err() {
                    stopped = true;
                } else {
                    queued += 1;
                }
            }
            Ok(ReadSide {
                stream,
                gone: known,
                kept,
                stopped,
                queued,
            })
        })
    };
    let mut report = SyncReport::default();
    progress.start("reading and sending provision copies", 0);
    let limit = opts.max_chunks.unwrap_or(usize::MAX);
    let rx = tokio_stream::wrappers::ReceiverStream::new(rx);
    let sent = send_chunks(
        channel.clone(),
        rx,
        limit,
        &mut state,
        &mut report,
        progress,
    )
    .await;
    // On an error or a limit, `rx` is gone and the reader stops at its next chunk.
    let side = reader
        .await
        .map_err(|e| VaccinationError::Invalid(format!("the reading thread failed: {e}")))?;
    let sent_chunks = sent?;
    let ReadSide {
        mut stream,
        gone,
        mut kept,
        stopped,
        queued,
    } = side?;
    report.unchanged = kept.len() as u64;
    // A limit may stop the sender with chunks still queued: the run is then incomplete.
    if stopped || stream.stopped || queued != sent_chunks {
        progress.finish();
        report.persons = stream.groups;
        return Ok((report, stream));
    }
    if !stream.split.is_empty() {
        // Second pass: the split persons whole. Their rows were checked in the first pass;
        // only problems it could not see (a duplicate across two runs of rows) are new.
        let again = read_ledger_persons(path, read, &stream.split)?;
        let reported: HashSet<u64> = stream.errors.iter().map(|e| e.line).collect();
        stream.errors.extend(
            again
                .errors
                .into_iter()
                .filter(|e| !reported.contains(&e.line)),
        );
        for uan in again.master.persons.keys() {
            kept.remove(uan);
        }
        report.unchanged = kept.len() as u64;
        let persons: Vec<Outgoing> = again
            .master
            .persons
            .into_iter()
            .map(|(uan, p)| Outgoing {
                hash: crate::model::person_sha256(&p),
                uan,
                // Registration is idempotent, and a first run may have been refused.
                new: true,
                doses: p.doses,
            })
            .collect();
        let chunks: Vec<Vec<Outgoing>> =
            persons
                .into_iter()
                .fold(Vec::new(), |mut acc: Vec<Vec<Outgoing>>, o| {
                    match acc.last_mut() {
                        Some(c) if c.len() < chunk => c.push(o),
                        _ => acc.push(vec![o]),
                    }
                    acc
                });
        send_chunks(
            channel.clone(),
            futures::stream::iter(chunks),
            usize::MAX,
            &mut state,
            &mut report,
            progress,
        )
        .await?;
    }
    progress.finish();
    report.persons = stream.groups;
    // The state of a completed run: what was acknowledged now, and what was unchanged.
    for (uan, h) in kept {
        state.hashes.entry(uan).or_insert(h);
    }
    // Persons whose copies are kept stay in the state, so a clean run still deletes them.
    let mut guard = opts.guard.clone();
    guard.add(&stream.errors);
    let mut missing = Vec::new();
    for (uan, h) in gone {
        if !guard.allows(&uan) {
            state.hashes.entry(uan.clone()).or_insert(h);
        }
        missing.push(uan);
    }
    missing.sort_unstable();
    finish_run(channel, missing, &guard, &mut state, &mut report).await?;
    Ok((report, stream))
}

/// The content hash of each person of the master, as the state file would hold it.
pub fn master_hashes(master: &LocalMaster) -> HashMap<String, String> {
    master
        .persons
        .iter()
        .map(|(u, p)| (u.clone(), hex::encode(crate::model::person_sha256(p))))
        .collect()
}
