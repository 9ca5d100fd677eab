//! The append-only, tamper-evident record log behind 情報提供等記録.
//!
//! Records are appended to segment files that this crate owns (not to sled), because the
//! log must be readable and verifiable offline, byte for byte, for years. An append is
//! acknowledged only after its bytes are on disk; appends that arrive together share one
//! `fdatasync` (group commit).
//!
//! Segment format (docs/decisions/0004, 0020 and 0078): files `seg-<first seq as 16 hex
//! digits>.log`, each the 8-byte format version `RNKLOG\0\x03` then frames `len: u32 BE ‖
//! seq: u64 BE ‖ leaf hash: 32 ‖ mac: 16 ‖ check: 4 ‖ entry: len bytes`. The leaf hash is
//! SHA-256(0x00 ‖ entry) as in RFC 9162; `mac` is HMAC-SHA256(seq ‖ leaf hash), cut to
//! 16 bytes, under a [`FrameKey`] derived from the keeper's signing key; `check` is the
//! first 4 bytes of SHA-256 over the 60 header bytes before it. The entries form an RFC
//! 9162 Merkle tree; signed tree heads go to `heads.log` in the same directory.
//!
//! On open, one incomplete final frame (a write cut by a crash, never acknowledged) is
//! cut and the cut logged; anything else that does not check (a damaged length, hash or
//! sequence number; a record after the last signed head without a valid MAC) refuses the
//! open, names the file and offset, and leaves every file as it was.
#![forbid(unsafe_code)]

mod checkpoint;
mod heads;
mod merkle;
mod purge;
mod segment;
mod verify;
pub mod witness;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use renkei_crypto::SigningKey;
use renkei_proto::v1::{SignedTreeHead, TreeHead};

pub use checkpoint::{checkpoint_text, note_key_hash, read_latest_head, signed_checkpoint};
pub use merkle::{
    CompactRange, Hash, empty_root, leaf_hash, node_hash, verify_consistency, verify_inclusion,
};
pub use segment::FrameKey;
pub use verify::{Problem, ProblemKind, VerifyReport, scan_log, verify_log, verify_log_with};

/// Why the log failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    #[error("record log I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("record log is corrupt at {path}, offset {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("record {0} is too large for the log")]
    TooLarge(usize),
    #[error("the record log writer has stopped")]
    WriterGone,
    /// A proof or root was asked for sizes or records the log does not have.
    #[error("{0}")]
    OutOfRange(String),
    /// The log was opened without a signing key, so it cannot sign tree heads.
    #[error("this record log has no signing key; tree heads cannot be signed")]
    NoSigner,
    #[error("tree head: {0}")]
    Crypto(#[from] renkei_crypto::CryptoError),
    /// Records after the latest signed head whose frames do not carry a valid MAC under
    /// the keeper's key: written by someone without it (an offline append), so they are
    /// never signed into a head.
    #[error(
        "record log {path}: record {record} at offset {offset} (and {later} after it) carries no valid authenticator: it was appended after the last signed tree head without this log's key; refusing to open so it is never signed into a head (run `renkei ledger verify`)",
        later = count.saturating_sub(1)
    )]
    Unauthenticated {
        path: PathBuf,
        offset: u64,
        record: u64,
        count: u64,
    },
}

/// Tuning for a log.
#[derive(Debug, Clone)]
pub struct LedgerOptions {
    /// A new segment starts once the current one passes this size.
    pub segment_bytes: u64,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            segment_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Who keeps a log and signs its tree heads.
#[derive(Debug)]
pub struct HeadSigner {
    /// The agency code of a gateway tenant, or "hub".
    pub log_id: String,
    pub key: SigningKey,
}

/// Where each entry lives, so reads are one `pread`.
#[derive(Debug, Clone, Copy)]
struct Location {
    segment: u32,
    offset: u64,
    len: u32,
}

#[derive(Debug, Default)]
struct Index {
    /// Every segment opened since the log was; purged ones stay listed, unused.
    segments: Vec<PathBuf>,
    /// Locations of records `base..`.
    entries: Vec<Location>,
    tree: merkle::Tree,
    /// The first record kept after retention purges (0 if never purged).
    base: u64,
    /// Leaf hashes of purged records `base & !15 .. base`, which the tree still needs.
    purged_tail: Vec<Hash>,
}

impl Index {
    fn len(&self) -> u64 {
        self.base + self.entries.len() as u64
    }

