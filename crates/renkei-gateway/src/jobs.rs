//! Batch jobs (バッチ処理状況): bulk imports, flag loads and retention purges, with their
//! progress, kept per tenant in sled so an operator sees finished jobs after a restart.
//!
//! Progress lives in atomics while a job runs (one store per chunk, no lock) and reaches
//! sled at most once a second; readers of a running job see the live counters. A job still
//! marked running when the gateway starts was cut off by a stop or crash and is marked
//! interrupted. History is bounded (docs/decisions/0040-batch-job-status.md).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message as _;
use renkei_core::SharedClock;
use renkei_proto::v1::{BulkSummary, Job, JobKind, JobState};
use renkei_store::Tree;

use crate::GatewayError;

/// Finished jobs kept per tenant, newest first...
pub(crate) const HISTORY_LIMIT: usize = 1000;
/// ...and for at most this long.
pub(crate) const HISTORY_MAX_AGE: Duration = Duration::from_secs(90 * 86_400);
/// Progress of a running job reaches storage at most this often.
const PERSIST_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct JobBook {
    tenant: String,
    tree: Tree,
    clock: SharedClock,
    next: AtomicU64,
    running: Mutex<BTreeMap<u64, Arc<Live>>>,
}

/// A running job's counters.
#[derive(Debug)]
struct Live {
    record: Mutex<Job>,
    processed: AtomicU64,
    rejected: AtomicU64,
    total: AtomicU64,
    last_persist: Mutex<Instant>,
}

impl Live {
    fn snapshot(&self) -> Job {
        let mut job = match self.record.lock() {
            Ok(j) => j.clone(),
            Err(p) => p.into_inner().clone(),
        };
        job.processed = self.processed.load(Ordering::Relaxed);
        job.rejected = self.rejected.load(Ordering::Relaxed);
        job.total = self.total.load(Ordering::Relaxed);
        job
    }
}

fn key(number: u64) -> [u8; 8] {
    number.to_be_bytes()
}

fn decode(v: &[u8]) -> Result<Job, GatewayError> {
    Job::decode(v).map_err(|e| GatewayError::Corrupt(format!("job: {e}")))
}

impl JobBook {
    /// Opens the tenant's job history, marking jobs left running by the last process as
    /// interrupted.
    pub(crate) fn open_with_clock(
        tenant: &str,
        tree: Tree,
        clock: SharedClock,
    ) -> Result<JobBook, GatewayError> {
        let now = clock.now_ms();
        let mut last = 0u64;
        for item in tree.iter() {
            let (k, v) = item?;
            if let Ok(b) = <[u8; 8]>::try_from(k.as_ref()) {
                last = last.max(u64::from_be_bytes(b));
            }
            let mut job = decode(&v)?;
            if job.state == JobState::Running as i32 {
                job.state = JobState::Interrupted as i32;
                job.finished_at_ms = now;
                job.error = "the gateway stopped while the job ran; the counts are those last \
                             saved (at most a second old), and what was committed is kept"
                    .into();
                tree.insert(k, job.encode_to_vec())?;
                tracing::warn!(tenant, job_id = %job.job_id, "batch job interrupted by a stop");
            }
        }
        Ok(JobBook {
            tenant: tenant.to_owned(),
            tree,
            clock,
            next: AtomicU64::new(last + 1),
            running: Mutex::new(BTreeMap::new()),
        })
    }

