//! Offline verification of a whole log directory: every frame's sequence number and leaf
//! hash, every signed tree head's signature, and every head's root recomputed from the
//! one sequence of leaves — which makes every pair of heads consistent by construction
//! (the later tree extends the earlier one), a stronger check than sampling consistency
//! proofs. Streams the segments, so memory stays O(log n) whatever the log's size.

use std::path::{Path, PathBuf};

use renkei_crypto::VerifyingKey;
use renkei_proto::v1::TreeHead;

use crate::LedgerError;
use crate::heads::{HEADS_FILE, decode_head, read_heads};
use crate::merkle::{CompactRange, Hash, leaf_hash};
use crate::segment::{frame_at, io, list_segments};

/// The first thing found wrong, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The first record position that can no longer be trusted.
    pub record: u64,
    /// The signed tree head at fault (0-based, in `heads.log`), if the problem is a head.
    pub head: Option<u64>,
    pub file: PathBuf,
    pub offset: u64,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "first bad position: record {}", self.record)?;
        if let Some(h) = self.head {
            write!(f, " (signed tree head #{h})")?;
        }
        write!(
            f,
            " — {} at offset {}: {}",
            self.file.display(),
            self.offset,
            self.reason
        )
    }
}

/// What an offline check found.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub records: u64,
    pub segments: usize,
    pub heads: u64,
    /// The log's root over all records read.
    pub root: Hash,
    /// The size of the last head that verified.
    pub last_head_size: u64,
    /// Bytes of a torn final frame: a write cut by a crash, never acknowledged, which
    /// the ledger discards when it next opens the log.
    pub torn_tail_bytes: u64,
    pub problem: Option<Problem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

struct HeadCheck<'a> {
    key: &'a VerifyingKey,
    path: PathBuf,
    heads: std::iter::Enumerate<std::vec::IntoIter<renkei_proto::v1::SignedTreeHead>>,
    pending: Option<(usize, TreeHead)>,
    log_id: Option<String>,
    last: Option<TreeHead>,
    /// Heads before the purge point are checked for signature and order only.
    purged: u64,
    checked: u64,
}

impl HeadCheck<'_> {
    fn problem(&self, i: usize, record: u64, reason: String) -> Problem {
        Problem {
            record,
            head: Some(i as u64),
            file: self.path.clone(),
            offset: 0,
            reason,
        }
    }

    /// Checks every head of exactly the current size against the current root. The next
    /// head is verified once, when it comes up, and then waited for.
    fn at(&mut self, range: &CompactRange) -> Result<(), Problem> {
        let size = range.size();
        loop {
            let trusted_to = self.last.as_ref().map_or(0, |h| h.tree_size);
            if self.pending.is_none() {
                let Some((i, signed)) = self.heads.next() else {
                    return Ok(());
                };
                let head = renkei_crypto::verify_tree_head(self.key, &signed).map_err(|e| {
                    self.problem(i, trusted_to, format!("signature check failed: {e}"))
                })?;
                self.pending = Some((i, head));
            }
            let Some((i, head)) = &self.pending else {
                return Ok(());
            };
            let i = *i;
            if head.tree_size > size {
                return Ok(());
            }
            if let Some(last) = &self.last
                && head.tree_size < last.tree_size
            {
                return Err(self.problem(
                    i,
                    trusted_to,
                    format!(
                        "head of size {} comes after a head of size {}",
                        head.tree_size, last.tree_size
                    ),
                ));
            }
            if let Some(id) = &self.log_id
                && *id != head.log_id
            {
                return Err(self.problem(
                    i,
                    trusted_to,
                    format!(
                        "head is for log {:?}, earlier heads for {id:?}",
                        head.log_id
                    ),
                ));
            }
            if let Some(last) = &self.last
                && head.timestamp_ms < last.timestamp_ms
            {
                return Err(self.problem(
                    i,
                    trusted_to,
                    "head is older than the head before it".into(),
                ));
            }
            if head.tree_size < size && head.tree_size < self.purged {
                // Its records were purged; the stored subtree hashes stand for them, and
                // they are checked through the first head after the purge.
            } else if head.tree_size < size {
                return Err(self.problem(
                    i,
                    trusted_to,
                    format!(
                        "head of size {} comes after a head of size {size}",
                        head.tree_size
                    ),
                ));
            }
            if head.tree_size == size && head.root_hash.as_slice() != range.root().as_slice() {
                return Err(self.problem(
                    i,
                    trusted_to,
                    format!(
                        "the records before {size} do not hash to this head's root: a record in {trusted_to}..{size} was altered, removed, inserted or reordered"
                    ),
                ));
            }
            if let Some((_, head)) = self.pending.take() {
                self.log_id = Some(head.log_id.clone());
                self.last = Some(head);
                self.checked += 1;
            }
        }
    }
}