    fn location(&self, seq: u64) -> Option<Location> {
        let i = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.entries.get(i).copied()
    }
}

impl merkle::LeafSource for Index {
    fn leaf_hashes(&self, from: u64, to: u64) -> Result<Vec<Hash>, LedgerError> {
        let missing = || LedgerError::OutOfRange(format!("records {from}..{to}"));
        if from < self.base {
            let floor = self.base & !(merkle::CHUNK - 1);
            if from < floor || to > self.base {
                return Err(missing());
            }
            return self
                .purged_tail
                .get((from - floor) as usize..(to - floor) as usize)
                .map(<[Hash]>::to_vec)
                .ok_or_else(missing);
        }
        let locs = self
            .entries
            .get((from - self.base) as usize..(to - self.base) as usize)
            .ok_or_else(missing)?;
        let mut out = Vec::with_capacity(locs.len());
        let mut i = 0;
        while i < locs.len() {
            let seg = locs[i].segment;
            let run = locs[i..].iter().take_while(|l| l.segment == seg).count();
            out.extend(segment::read_leaf_hashes(
                &self.segments[seg as usize],
                &locs[i..i + run],
            )?);
            i += run;
        }
        Ok(out)
    }
}

/// An open log. Clones share the same writer.
#[derive(Debug, Clone)]
pub struct Ledger {
    dir: PathBuf,
    index: Arc<RwLock<Index>>,
    writer: Arc<writer::Writer>,
    heads: Arc<Mutex<heads::Heads>>,
    signer: Option<Arc<HeadSigner>>,
}

impl Ledger {
    /// Opens (or creates) the log in `dir`, discarding a torn final frame. Without a
    /// signer the log can be appended to and proven from, but signs no tree heads.
    pub fn open(dir: &Path, opts: LedgerOptions) -> Result<Ledger, LedgerError> {
        Self::open_inner(dir, opts, None)
    }

    /// Opens the log of `signer.log_id`, which signs its tree heads with `signer.key`.
    pub fn open_signed(
        dir: &Path,
        opts: LedgerOptions,
        signer: HeadSigner,
    ) -> Result<Ledger, LedgerError> {
        Self::open_inner(dir, opts, Some(Arc::new(signer)))
    }

