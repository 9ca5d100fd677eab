//! Group commit: one flush thread, many waiters.
//!
//! Each waiter sends a ticket and then waits; the thread takes every ticket queued at that
//! moment, flushes once, and answers them all. A ticket sent after a write was made is
//! answered by a flush that started after that write, so the write is on disk.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use tokio::sync::oneshot;

use crate::StoreError;

type Ticket = oneshot::Sender<Result<(), String>>;

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    flushes: AtomicU64,
}

/// How many commits were asked for and how many flushes served them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    pub requests: u64,
    pub flushes: u64,
}

#[derive(Debug)]
pub(crate) struct GroupCommit {
    // Option so Drop can close the channel before joining the thread.
    tx: Option<mpsc::Sender<Ticket>>,
    thread: Option<std::thread::JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl Drop for GroupCommit {
    /// Joins the flush thread, so that when the last `Store` handle is gone the database
    /// is really closed and can be reopened (by a restart in the same process, or a test).
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl GroupCommit {
    pub(crate) fn start(db: sled::Db) -> Self {
        let (tx, rx) = mpsc::channel::<Ticket>();
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        // A plain thread: flush blocks on fsync, which must not stall the async runtime.
        let spawned = std::thread::Builder::new()
            .name("renkei-store-commit".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
                    c.flushes.fetch_add(1, Ordering::Relaxed);
                    for ticket in batch {
                        let _ = ticket.send(result.clone());
                    }
                }
            });
        let thread = match spawned {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the commit thread; commits will fail");
                None
            }
        };
        GroupCommit {
            tx: Some(tx),
            thread,
            counters,
        }
    }

    fn send(&self) -> Result<oneshot::Receiver<Result<(), String>>, StoreError> {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let (ticket, rx) = oneshot::channel();
        let tx = self.tx.as_ref().ok_or(StoreError::CommitterGone)?;
        tx.send(ticket).map_err(|_| StoreError::CommitterGone)?;
        Ok(rx)
    }

    pub(crate) async fn commit(&self) -> Result<(), StoreError> {
        let rx = self.send()?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Corrupt(format!("flush failed: {e}"))),
            Err(_) => Err(StoreError::CommitterGone),
        }
    }

    pub(crate) fn commit_blocking(&self) -> Result<(), StoreError> {
        let rx = self.send()?;
        match rx.blocking_recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Corrupt(format!("flush failed: {e}"))),
            Err(_) => Err(StoreError::CommitterGone),
        }
    }

    pub(crate) fn stats(&self) -> CommitStats {
        CommitStats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            flushes: self.counters.flushes.load(Ordering::Relaxed),
        }
    }
}