/// Checks the log in `dir` against the keeper's public key. I/O failures are errors;
/// anything wrong with the content is reported in [`VerifyReport::problem`].
/// `progress` is called with the number of records read, once per segment.
pub fn verify_log(
    dir: &Path,
    key: &VerifyingKey,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport, LedgerError> {
    let heads_path = dir.join(HEADS_FILE);
    // The ledger creates the heads file when it first opens a log, so a log without one
    // lost it: without heads, nothing in the segments is authenticated.
    let heads_missing = !heads_path.exists();
    let (heads, valid) = read_heads(&heads_path)?;
    let heads_len = match std::fs::metadata(&heads_path) {
        Ok(m) => m.len(),
        Err(_) => 0,
    };
    let head_count = heads.len() as u64;
    let last_size = match heads.last() {
        Some(h) => decode_head(&heads_path, h)?.tree_size,
        None => 0,
    };
    let mut check = HeadCheck {
        key,
        path: heads_path.clone(),
        heads: heads.into_iter().enumerate(),
        pending: None,
        log_id: None,
        last: None,
        purged: 0,
        checked: 0,
    };
    let segments = list_segments(dir)?;
    let mut report = VerifyReport {
        records: 0,
        segments: segments.len(),
        heads: head_count,
        root: crate::merkle::empty_root(),
        last_head_size: 0,
        torn_tail_bytes: 0,
        problem: None,
    };
    let finish =
        |mut report: VerifyReport, range: &CompactRange, check: &HeadCheck<'_>, problem| {
            report.records = range.size();
            report.root = range.root();
            report.last_head_size = check.last.as_ref().map_or(0, |h| h.tree_size);
            report.problem = problem;
            report
        };
    let mut range = CompactRange::new();
    let purged_path = dir.join(crate::purge::PURGED_FILE);
    let purge = match crate::purge::read_latest(dir) {
        Ok(p) => p,
        Err(LedgerError::Corrupt { offset, reason, .. }) => {
            let problem = Problem {
                record: 0,
                head: None,
                file: purged_path,
                offset,
                reason,
            };
            return Ok(finish(report, &range, &check, Some(problem)));
        }
        Err(e) => return Err(e),
    };
    if let Some(p) = &purge {
        match CompactRange::seeded(p) {
            Ok(r) => range = r,
            Err(reason) => {
                let problem = Problem {
                    record: 0,
                    head: None,
                    file: purged_path,
                    offset: 0,
                    reason,
                };
                return Ok(finish(report, &range, &check, Some(problem)));
            }
        }
        check.purged = p.upto;
    }
    // Segments wholly before the purge point are left over from an interrupted purge.
    let segments: Vec<_> = segments
        .into_iter()
        .filter(|(s, _)| *s >= range.size())
        .collect();
    report.segments = segments.len();
    let mut torn_at: Option<(PathBuf, u64)> = None;
    if let Err(p) = check.at(&range) {
        return Ok(finish(report, &range, &check, Some(p)));
    }
    let count = segments.len();
    for (s, (first_seq, path)) in segments.into_iter().enumerate() {
        if first_seq != range.size() {
            let p = Problem {
                record: range.size(),
                head: None,
                file: path,
                offset: 0,
                reason: format!(
                    "segment file starts at record {first_seq} but {} records precede it: a segment was removed, renamed or reordered",
                    range.size()
                ),
            };
            return Ok(finish(report, &range, &check, Some(p)));
        }
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let mut off = 0usize;
        while off < bytes.len() {
            let expected = range.size();
            let bad = |reason: String| Problem {
                record: expected,
                head: None,
                file: path.clone(),
                offset: off as u64,
                reason,
            };
            let Some((frame, next)) = frame_at(&bytes, off) else {
                if s + 1 == count {
                    report.torn_tail_bytes = (bytes.len() - off) as u64;
                    torn_at = Some((path.clone(), off as u64));
                    break;
                }
                let p = bad("frame runs past the end of a sealed segment".into());
                return Ok(finish(report, &range, &check, Some(p)));
            };
            if frame.seq != expected {
                let p = bad(format!(
                    "frame holds record {} where record {expected} belongs: a record was removed, inserted or reordered",
                    frame.seq
                ));
                return Ok(finish(report, &range, &check, Some(p)));
            }
            let hash = leaf_hash(frame.entry);
            if frame.stored_hash != hash {
                let p =
                    bad("the entry does not match its leaf hash: the record was altered".into());
                return Ok(finish(report, &range, &check, Some(p)));
            }
            range.push(hash);
            if let Err(p) = check.at(&range) {
                return Ok(finish(report, &range, &check, Some(p)));
            }
            off = next;
        }
        progress(range.size());
    }
    let mut problem = None;
    if heads_missing && range.size() > 0 {
        problem = Some(Problem {
            record: 0,
            head: None,
            file: heads_path.clone(),
            offset: 0,
            reason: format!(
                "{HEADS_FILE} is missing: no signed tree head covers the {} records, so none of them can be trusted",
                range.size()
            ),
        });
    } else if valid < heads_len {
        // The ledger cuts such a frame when it next opens the log, as it would a head torn
        // by a crash; but a damaged length prefix looks the same, so an auditor is told.
        problem = Some(Problem {
            record: check.last.as_ref().map_or(0, |h| h.tree_size),
            head: Some(head_count),
            file: heads_path.clone(),
            offset: valid,
            reason: format!(
                "the frame at offset {valid} ({} bytes) is incomplete: its length prefix is damaged, or a crash cut the head being signed",
                heads_len - valid
            ),
        });
    } else if let Some(i) = check
        .pending
        .as_ref()
        .map(|(i, _)| *i)
        .or_else(|| check.heads.next().map(|(i, _)| i))
    {
        let (file, offset, extra) = match &torn_at {
            Some((f, o)) => (
                f.clone(),
                *o,
                format!("; the frame at offset {o} is cut short"),
            ),
            None => (heads_path.clone(), 0, String::new()),
        };
        problem = Some(Problem {
            record: range.size(),
            head: Some(i as u64),
            file,
            offset,
            reason: format!(
                "a signed tree head covers {last_size} records but the log holds only {}: records were removed from the end{extra}",
                range.size()
            ),
        });
    }
    Ok(finish(report, &range, &check, problem))
}

/// Reads every kept entry of the log in `dir`, in order, without opening it for writing
/// (nothing is truncated or created): for offline tools such as statistics. Each frame's
/// sequence number and leaf hash are checked; a torn final frame ends the scan. Run
/// [`verify_log`] for the signed heads.
pub fn scan_log(dir: &Path, f: &mut dyn FnMut(u64, &[u8])) -> Result<u64, LedgerError> {
    let first = crate::purge::read_latest(dir)?.map_or(0, |p| p.upto);
    let mut next = first;
    for (start, path) in list_segments(dir)? {
        if start < first {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let mut off = 0usize;
        while let Some((frame, end)) = frame_at(&bytes, off) {
            if frame.seq != next || frame.stored_hash != leaf_hash(frame.entry) {
                return Err(LedgerError::Corrupt {
                    path,
                    offset: off as u64,
                    reason: format!(
                        "record {next} does not check; run `renkei ledger verify` for details"
                    ),
                });
            }
            f(frame.seq, frame.entry);
            next += 1;
            off = end;
        }
    }
    Ok(next - first)
}