    fn open_inner(
        dir: &Path,
        opts: LedgerOptions,
        signer: Option<Arc<HeadSigner>>,
    ) -> Result<Ledger, LedgerError> {
        let io = |source| LedgerError::Io {
            path: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        // Everything is read and checked before anything on disk changes: a log that is
        // refused is left exactly as found, for `renkei ledger verify` and for evidence.
        let heads = heads::HeadsScan::read(dir)?;
        let frame_key = signer.as_ref().map(|s| Arc::new(FrameKey::derive(&s.key)));
        let signed_upto = heads.latest.as_ref().map_or(0, |(_, h, _)| h.tree_size);
        let scan = segment::recover(dir, frame_key.as_deref().map(|k| (k, signed_upto)))?;
        let index = &scan.index;
        let heads_path = dir.join(heads::HEADS_FILE);
        if let (Some(signer), Some((signed, _, offset))) = (&signer, &heads.latest) {
            // A damaged or substituted latest head must not become the base of the next.
            renkei_crypto::verify_tree_head(&signer.key.public_key(), signed).map_err(|e| {
                LedgerError::Corrupt {
                    path: heads_path.clone(),
                    offset: *offset,
                    reason: format!(
                        "the latest signed tree head does not verify under this log's key ({e}); run `renkei ledger verify`"
                    ),
                }
            })?;
        }
        // The latest signed head must still describe this log: if it does not, records
        // it covered were lost or changed, and appending more would hide that.
        if let Some((_, head, offset)) = heads
            .latest
            .as_ref()
            .filter(|(_, h, _)| h.tree_size >= index.tree.purged())
        {
            let root =
                index
                    .tree
                    .root(index, head.tree_size)
                    .map_err(|_| LedgerError::Corrupt {
                        path: heads_path.clone(),
                        offset: *offset,
                        reason: format!(
                            "the latest signed tree head covers {} records but the log holds {}",
                            head.tree_size,
                            index.tree.size()
                        ),
                    })?;
            if root.as_slice() != head.root_hash.as_slice() {
                return Err(LedgerError::Corrupt {
                    path: heads_path,
                    offset: *offset,
                    reason: format!(
                        "the records do not match the latest signed tree head (size {}); run `renkei ledger verify`",
                        head.tree_size
                    ),
                });
            }
        }
        scan.apply()?;
        let heads = heads.open()?;
        let index = Arc::new(RwLock::new(scan.index));
        let writer = Arc::new(writer::Writer::start(
            dir.to_owned(),
            index.clone(),
            opts,
            frame_key,
        )?);
        Ok(Ledger {
            dir: dir.to_owned(),
            index,
            writer,
            heads: Arc::new(Mutex::new(heads)),
            signer,
        })
    }

    /// Appends one entry; returns its sequence number once it is durable.
    pub async fn append(&self, entry: Vec<u8>) -> Result<u64, LedgerError> {
        self.writer.append(entry).await
    }

    /// Blocking form of [`Ledger::append`].
    pub fn append_blocking(&self, entry: Vec<u8>) -> Result<u64, LedgerError> {
        self.writer.append_blocking(entry)
    }

    /// Number of entries (the next sequence number).
    pub fn len(&self) -> u64 {
        self.index.read().map(|i| i.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn read_index(&self) -> Result<std::sync::RwLockReadGuard<'_, Index>, LedgerError> {
        self.index.read().map_err(|_| LedgerError::WriterGone)
    }

    /// Reads entry `seq`, or `None` past the end.
    pub fn get(&self, seq: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        let (path, loc) = {
            let index = self.read_index()?;
            let Some(loc) = index.location(seq) else {
                return Ok(None);
            };
            (index.segments[loc.segment as usize].clone(), loc)
        };
        segment::read_entry(&path, loc.offset, loc.len).map(Some)
    }

    /// Reads entries `from..to` (clamped to the log), in order.
    pub fn range(&self, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>, LedgerError> {
        let to = to.min(self.len());
        let mut out = Vec::with_capacity(to.saturating_sub(from) as usize);
        for seq in from..to {
            if let Some(e) = self.get(seq)? {
                out.push((seq, e));
            }
        }
        Ok(out)
    }

    /// The leaf hash of entry `seq`, as stored (and checked on open).
    pub fn leaf_hash_of(&self, seq: u64) -> Result<Hash, LedgerError> {
        use merkle::LeafSource as _;
        let index = self.read_index()?;
        index
            .leaf_hashes(seq, seq + 1)?
            .pop()
            .ok_or_else(|| LedgerError::OutOfRange(format!("record {seq} is not in the log")))
    }

    /// RFC 9162 root of the first `size` entries.
    pub fn root(&self, size: u64) -> Result<Hash, LedgerError> {
        let index = self.read_index()?;
        index.tree.root(&*index, size)
    }

    /// Audit path of entry `leaf` in the tree of `size` entries (RFC 9162 §2.1.3).
    pub fn inclusion_proof(&self, leaf: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        let index = self.read_index()?;
        index.tree.inclusion(&*index, leaf, size)
    }

    /// Proof that the tree of `second` entries extends that of `first` (RFC 9162 §2.1.4).
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, LedgerError> {
        let index = self.read_index()?;
        index.tree.consistency(&*index, first, second)
    }

    /// The latest head as a C2SP signed-note checkpoint named `origin`, signed with the
    /// keeper's key, if a head was ever signed.
    pub fn checkpoint(&self, origin: &str) -> Result<Option<String>, LedgerError> {
        let signer = self.signer.as_ref().ok_or(LedgerError::NoSigner)?;
        let heads = self.heads.lock().map_err(|_| LedgerError::WriterGone)?;
        heads
            .latest
            .as_ref()
            .map(|(_, head)| signed_checkpoint(origin, &signer.key, head))
            .transpose()
    }

    /// The latest signed tree head, if one was ever signed.
    pub fn latest_head(&self) -> Option<SignedTreeHead> {
        let heads = self.heads.lock().ok()?;
        heads.latest.as_ref().map(|(s, _)| s.clone())
    }

    /// Signs a head over everything durable now, unless the latest head already covers
    /// it (then that one is returned). Blocking: it fsyncs `heads.log`.
    pub fn sign_head(&self, now_ms: i64) -> Result<SignedTreeHead, LedgerError> {
        let signer = self.signer.as_ref().ok_or(LedgerError::NoSigner)?;
        let mut heads = self.heads.lock().map_err(|_| LedgerError::WriterGone)?;
        let (size, root) = {
            let index = self.read_index()?;
            let size = index.tree.size();
            (size, index.tree.root(&*index, size)?)
        };
        let mut timestamp_ms = now_ms;
        if let Some((signed, head)) = &heads.latest {
            if head.tree_size == size {
                return Ok(signed.clone());
            }
            // Heads are ordered by size and time; a clock step back must not reorder them.
            timestamp_ms = timestamp_ms.max(head.timestamp_ms);
        }
        let head = TreeHead {
            log_id: signer.log_id.clone(),
            tree_size: size,
            root_hash: root.to_vec(),
            timestamp_ms,
        };
        let signed = renkei_crypto::sign_tree_head(&signer.key, &head);
        heads.append(signed.clone(), head)?;
        tracing::debug!(log = %signer.log_id, tree_size = size, "signed tree head");
        Ok(signed)
    }

    /// The first record still kept (0 unless retention purged older ones).
    pub fn first_kept(&self) -> u64 {
        self.index.read().map(|i| i.base).unwrap_or(0)
    }

    /// First sequence number of each segment on disk, in order: the points a purge can
    /// cut at.
    pub fn segment_starts(&self) -> Result<Vec<u64>, LedgerError> {
        Ok(segment::list_segments(&self.dir)?
            .into_iter()
            .map(|(s, _)| s)
            .collect())
    }

    /// Retention: deletes every segment that lies wholly before `upto`, after recording
    /// what the tree needs of them (module `purge`). Returns the first record kept.
    /// Blocking (fsyncs and deletes files).
    pub fn purge_before(&self, upto: u64) -> Result<u64, LedgerError> {
        // Purges and head signing are rare; one lock keeps them from interleaving.
        let _heads = self.heads.lock().map_err(|_| LedgerError::WriterGone)?;
        let segments = segment::list_segments(&self.dir)?;
        let base = self.first_kept();
        let Some(point) = segments
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| *s <= upto && *s > base)
            .max()
        else {
            return Ok(base);
        };
        let kept = {
            let index = self.read_index()?;
            index.tree.purge_point(&*index, point)?
        };
        purge::append(&self.dir, &kept)?;
        {
            let mut index = self.index.write().map_err(|_| LedgerError::WriterGone)?;
            let dropped = (point - index.base) as usize;
            index.entries.drain(..dropped);
            index.base = point;
            index.purged_tail = kept.tail;
            index.tree.set_purged(point);
        }
        for (start, path) in segments {
            if start < point {
                std::fs::remove_file(&path).map_err(|source| LedgerError::Io { path, source })?;
            }
        }
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| LedgerError::Io {
                path: self.dir.clone(),
                source,
            })?;
        tracing::info!(first_kept = point, "record log purged");
        Ok(point)
    }

    /// Appends and fsyncs so far (for tests and benchmarks).
    pub fn stats(&self) -> writer::WriterStats {
        self.writer.stats()
    }
}

pub use writer::WriterStats;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn appends_are_numbered_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let opts = LedgerOptions { segment_bytes: 200 };
        {
            let log = Ledger::open(dir.path(), opts.clone()).unwrap();
            for i in 0..50u32 {
                let seq = log
                    .append(format!("record {i}").into_bytes())
                    .await
                    .unwrap();
                assert_eq!(seq, u64::from(i));
            }
        }
        let log = Ledger::open(dir.path(), opts).unwrap();
        assert_eq!(log.len(), 50);
        assert_eq!(log.get(7).unwrap().unwrap(), b"record 7");
        assert!(log.get(50).unwrap().is_none());
        let segs = segment::list_segments(dir.path()).unwrap().len();
        assert!(segs > 1, "small segment size should roll files, got {segs}");
        assert_eq!(log.range(48, 100).unwrap().len(), 2);
    }

