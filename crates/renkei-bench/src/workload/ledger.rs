//! `renkei bench ledger`: what the record log costs on this machine. The CLI prints the
//! [`LedgerOutcome`] as a table or as JSON.
//!
//! * **Durable appends.** `--appenders` concurrent tasks append realistic encoded
//!   `ExchangeRecord`s to a fresh log on real files; every append is acknowledged only
//!   after its `fdatasync`, and the writer shares each sync among everything queued
//!   (group commit). Reports throughput per run (median over `--runs`) and the median and
//!   99th-percentile latency of one append.
//! * **Offline verification.** Builds a log of `--records` entries (heads signed about
//!   once a second while it grows, as the servers do), then times `verify_log` over it —
//!   every leaf hash, every head signature, every head's root — `--verify-runs` times.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use prost::Message as _;
use renkei_core::SharedClock;
use renkei_ledger::{HeadSigner, Ledger, LedgerOptions};
use renkei_proto::v1::{Direction, ExchangeRecord, Outcome};

use super::{Say, median};

/// What `bench ledger` measures (the CLI's flags of the same names).
#[derive(Debug, Clone)]
pub struct LedgerBenchOptions {
    /// Records in the log that is verified.
    pub records: u64,
    /// Durable appends per append run.
    pub appends: u64,
    /// Concurrent appenders (requests in flight).
    pub appenders: u64,
    /// Append runs; the median is reported.
    pub runs: u32,
    /// Verification runs over the built log; the median is reported.
    pub verify_runs: u32,
    /// Where the logs are written (a fresh directory inside it, removed afterwards);
    /// `None`: the system's temporary directory.
    pub dir: Option<PathBuf>,
    /// Skip the verification part.
    pub no_verify: bool,
}

/// The figures of `bench ledger`.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerOutcome {
    pub median_appends_per_second: f64,
    pub median_appends_per_fsync: f64,
    pub latency_us_p50: f64,
    pub latency_us_p99: f64,
    /// `None` with `no_verify`.
    pub verify: Option<VerifyOutcome>,
}

/// Offline verification of the built log.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyOutcome {
    pub median_seconds: f64,
    pub heads: u64,
    pub bytes: u64,
    pub build_seconds: f64,
}

/// A record shaped like the ones the gateway writes (ids, codes, two hex hashes).
fn sample_entry(i: u64) -> Vec<u8> {
    ExchangeRecord {
        recorded_at_ms: 1_763_000_000_000 + i as i64,
        keeper: "011002".into(),
        direction: Direction::Inquiry as i32,
        counterparty: "141003".into(),
        procedure: "vaccination".into(),
        item: 25,
        inquiry_id: format!("inq-{:016x}-{i:08x}", 0x5a5a_u64),
        permit_id: format!("pm-{:016x}-{i:08x}", 0xa5a5_u64),
        outcome: Outcome::Provided as i32,
        unified_address_number: format!("{:015}", i % 1_000_000_000),
        envelope_sha256: format!("{:064x}", u128::from(i as u32) * 0x9e37_79b9),
        sealed_answer_sha256: format!("{:064x}", u128::from(i as u32) * 0x85eb_ca6b),
        ..Default::default()
    }
    .encode_to_vec()
}

fn work_dir(base: &Option<PathBuf>) -> anyhow::Result<tempfile::TempDir> {
    let base = base.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    tempfile::Builder::new()
        .prefix("renkei-bench-ledger-")
        .tempdir_in(&base)
        .with_context(|| format!("creating a directory in {}", base.display()))
}

struct AppendRun {
    per_second: f64,
    syncs: u64,
    latencies_us: Vec<f64>,
}