    fn running(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Live>>> {
        match self.running.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Records a new running job.
    pub(crate) fn start(
        self: &Arc<Self>,
        kind: JobKind,
        started_by: String,
    ) -> Result<JobGuard, GatewayError> {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            job_id: format!("{}-{number}", self.tenant),
            tenant: self.tenant.clone(),
            kind: kind as i32,
            state: JobState::Running as i32,
            started_at_ms: self.clock.now_ms(),
            started_by,
            ..Default::default()
        };
        self.tree.insert(key(number), job.encode_to_vec())?;
        tracing::info!(tenant = %self.tenant, job_id = %job.job_id, kind = ?kind, "batch job started");
        let live = Arc::new(Live {
            record: Mutex::new(job),
            processed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            total: AtomicU64::new(0),
            last_persist: Mutex::new(Instant::now()),
        });
        self.running().insert(number, live.clone());
        Ok(JobGuard {
            book: self.clone(),
            number,
            live,
            done: false,
        })
    }

    /// Jobs running now.
    pub(crate) fn running_count(&self) -> usize {
        self.running().len()
    }

    fn number_of(&self, job_id: &str) -> Option<u64> {
        let (tenant, n) = job_id.rsplit_once('-')?;
        if tenant != self.tenant {
            return None;
        }
        n.parse().ok()
    }

    /// One job, live if running. Another tenant's id is simply not found here.
    pub(crate) fn get(&self, job_id: &str) -> Result<Job, GatewayError> {
        let not_found = || {
            GatewayError::NotFound(format!(
                "no batch job {job_id:?} in municipality {}",
                self.tenant
            ))
        };
        let number = self.number_of(job_id).ok_or_else(not_found)?;
        if let Some(live) = self.running().get(&number) {
            return Ok(live.snapshot());
        }
        let v = self.tree.get(key(number))?.ok_or_else(not_found)?;
        decode(&v)
    }

    /// Newest first, filtered.
    pub(crate) fn list(
        &self,
        kind: Option<JobKind>,
        state: Option<JobState>,
        limit: usize,
    ) -> Result<Vec<Job>, GatewayError> {
        let running: BTreeMap<u64, Arc<Live>> = self.running().clone();
        let mut out = Vec::new();
        for item in self.tree.iter().rev() {
            let (k, v) = item?;
            let number = <[u8; 8]>::try_from(k.as_ref())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            let job = match running.get(&number) {
                Some(live) => live.snapshot(),
                None => decode(&v)?,
            };
            if kind.is_some_and(|k| job.kind != k as i32)
                || state.is_some_and(|s| job.state != s as i32)
            {
                continue;
            }
            out.push(job);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn persist(&self, number: u64, job: &Job) -> Result<(), GatewayError> {
        self.tree.insert(key(number), job.encode_to_vec())?;
        Ok(())
    }

    /// Drops the oldest finished jobs beyond [`HISTORY_LIMIT`] and those older than
    /// [`HISTORY_MAX_AGE`].
    fn prune(&self) -> Result<(), GatewayError> {
        let cutoff = self.clock.now_ms() - HISTORY_MAX_AGE.as_millis() as i64;
        let running = self.running().keys().copied().collect::<Vec<_>>();
        let mut kept = 0usize;
        for item in self.tree.iter().rev() {
            let (k, v) = item?;
            let number = <[u8; 8]>::try_from(k.as_ref())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if running.contains(&number) {
                continue;
            }
            kept += 1;
            let old = decode(&v)
                .map(|j| j.finished_at_ms < cutoff)
                .unwrap_or(true);
            if kept > HISTORY_LIMIT || old {
                self.tree.remove(k)?;
            }
        }
        Ok(())
    }
}

/// A running job. Ending it without [`JobGuard::finish`] (the handler was dropped: the
/// client went away or the request timed out) records it as cancelled.
#[derive(Debug)]
pub(crate) struct JobGuard {
    book: Arc<JobBook>,
    number: u64,
    live: Arc<Live>,
    done: bool,
}

impl JobGuard {
    pub(crate) fn id(&self) -> String {
        format!("{}-{}", self.book.tenant, self.number)
    }

    /// Sets the counters (absolute values); saved at most once a second.
    pub(crate) fn progress(&self, processed: u64, rejected: u64) {
        self.live.processed.store(processed, Ordering::Relaxed);
        self.live.rejected.store(rejected, Ordering::Relaxed);
        let due = match self.live.last_persist.lock() {
            Ok(mut last) if last.elapsed() >= PERSIST_EVERY => {
                *last = Instant::now();
                true
            }
            _ => false,
        };
        if due && let Err(e) = self.book.persist(self.number, &self.live.snapshot()) {
            tracing::warn!(job_id = %self.id(), error = %e, "job progress not saved");
        }
    }

    #[allow(dead_code)]
    pub(crate) fn set_total(&self, total: u64) {
        self.live.total.store(total, Ordering::Relaxed);
    }

    /// Ends the job. The caller commits the store (imports do so anyway).
    pub(crate) fn finish(mut self, state: JobState, error: &str) {
        self.end(state, error);
    }

    /// Forgets the job entirely (a purge that found nothing to delete).
    pub(crate) fn discard(mut self) {
        self.done = true;
        self.book.running().remove(&self.number);
        if let Err(e) = self.book.tree.remove(key(self.number)) {
            tracing::warn!(job_id = %self.id(), error = %e, "job record not removed");
        }
    }

    fn end(&mut self, state: JobState, error: &str) {
        self.done = true;
        let mut job = self.live.snapshot();
        job.state = state as i32;
        job.finished_at_ms = self.book.clock.now_ms();
        job.error = error.to_owned();
        if let Err(e) = self.book.persist(self.number, &job) {
            tracing::error!(job_id = %job.job_id, error = %e, "final job state not saved");
        }
        self.book.running().remove(&self.number);
        if let Err(e) = self.book.prune() {
            tracing::warn!(error = %e, "job history not pruned");
        }
        tracing::info!(
            tenant = %self.book.tenant,
            job_id = %job.job_id,
            state = ?state,
            processed = job.processed,
            rejected = job.rejected,
            "batch job ended"
        );
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        if !self.done {
            self.end(
                JobState::Cancelled,
                "the call ended before the job did (the client went away or the request timed out)",
            );
        }
    }
}

/// Records taken from a bulk stream at once: one storage batch and, for symbols, one hub
/// call.
pub(crate) const CHUNK: usize = 1000;

/// Records of a bulk stream, with the stream position of the first, so per-record
/// problems can name their position.
#[derive(Debug)]
pub(crate) struct Chunk<T> {
    pub(crate) first: u64,
    pub(crate) items: Vec<T>,
}

/// A bulk stream worked through as a batch job: taken in chunks, each chunk's good records
/// kept and its bad ones listed (by position and reason) in the summary, the job's progress
/// updated after every chunk. A stream that breaks mid-way keeps what came before it: the
/// job ends cancelled and the caller is told how far it got.
pub(crate) struct BulkJob<S: futures::Stream> {
    job: JobGuard,
    chunks: futures::stream::ReadyChunks<S>,
    next: u64,
    broken: Option<tonic::Status>,
    pub(crate) summary: BulkSummary,
}

impl<T, S> BulkJob<S>
where
    S: futures::Stream<Item = Result<T, tonic::Status>> + Unpin,
{
    pub(crate) fn new(job: JobGuard, input: S) -> Self {
        BulkJob {
            job,
            chunks: futures::StreamExt::ready_chunks(input, CHUNK),
            next: 0,
            broken: None,
            summary: BulkSummary::default(),
        }
    }

    /// The next chunk; `None` at the end of the stream, or once it broke (after handing
    /// out the records that arrived before the break).
    pub(crate) async fn next_chunk(&mut self) -> Option<Chunk<T>> {
        if self.broken.is_some() {
            return None;
        }
        let chunk = futures::StreamExt::next(&mut self.chunks).await?;
        let mut items = Vec::with_capacity(chunk.len());
        for item in chunk {
            match item {
                Ok(r) => items.push(r),
                Err(s) => {
                    self.broken = Some(s);
                    break;
                }
            }
        }
        let first = self.next;
        self.next += items.len() as u64;
        Some(Chunk { first, items })
    }

    /// Publishes the summary's counts as the job's progress.
    pub(crate) fn progress(&self) {
        self.job.progress(
            self.summary.accepted + self.summary.rejected,
            self.summary.rejected,
        );
    }

    /// Runs `per_chunk` on every chunk. A chunk that fails fails the job: what earlier
    /// chunks stored stays. Work that awaits per chunk (a hub call) loops over
    /// [`BulkJob::next_chunk`] itself: a generic async closure here would make the
    /// handler's future not provably `Send`.
    pub(crate) async fn run(
        mut self,
        mut per_chunk: impl FnMut(Chunk<T>, &mut BulkSummary) -> Result<(), GatewayError>,
    ) -> Result<BulkEnd, GatewayError> {
        while let Some(chunk) = self.next_chunk().await {
            if let Err(e) = per_chunk(chunk, &mut self.summary) {
                return Err(self.fail(e));
            }
            self.progress();
        }
        Ok(self.end())
    }

    /// Ends the job as failed with `e`, and hands `e` back.
    pub(crate) fn fail(self, e: GatewayError) -> GatewayError {
        self.job.finish(JobState::Failed, &e.to_string());
        e
    }

    /// Ends the job as cancelled for a reason other than a broken stream.
    pub(crate) fn cancel(self, why: &str) {
        self.job.finish(JobState::Cancelled, why);
    }

    /// Ends the job: cancelled if the stream broke, succeeded otherwise. The caller
    /// commits the store.
    pub(crate) fn end(self) -> BulkEnd {
        match &self.broken {
            Some(s) => self.job.finish(JobState::Cancelled, s.message()),
            None => self.job.finish(JobState::Succeeded, ""),
        }
        BulkEnd {
            summary: self.summary,
            broken: self.broken,
        }
    }

    /// Whether the stream broke (the job will end cancelled).
    pub(crate) fn broken(&self) -> Option<&tonic::Status> {
        self.broken.as_ref()
    }
}

/// How a bulk job ended.
#[derive(Debug)]
pub(crate) struct BulkEnd {
    pub(crate) summary: BulkSummary,
    broken: Option<tonic::Status>,
}

impl BulkEnd {
    /// The caller's answer: the summary, or the broken stream's status saying how many
    /// records were taken before it broke (`what` names the stream: "request", "flag").
    pub(crate) fn into_result(self, what: &str) -> Result<BulkSummary, tonic::Status> {
        match self.broken {
            None => Ok(self.summary),
            Some(s) => Err(tonic::Status::new(
                s.code(),
                format!(
                    "the {what} stream failed after {} accepted and {} rejected records (those are kept): {}",
                    self.summary.accepted,
                    self.summary.rejected,
                    s.message()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(dir: &std::path::Path) -> (renkei_store::Store, Arc<JobBook>) {
        let store = renkei_store::Store::open(dir, &renkei_store::StoreOptions::default()).unwrap();
        let tree = store.global("jobs-test").unwrap();
        let book = Arc::new(
            JobBook::open_with_clock("141003", tree, renkei_core::SystemClock::shared()).unwrap(),
        );
        (store, book)
    }

    #[test]
    fn progress_is_live_and_running_jobs_become_interrupted_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (store, b) = book(dir.path());
        let done = b
            .start(JobKind::ImportCopies, "backoffice:x".into())
            .unwrap();
        done.progress(10, 2);
        done.finish(JobState::Succeeded, "");
        let running = b.start(JobKind::ImportFlags, "operator:y".into()).unwrap();
        running.progress(5, 1);
        let id = running.id();
        assert_eq!(b.get(&id).unwrap().processed, 5);
        assert!(
            b.get("011002-2").is_err(),
            "another tenant's id is not found"
        );
        assert_eq!(b.running_count(), 1);
        // A crash: the guard never ends, and a new process opens the same tree.
        std::mem::forget(running);
        let reopened = JobBook::open_with_clock(
            "141003",
            store.global("jobs-test").unwrap(),
            renkei_core::SystemClock::shared(),
        )
        .unwrap();
        let jobs = reopened.list(None, None, 10).unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].state, JobState::Interrupted as i32);
        assert_ne!(jobs[0].finished_at_ms, 0);
        assert_eq!(jobs[1].state, JobState::Succeeded as i32);
        assert_eq!((jobs[1].processed, jobs[1].rejected), (10, 2));
        let next = Arc::new(reopened)
            .start(JobKind::ImportCopies, "system".into())
            .unwrap();
        assert_eq!(next.id(), "141003-3");
    }

    #[test]
    fn finished_jobs_leave_the_history_after_its_maximum_age() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            renkei_store::Store::open(dir.path(), &renkei_store::StoreOptions::default()).unwrap();
        let clock = renkei_core::FakeClock::at(1_800_000_000_000);
        let b = Arc::new(
            JobBook::open_with_clock("141003", store.global("jobs-age").unwrap(), clock.clone())
                .unwrap(),
        );
        let old = b.start(JobKind::ImportCopies, "x".into()).unwrap();
        let old_id = old.id();
        old.finish(JobState::Succeeded, "");
        assert_eq!(b.get(&old_id).unwrap().finished_at_ms, 1_800_000_000_000);
        clock.advance(HISTORY_MAX_AGE - Duration::from_secs(1));
        b.start(JobKind::ImportCopies, "x".into())
            .unwrap()
            .finish(JobState::Succeeded, "");
        assert!(b.get(&old_id).is_ok(), "not yet past the maximum age");
        clock.advance(Duration::from_secs(2));
        b.start(JobKind::ImportCopies, "x".into())
            .unwrap()
            .finish(JobState::Succeeded, "");
        assert!(b.get(&old_id).is_err(), "pruned once past the maximum age");
        assert_eq!(b.list(None, None, 10).unwrap().len(), 2);
    }

    #[test]
    fn a_dropped_job_is_cancelled_and_history_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, b) = book(dir.path());
        drop(b.start(JobKind::ImportCopies, "x".into()).unwrap());
        assert_eq!(
            b.list(None, None, 1).unwrap()[0].state,
            JobState::Cancelled as i32
        );
        for _ in 0..HISTORY_LIMIT + 5 {
            b.start(JobKind::RetentionPurge, "system".into())
                .unwrap()
                .finish(JobState::Succeeded, "");
        }
        assert_eq!(b.list(None, None, usize::MAX).unwrap().len(), HISTORY_LIMIT);
        let purge = b.start(JobKind::RetentionPurge, "system".into()).unwrap();
        let id = purge.id();
        purge.discard();
        assert!(b.get(&id).is_err());
    }
}
