//! Offline verification of a whole log directory: every frame's sequence number and leaf
//! hash, every signed tree head's signature, and every head's root recomputed from the
//! one sequence of leaves — which makes every pair of heads consistent by construction
//! (the later tree extends the earlier one), a stronger check than sampling consistency
//! proofs. Streams the segments, so memory stays O(log n) whatever the log's size.
//!
//! With the keeper's [`FrameKey`], the records after the last signed head are
//! authenticated too (their per-frame MACs): the only way to tell an offline append from
//! records the keeper wrote but has not signed a head over yet.

use std::path::{Path, PathBuf};

use renkei_crypto::VerifyingKey;
use renkei_proto::v1::TreeHead;

use crate::LedgerError;
use crate::heads::{End, HEADS_FILE, decode_head, read_heads};
use crate::merkle::{CompactRange, Hash, leaf_hash};
use crate::segment::{At, FrameKey, check_magic, frame_at, io, list_segments};

/// What kind of failure a [`Problem`] is, so that a tool can word it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// Records, heads or files were changed, removed, inserted or damaged.
    Altered,
    /// The first head is signed by a key other than the one given: most likely the wrong
    /// `--key`, and nothing could be checked.
    WrongKey,
    /// Records after the last signed head without a valid authenticator.
    Unauthenticated,
}

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
    pub kind: ProblemKind,
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
    /// How many heads verified before the first problem (all of them if none).
    pub heads_verified: u64,
    /// Bytes of a torn final frame: a write cut by a crash, never acknowledged, which
    /// the ledger discards when it next opens the log.
    pub torn_tail_bytes: u64,
    /// Bytes of a torn final tree head (a crash while signing), likewise discarded.
    pub torn_head_bytes: u64,
    /// Whether the records after the last signed head were authenticated by their
    /// frames' MACs (only with the keeper's [`FrameKey`]).
    pub tail_authenticated: bool,
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
    heads: std::iter::Enumerate<std::vec::IntoIter<(u64, renkei_proto::v1::SignedTreeHead)>>,
    /// The next head to check, its index and the offset of its frame.
    pending: Option<(usize, TreeHead, u64)>,
    log_id: Option<String>,
    last: Option<TreeHead>,
    /// Heads before the purge point are checked for signature and order only.
    purged: u64,
    checked: u64,
}

