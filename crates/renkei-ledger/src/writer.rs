//! The single writer thread: takes every append queued at a moment, writes them as one
//! batch, `fdatasync`s once, then acknowledges them all.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, mpsc};

use tokio::sync::oneshot;

use crate::merkle::Hash;
use crate::segment::{FrameKey, HEADER, MAX_ENTRY, SEGMENT_MAGIC, encode_frame, segment_name};
use crate::{Index, LedgerError, LedgerOptions, Location};

type Reply = oneshot::Sender<Result<u64, String>>;

/// Counters for tests and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterStats {
    pub appends: u64,
    pub syncs: u64,
}

#[derive(Debug, Default)]
struct Counters {
    appends: AtomicU64,
    syncs: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<(Vec<u8>, Reply)>>,
    thread: Option<std::thread::JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Active {
    dir: PathBuf,
    file: File,
    size: u64,
    segment: u32,
    opts: LedgerOptions,
    key: Option<Arc<FrameKey>>,
}

impl Active {
    fn open(
        dir: PathBuf,
        index: &mut Index,
        opts: LedgerOptions,
        key: Option<Arc<FrameKey>>,
    ) -> Result<Active, LedgerError> {
        if index.segments.is_empty() {
            let path = dir.join(segment_name(index.len()));
            index.segments.push(path);
        }
        let segment = (index.segments.len() - 1) as u32;
        let path = index.segments[segment as usize].clone();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| LedgerError::Io {
                path: path.clone(),
                source,
            })?;
        let size = file
            .metadata()
            .map_err(|source| LedgerError::Io {
                path: path.clone(),
                source,
            })?
            .len();
        let mut active = Active {
            dir,
            file,
            size,
            segment,
            opts,
            key,
        };
        if size == 0 {
            active.start_segment(&path)?;
        }
        sync_dir(&active.dir)?;
        Ok(active)
    }

    /// Every segment begins with its format version, durable before any frame.
    fn start_segment(&mut self, path: &std::path::Path) -> Result<(), LedgerError> {
        self.file
            .write_all(SEGMENT_MAGIC)
            .and_then(|()| self.file.sync_data())
            .map_err(|source| LedgerError::Io {
                path: path.to_owned(),
                source,
            })?;
        self.size = SEGMENT_MAGIC.len() as u64;
        Ok(())
    }

    /// Starts a new segment file; the caller publishes its path to the index.
    fn roll(&mut self, path: PathBuf) -> Result<(), LedgerError> {
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| LedgerError::Io {
                path: path.clone(),
                source,
            })?;
        self.segment += 1;
        self.size = 0;
        self.start_segment(&path)?;
        sync_dir(&self.dir)
    }
}

/// A new file's directory entry must be durable too, or a crash can lose the file.
fn sync_dir(dir: &PathBuf) -> Result<(), LedgerError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| LedgerError::Io {
            path: dir.clone(),
            source,
        })
}

impl Writer {
    pub(crate) fn start(
        dir: PathBuf,
        index: Arc<RwLock<Index>>,
        opts: LedgerOptions,
        key: Option<Arc<FrameKey>>,
    ) -> Result<Writer, LedgerError> {
        let mut active = {
            let mut guard = index.write().map_err(|_| LedgerError::WriterGone)?;
            Active::open(dir.clone(), &mut guard, opts, key)?
        };
        let (tx, rx) = mpsc::channel::<(Vec<u8>, Reply)>();
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name("renkei-ledger-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    let result = write_batch(&mut active, &index, &batch);
                    c.appends.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    c.syncs.fetch_add(1, Ordering::Relaxed);
                    match result {
                        Ok(first_seq) => {
                            for (i, (_, reply)) in batch.into_iter().enumerate() {
                                let _ = reply.send(Ok(first_seq + i as u64));
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "record log append failed");
                            for (_, reply) in batch {
                                let _ = reply.send(Err(e.to_string()));
                            }
                        }
                    }
                }
            })
            .map_err(|source| LedgerError::Io { path: dir, source })?;
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
            counters,
        })
    }

    fn send(&self, entry: Vec<u8>) -> Result<oneshot::Receiver<Result<u64, String>>, LedgerError> {
        if entry.len() > MAX_ENTRY {
            return Err(LedgerError::TooLarge(entry.len()));
        }
        let (reply, rx) = oneshot::channel();
        let tx = self.tx.as_ref().ok_or(LedgerError::WriterGone)?;
        tx.send((entry, reply))
            .map_err(|_| LedgerError::WriterGone)?;
        Ok(rx)
    }

    pub(crate) async fn append(&self, entry: Vec<u8>) -> Result<u64, LedgerError> {
        let rx = self.send(entry)?;
        flatten(rx.await)
    }

    pub(crate) fn append_blocking(&self, entry: Vec<u8>) -> Result<u64, LedgerError> {
        let rx = self.send(entry)?;
        flatten(rx.blocking_recv())
    }

    pub(crate) fn stats(&self) -> WriterStats {
        WriterStats {
            appends: self.counters.appends.load(Ordering::Relaxed),
            syncs: self.counters.syncs.load(Ordering::Relaxed),
        }
    }
}

