//! The append-only record log behind 情報提供等記録.
//!
//! Records are appended to segment files that this crate owns (not to sled), because the
//! log must be readable and verifiable offline, byte for byte, for years. An append is
//! acknowledged only after its bytes are on disk; appends that arrive together share one
//! `fdatasync` (group commit).
//!
//! Segment format (docs/decisions/0004-record-log-format.md): files `seg-<first seq as
//! 16 hex digits>.log`, each a sequence of frames
//! `len: u32 BE ‖ leaf hash: 32 bytes ‖ entry: len bytes`, where the leaf hash is
//! SHA-256(0x00 ‖ entry) as in RFC 9162. A frame cut short by a crash is discarded on
//! open; a complete frame whose hash does not match is corruption and is reported.
#![forbid(unsafe_code)]

mod segment;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub use segment::leaf_hash;

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

/// Where each entry lives, so reads are one `pread`.
#[derive(Debug, Clone, Copy)]
struct Location {
    segment: u32,
    offset: u64,
    len: u32,
}

#[derive(Debug, Default)]
struct Index {
    segments: Vec<PathBuf>,
    entries: Vec<Location>,
}

/// An open log. Clones share the same writer.
#[derive(Debug, Clone)]
pub struct Ledger {
    dir: PathBuf,
    index: Arc<RwLock<Index>>,
    writer: Arc<writer::Writer>,
}

impl Ledger {
    /// Opens (or creates) the log in `dir`, discarding a torn final frame.
    pub fn open(dir: &Path, opts: LedgerOptions) -> Result<Ledger, LedgerError> {
        let io = |source| LedgerError::Io {
            path: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let index = segment::recover(dir)?;
        let index = Arc::new(RwLock::new(index));
        let writer = Arc::new(writer::Writer::start(dir.to_owned(), index.clone(), opts)?);
        Ok(Ledger {
            dir: dir.to_owned(),
            index,
            writer,
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
        self.index
            .read()
            .map(|i| i.entries.len() as u64)
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads entry `seq`, or `None` past the end.
    pub fn get(&self, seq: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        let (path, loc) = {
            let index = self.index.read().map_err(|_| LedgerError::WriterGone)?;
            let Some(loc) = usize::try_from(seq)
                .ok()
                .and_then(|s| index.entries.get(s))
                .copied()
            else {
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
        let segs = std::fs::read_dir(dir.path()).unwrap().count();
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
        let seg = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = std::fs::read(&seg).unwrap();
        // A crash mid-write leaves a partial frame: it must be dropped, not fatal.
        bytes.extend_from_slice(&[0, 0, 0, 10, 1, 2, 3]);
        std::fs::write(&seg, &bytes).unwrap();
        let log = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
        assert_eq!(log.len(), 3);
        assert_eq!(log.append(vec![9]).await.unwrap(), 3);
        drop(log);
        // A flipped byte inside a complete frame is corruption.
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes[4 + 32 + 2] ^= 0xff;
        std::fs::write(&seg, &bytes).unwrap();
        let err = Ledger::open(dir.path(), LedgerOptions::default()).unwrap_err();
        assert!(
            matches!(err, LedgerError::Corrupt { offset: 0, .. }),
            "{err}"
        );
    }
}