impl HeadCheck<'_> {
    fn problem(&self, i: usize, offset: u64, record: u64, reason: String) -> Problem {
        Problem {
            record,
            head: Some(i as u64),
            file: self.path.clone(),
            offset,
            reason,
            kind: ProblemKind::Altered,
        }
    }

    /// Checks every head of exactly the current size against the current root. The next
    /// head is verified once, when it comes up, and then waited for.
    fn at(&mut self, range: &CompactRange) -> Result<(), Problem> {
        let size = range.size();
        loop {
            let trusted_to = self.last.as_ref().map_or(0, |h| h.tree_size);
            if self.pending.is_none() {
                let Some((i, (offset, signed))) = self.heads.next() else {
                    return Ok(());
                };
                let head = match renkei_crypto::verify_tree_head(self.key, &signed) {
                    Ok(h) => h,
                    Err(renkei_crypto::CryptoError::UnknownKey { found, expected }) => {
                        let mut p = self.problem(
                            i,
                            offset,
                            trusted_to,
                            format!(
                                "signed by a different key: the head names key id {found}, the key given has key id {expected}"
                            ),
                        );
                        // Before any head verified, the key given is the likelier fault;
                        // after, a head under another key is a substitution.
                        if self.checked == 0 {
                            p.kind = ProblemKind::WrongKey;
                        }
                        return Err(p);
                    }
                    Err(e) => {
                        return Err(self.problem(
                            i,
                            offset,
                            trusted_to,
                            format!("the signature does not verify ({e}): the head was altered"),
                        ));
                    }
                };
                self.pending = Some((i, head, offset));
            }
            let Some((i, head, offset)) = &self.pending else {
                return Ok(());
            };
            let (i, offset) = (*i, *offset);
            if head.tree_size > size {
                return Ok(());
            }
            if let Some(last) = &self.last
                && head.tree_size < last.tree_size
            {
                return Err(self.problem(
                    i,
                    offset,
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
                    offset,
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
                    offset,
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
                    offset,
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
                    offset,
                    trusted_to,
                    format!(
                        "the records before {size} do not hash to this head's root: a record in {trusted_to}..{size} was altered, removed, inserted or reordered"
                    ),
                ));
            }
            if let Some((_, head, _)) = self.pending.take() {
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
    verify_log_with(dir, key, None, progress)
}

/// [`verify_log`], and with `frame_key` (the keeper's, [`FrameKey::derive`]) also checks
/// that every record after the last signed head carries a valid authenticator.
pub fn verify_log_with(
    dir: &Path,
    key: &VerifyingKey,
    frame_key: Option<&FrameKey>,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport, LedgerError> {
    verify_log_at(dir, key, frame_key, None, progress).map(|(r, _)| r)
}

/// [`verify_log_with`], also returning the root of the log's first `size` records, as
/// read from disk in the same pass (for a comparison with a witnessed head). `None` when
/// the log holds fewer records, or `size` lies before its purge point.
pub(crate) fn verify_log_at(
    dir: &Path,
    key: &VerifyingKey,
    frame_key: Option<&FrameKey>,
    size: Option<u64>,
    progress: &mut dyn FnMut(u64),
) -> Result<(VerifyReport, Option<Hash>), LedgerError> {
    let mut root_at: Option<Hash> = None;
    let mut capture = |range: &CompactRange| {
        if size == Some(range.size()) {
            root_at = Some(range.root());
        }
    };
    let report = verify_inner(dir, key, frame_key, &mut capture, progress)?;
    Ok((report, root_at))
}

fn verify_inner(
    dir: &Path,
    key: &VerifyingKey,
    frame_key: Option<&FrameKey>,
    capture: &mut dyn FnMut(&CompactRange),
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport, LedgerError> {
    let heads_path = dir.join(HEADS_FILE);
    let heads_file = read_heads(&heads_path)?;
    // The ledger creates the heads file when it first opens a log, so a log without one
    // lost it: without heads, nothing in the segments is authenticated.
    let heads_missing = !heads_file.exists;
    let heads_end = heads_file.end;
    let head_count = heads_file.heads.len() as u64;
    let last_size = match heads_file.heads.last() {
        Some((off, h)) => decode_head(&heads_path, *off, h)
            .map(|h| h.tree_size)
            .unwrap_or(0),
        None => 0,
    };
    let mut check = HeadCheck {
        key,
        path: heads_path.clone(),
        heads: heads_file.heads.into_iter().enumerate(),
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
        heads_verified: 0,
        torn_tail_bytes: 0,
        torn_head_bytes: 0,
        tail_authenticated: false,
        problem: None,
    };
    let finish =
        |mut report: VerifyReport, range: &CompactRange, check: &HeadCheck<'_>, problem| {
            report.records = range.size();
            report.root = range.root();
            report.last_head_size = check.last.as_ref().map_or(0, |h| h.tree_size);
            report.heads_verified = check.checked;
            report.problem = problem;
            report
        };
    let altered = |record: u64, file: PathBuf, offset: u64, reason: String| Problem {
        record,
        head: None,
        file,
        offset,
        reason,
        kind: ProblemKind::Altered,
    };
    let mut range = CompactRange::new();
    let purged_path = dir.join(crate::purge::PURGED_FILE);
    let purge = match crate::purge::read_latest(dir) {
        Ok(p) => p,
        Err(LedgerError::Corrupt { offset, reason, .. }) => {
            let problem = altered(0, purged_path, offset, reason);
            return Ok(finish(report, &range, &check, Some(problem)));
        }
        Err(e) => return Err(e),
    };
    if let Some(p) = &purge {
        match CompactRange::seeded(p) {
            Ok(r) => range = r,
            Err(reason) => {
                let problem = altered(0, purged_path, 0, reason);
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
    // The first record after the last head without a valid MAC, and how many there are.
    let mut unauthenticated: Option<(Problem, u64)> = None;
    capture(&range);
    if let Err(p) = check.at(&range) {
        return Ok(finish(report, &range, &check, Some(p)));
    }
    let count = segments.len();
    for (s, (first_seq, path)) in segments.into_iter().enumerate() {
        let last = s + 1 == count;
        if first_seq != range.size() {
            let p = altered(
                range.size(),
                path,
                0,
                format!(
                    "segment file starts at record {first_seq} but {} records precede it: a segment was removed, renamed or reordered",
                    range.size()
                ),
            );
            return Ok(finish(report, &range, &check, Some(p)));
        }
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let mut off = match check_magic(&bytes) {
            Ok(Some(n)) => n,
            Ok(None) if last => {
                report.torn_tail_bytes = bytes.len() as u64;
                torn_at = Some((path.clone(), 0));
                bytes.len()
            }
            Ok(None) => {
                let p = altered(range.size(), path, 0, "a sealed segment is empty".into());
                return Ok(finish(report, &range, &check, Some(p)));
            }
            Err(reason) => {
                let p = altered(range.size(), path, 0, reason);
                return Ok(finish(report, &range, &check, Some(p)));
            }
        };
        while off < bytes.len() {
            let expected = range.size();
            let bad = |reason: String| altered(expected, path.clone(), off as u64, reason);
            let (frame, next) = match frame_at(&bytes, off) {
                At::Frame(f, next) => (f, next),
                At::Short if last => {
                    report.torn_tail_bytes = (bytes.len() - off) as u64;
                    torn_at = Some((path.clone(), off as u64));
                    break;
                }
                At::Short => {
                    let p = bad("frame runs past the end of a sealed segment".into());
                    return Ok(finish(report, &range, &check, Some(p)));
                }
                At::Damaged(reason) => {
                    let p = bad(reason);
                    return Ok(finish(report, &range, &check, Some(p)));
                }
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
            if let Some(k) = frame_key
                && expected >= last_size
                && !k.accepts(&frame)
            {
                match &mut unauthenticated {
                    Some((_, n)) => *n += 1,
                    None => {
                        let mut p = bad(format!(
                            "unauthenticated records: record {expected} carries no valid authenticator under the keeper's key; it was appended after the last signed tree head (size {last_size}) by someone without that key (a forged append)"
                        ));
                        p.kind = ProblemKind::Unauthenticated;
                        unauthenticated = Some((p, 1));
                    }
                }
            }
            range.push(hash);
            capture(&range);
            if let Err(p) = check.at(&range) {
                return Ok(finish(report, &range, &check, Some(p)));
            }
            off = next;
        }
        progress(range.size());
    }
    report.tail_authenticated = frame_key.is_some();
    if let End::Torn(t) = &heads_end {
        report.torn_head_bytes = t.bytes;
    }
    let mut problem = None;
    if heads_missing && range.size() > 0 {
        problem = Some(altered(
            0,
            heads_path.clone(),
            0,
            format!(
                "{HEADS_FILE} is missing: no signed tree head covers the {} records, so none of them can be trusted",
                range.size()
            ),
        ));
    } else if let End::Damaged { offset, reason } = heads_end {
        problem = Some(Problem {
            record: check.last.as_ref().map_or(0, |h| h.tree_size),
            head: Some(head_count),
            file: heads_path.clone(),
            offset,
            reason,
            kind: ProblemKind::Altered,
        });
    } else if let Some((i, offset)) = check
        .pending
        .as_ref()
        .map(|(i, _, o)| (*i, *o))
        .or_else(|| check.heads.next().map(|(i, (o, _))| (i, o)))
    {
        let (file, offset, extra) = match &torn_at {
            Some((f, o)) => (
                f.clone(),
                *o,
                format!("; the frame at offset {o} is cut short"),
            ),
            None => (heads_path.clone(), offset, String::new()),
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
            kind: ProblemKind::Altered,
        });
    } else if let Some((mut p, n)) = unauthenticated {
        p.reason = format!("{} ({n} such records from here to the end)", p.reason);
        problem = Some(p);
    }
    Ok(finish(report, &range, &check, problem))
}

/// Reads every kept entry of the log in `dir`, in order, without opening it for writing
/// (nothing is truncated or created): for offline tools such as statistics. Each frame's
/// checksum, sequence number and leaf hash are checked; a torn final frame ends the scan.
/// Run [`verify_log`] for the signed heads.
pub fn scan_log(dir: &Path, f: &mut dyn FnMut(u64, &[u8])) -> Result<u64, LedgerError> {
    let first = crate::purge::read_latest(dir)?.map_or(0, |p| p.upto);
    let mut next = first;
    let segments: Vec<_> = list_segments(dir)?
        .into_iter()
        .filter(|(s, _)| *s >= first)
        .collect();
    let count = segments.len();
    for (i, (_, path)) in segments.into_iter().enumerate() {
        let last = i + 1 == count;
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let corrupt = |offset: usize, next: u64| LedgerError::Corrupt {
            path: path.clone(),
            offset: offset as u64,
            reason: format!("record {next} does not check; run `renkei ledger verify` for details"),
        };
        let mut off = match check_magic(&bytes) {
            Ok(Some(n)) => n,
            Ok(None) if last => continue,
            Ok(None) => return Err(corrupt(0, next)),
            Err(reason) => {
                return Err(LedgerError::Corrupt {
                    path,
                    offset: 0,
                    reason,
                });
            }
        };
        while off < bytes.len() {
            match frame_at(&bytes, off) {
                At::Frame(frame, end) => {
                    if frame.seq != next || frame.stored_hash != leaf_hash(frame.entry) {
                        return Err(corrupt(off, next));
                    }
                    f(frame.seq, frame.entry);
                    next += 1;
                    off = end;
                }
                At::Short if last => break,
                At::Short | At::Damaged(_) => return Err(corrupt(off, next)),
            }
        }
    }
    Ok(next - first)
}