/// `total` appends from `appenders` tasks; returns throughput and each append's latency.
async fn append_run(log: &Ledger, total: u64, appenders: u64) -> anyhow::Result<AppendRun> {
    let before = log.stats();
    let started = Instant::now();
    let mut tasks = Vec::new();
    let per_task = total / appenders;
    let extra = total % appenders;
    for a in 0..appenders {
        let log = log.clone();
        let n = per_task + u64::from(a < extra);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n as usize);
            for i in 0..n {
                let entry = sample_entry(a * 1_000_000 + i);
                let t = Instant::now();
                log.append(entry).await?;
                lat.push(t.elapsed().as_secs_f64() * 1e6);
            }
            Ok::<_, renkei_ledger::LedgerError>(lat)
        }));
    }
    let mut latencies_us = Vec::with_capacity(total as usize);
    for t in tasks {
        latencies_us.extend(t.await.context("appender task")??);
    }
    let elapsed = started.elapsed();
    let after = log.stats();
    Ok(AppendRun {
        per_second: total as f64 / elapsed.as_secs_f64(),
        syncs: after.syncs - before.syncs,
        latencies_us,
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the appends and (unless `no_verify`) the verification, telling `say` about each run.
pub async fn run(
    args: &LedgerBenchOptions,
    clock: &SharedClock,
    say: Say<'_>,
) -> anyhow::Result<LedgerOutcome> {
    anyhow::ensure!(args.appenders > 0, "--appenders must be at least 1");
    anyhow::ensure!(
        args.runs > 0 && args.verify_runs > 0,
        "runs must be at least 1"
    );

    // Durable appends.
    let mut rates = Vec::new();
    let mut syncs = Vec::new();
    let mut latencies = Vec::new();
    for r in 0..args.runs {
        let dir = work_dir(&args.dir)?;
        let log = Ledger::open(dir.path(), LedgerOptions::default())?;
        let run = append_run(&log, args.appends, args.appenders).await?;
        say(&format!(
            "append run {}: {:.0} durable appends/s, {} fsyncs ({:.0} appends per fsync)",
            r + 1,
            run.per_second,
            run.syncs,
            args.appends as f64 / run.syncs.max(1) as f64
        ));
        rates.push(run.per_second);
        syncs.push(args.appends as f64 / run.syncs.max(1) as f64);
        latencies.extend(run.latencies_us);
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let append_median = median(&mut rates);
    let per_sync_median = median(&mut syncs);
    let lat_p50 = percentile(&latencies, 0.5);
    let lat_p99 = percentile(&latencies, 0.99);

    // Offline verification of a large log.
    let mut verify = None;
    if !args.no_verify {
        let dir = work_dir(&args.dir)?;
        let (key, _) = renkei_crypto::SigningKey::generate()?;
        let public = key.public_key();
        let log = Ledger::open_signed(
            dir.path(),
            LedgerOptions::default(),
            HeadSigner {
                log_id: "011002".into(),
                key,
            },
        )?;
        say(&format!("building a log of {} records…", args.records));
        let built = Instant::now();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let signer = {
            let log = log.clone();
            let done = done.clone();
            let clock = clock.clone();
            tokio::task::spawn_blocking(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_secs(1));
                    log.sign_head(clock.now_ms())?;
                }
                Ok::<_, renkei_ledger::LedgerError>(())
            })
        };
        append_run(&log, args.records, 1024).await?;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        signer.await.context("head signer")??;
        log.sign_head(clock.now_ms())?;
        let build_secs = built.elapsed().as_secs_f64();
        drop(log);
        let bytes: u64 = std::fs::read_dir(dir.path())?
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
        say(&format!(
            "built in {build_secs:.1} s ({:.0} appends/s), {:.2} GiB on disk",
            args.records as f64 / build_secs,
            bytes as f64 / (1u64 << 30) as f64
        ));
        let mut secs = Vec::new();
        let mut heads = 0;
        for r in 0..args.verify_runs {
            let t = Instant::now();
            let report = renkei_ledger::verify_log(dir.path(), &public, &mut |_| {})?;
            let s = t.elapsed().as_secs_f64();
            anyhow::ensure!(
                report.is_ok() && report.records == args.records,
                "the benchmark log did not verify: {:?}",
                report.problem
            );
            heads = report.heads;
            say(&format!(
                "verify run {}: {} records, {} heads in {s:.2} s ({:.0} records/s)",
                r + 1,
                report.records,
                report.heads,
                args.records as f64 / s
            ));
            secs.push(s);
        }
        let m = median(&mut secs);
        verify = Some(VerifyOutcome {
            median_seconds: m,
            heads,
            bytes,
            build_seconds: build_secs,
        });
    }
    Ok(LedgerOutcome {
        median_appends_per_second: append_median,
        median_appends_per_fsync: per_sync_median,
        latency_us_p50: lat_p50,
        latency_us_p99: lat_p99,
        verify,
    })
}