fn flatten(r: Result<Result<u64, String>, oneshot::error::RecvError>) -> Result<u64, LedgerError> {
    match r {
        Ok(Ok(seq)) => Ok(seq),
        Ok(Err(e)) => Err(LedgerError::Io {
            path: PathBuf::new(),
            source: std::io::Error::other(e),
        }),
        Err(_) => Err(LedgerError::WriterGone),
    }
}

/// Writes the batch, syncs, then publishes the new entries to readers. Entries become
/// visible only after they are durable, so nothing can be read that a crash could lose.
/// The index lock is held only to publish, never across I/O, so readers are not stalled
/// by an `fdatasync`.
fn write_batch(
    active: &mut Active,
    index: &RwLock<Index>,
    batch: &[(Vec<u8>, Reply)],
) -> Result<u64, LedgerError> {
    let first_seq = index.read().map_err(|_| LedgerError::WriterGone)?.len();
    let mut buf = Vec::new();
    let mut new_locs = Vec::with_capacity(batch.len());
    for (i, (entry, _)) in batch.iter().enumerate() {
        let pending = active.size + buf.len() as u64;
        if pending > SEGMENT_MAGIC.len() as u64 && pending >= active.opts.segment_bytes {
            flush(active, &mut buf)?;
            publish(index, &mut new_locs, None)?;
            let path = active.dir.join(segment_name(first_seq + i as u64));
            active.roll(path.clone())?;
            publish(index, &mut Vec::new(), Some(path))?;
        }
        let offset = active.size + buf.len() as u64 + HEADER;
        let hash = encode_frame(&mut buf, first_seq + i as u64, entry, active.key.as_deref());
        new_locs.push((
            Location {
                segment: active.segment,
                offset,
                len: entry.len() as u32,
            },
            hash,
        ));
    }
    flush(active, &mut buf)?;
    publish(index, &mut new_locs, None)?;
    Ok(first_seq)
}

fn publish(
    index: &RwLock<Index>,
    locs: &mut Vec<(Location, Hash)>,
    new_segment: Option<PathBuf>,
) -> Result<(), LedgerError> {
    let mut guard = index.write().map_err(|_| LedgerError::WriterGone)?;
    for (loc, hash) in locs.drain(..) {
        guard.entries.push(loc);
        guard.tree.push(hash);
    }
    if let Some(p) = new_segment {
        guard.segments.push(p);
    }
    Ok(())
}

fn flush(active: &mut Active, buf: &mut Vec<u8>) -> Result<(), LedgerError> {
    if buf.is_empty() {
        return Ok(());
    }
    let path = active.dir.clone();
    active
        .file
        .write_all(buf)
        .map_err(|source| LedgerError::Io {
            path: path.clone(),
            source,
        })?;
    active
        .file
        .sync_data()
        .map_err(|source| LedgerError::Io { path, source })?;
    active.size += buf.len() as u64;
    buf.clear();
    Ok(())
}