    #[tokio::test]
    async fn concurrent_appends_share_fsyncs() {
        let dir = tempfile::tempdir().unwrap();
        let log = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
        let mut tasks = Vec::new();
        for i in 0..300u32 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                log.append(i.to_be_bytes().to_vec()).await
            }));
        }
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap().unwrap());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (0..300).collect::<Vec<_>>());
        let stats = log.stats();
        assert_eq!(stats.appends, 300);
        assert!(stats.syncs < 300, "{stats:?}");
    }

    #[tokio::test]
    async fn a_torn_tail_is_discarded_but_corruption_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        {
            let log = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
            for i in 0..3u8 {
                log.append(vec![i; 10]).await.unwrap();
            }
        }
        let seg = dir.path().join(segment::segment_name(0));
        let mut bytes = std::fs::read(&seg).unwrap();
        // A crash mid-write leaves a partial frame: it must be dropped, not fatal.
        bytes.extend_from_slice(&[0, 0, 0, 10, 1, 2, 3]);
        std::fs::write(&seg, &bytes).unwrap();
        let log = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
        assert_eq!(log.len(), 3);
        assert_eq!(log.append(vec![9]).await.unwrap(), 3);
        drop(log);
        // A flipped byte inside a complete frame is corruption, at that frame.
        let first = segment::SEGMENT_MAGIC.len();
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes[first + segment::HEADER as usize + 2] ^= 0xff;
        std::fs::write(&seg, &bytes).unwrap();
        let err = Ledger::open(dir.path(), LedgerOptions::default()).unwrap_err();
        assert!(
            matches!(err, LedgerError::Corrupt { offset, .. } if offset == first as u64),
            "{err}"
        );
    }

    #[tokio::test]
    async fn proofs_from_disk_match_the_definition_across_segments_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let opts = LedgerOptions { segment_bytes: 300 };
        let mut leaves = Vec::new();
        let (key, pkcs8) = SigningKey::generate().unwrap();
        let public = key.public_key();
        let signer = |key| HeadSigner {
            log_id: "hub".into(),
            key,
        };
        {
            let log = Ledger::open_signed(dir.path(), opts.clone(), signer(key)).unwrap();
            for i in 0..75u32 {
                let e = format!("entry {i}").into_bytes();
                leaves.push(leaf_hash(&e));
                log.append(e).await.unwrap();
            }
        }
        {
            let log = Ledger::open(dir.path(), opts.clone()).unwrap();
            assert!(matches!(log.sign_head(1), Err(LedgerError::NoSigner)));
        }
        let key = SigningKey::from_pkcs8(&pkcs8).unwrap();
        // Reopened with its key, the log accepts its own unsigned records (their MACs).
        let log = Ledger::open_signed(dir.path(), opts, signer(key)).unwrap();
        for n in [1u64, 16, 33, 75] {
            let root = merkle::root_of(&leaves[..n as usize]);
            assert_eq!(log.root(n).unwrap(), root);
            for m in 0..n {
                let path = log.inclusion_proof(m, n).unwrap();
                assert!(verify_inclusion(&leaves[m as usize], m, n, &path, &root));
            }
            let old = merkle::root_of(&leaves[..20.min(n as usize)]);
            let proof = log.consistency_proof(20.min(n), n).unwrap();
            assert!(verify_consistency(20.min(n), n, &proof, &old, &root));
        }
        assert_eq!(log.leaf_hash_of(40).unwrap(), leaves[40]);
        let head = log.sign_head(10).unwrap();
        let th = renkei_crypto::verify_tree_head(&public, &head).unwrap();
        assert_eq!(th.tree_size, 75);
        assert_eq!(th.root_hash, merkle::root_of(&leaves).to_vec());
        // Nothing new: the same head comes back, no second signature.
        assert_eq!(log.sign_head(20).unwrap(), head);
        log.append(b"one more".to_vec()).await.unwrap();
        let next = renkei_crypto::verify_tree_head(&public, &log.sign_head(5).unwrap()).unwrap();
        assert_eq!(next.tree_size, 76);
        assert_eq!(next.timestamp_ms, 10, "timestamps never go back");
        assert!(matches!(
            log.inclusion_proof(76, 76),
            Err(LedgerError::OutOfRange(_))
        ));
    }
}
