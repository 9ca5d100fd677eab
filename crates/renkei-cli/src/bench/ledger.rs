//! `renkei bench ledger`: the flags, and the figures printed as a line each or as one JSON
//! object. The workload is `renkei_bench::workload::ledger`.
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

use clap::Args;
use renkei_bench::workload::ledger::{self, LedgerBenchOptions};
use renkei_core::SystemClock;

#[derive(Debug, Args)]
pub(crate) struct LedgerBenchArgs {
    /// Records in the log that is verified.
    #[arg(long, default_value_t = 10_000_000)]
    records: u64,
    /// Durable appends per append run.
    #[arg(long, default_value_t = 200_000)]
    appends: u64,
    /// Concurrent appenders (requests in flight). Group commit turns concurrency into
    /// throughput: each fsync acknowledges everything queued while the previous one ran.
    #[arg(long, default_value_t = 1024)]
    appenders: u64,
    /// Append runs; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: u32,
    /// Verification runs over the built log; the median is reported.
    #[arg(long, default_value_t = 3)]
    verify_runs: u32,
    /// Where the logs are written (a fresh directory inside it, removed afterwards).
    /// Default: the system's temporary directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Skip the verification part.
    #[arg(long)]
    no_verify: bool,
    /// Print the results as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: LedgerBenchArgs) -> anyhow::Result<bool> {
    let opts = LedgerBenchOptions {
        records: args.records,
        appends: args.appends,
        appenders: args.appenders,
        runs: args.runs,
        verify_runs: args.verify_runs,
        dir: args.dir.clone(),
        no_verify: args.no_verify,
    };
    // Progress on standard error, and none at all with --json (one object, nothing else).
    let json = args.json;
    let say = move |s: &str| {
        if !json {
            eprintln!("{s}");
        }
    };
    let out = ledger::run(&opts, &SystemClock::shared(), &say).await?;
    let (append_median, per_sync_median) =
        (out.median_appends_per_second, out.median_appends_per_fsync);
    let (lat_p50, lat_p99) = (out.latency_us_p50, out.latency_us_p99);
    let verify = out
        .verify
        .map(|v| (v.median_seconds, v.heads, v.bytes, v.build_seconds));
    if args.json {
        let v = serde_json::json!({
            "bench": "ledger",
            "appends": {
                "per_run": args.appends,
                "appenders": args.appenders,
                "runs": args.runs,
                "median_appends_per_second": append_median,
                "median_appends_per_fsync": per_sync_median,
                "latency_us_p50": lat_p50,
                "latency_us_p99": lat_p99,
            },
            "verify": verify.map(|(m, heads, bytes, build)| serde_json::json!({
                "records": args.records,
                "heads": heads,
                "bytes": bytes,
                "build_seconds": build,
                "runs": args.verify_runs,
                "median_seconds": m,
                "records_per_second": args.records as f64 / m,
            })),
        });
        println!("{v}");
    } else {
        println!(
            "durable appends   median {append_median:.0}/s over {} runs of {} ({} appenders), {per_sync_median:.0} appends per fsync, latency p50 {:.2} ms p99 {:.2} ms",
            args.runs,
            args.appends,
            args.appenders,
            lat_p50 / 1000.0,
            lat_p99 / 1000.0
        );
        if let Some((m, heads, bytes, _)) = verify {
            println!(
                "offline verify    median {m:.2} s for {} records and {heads} heads ({:.2} GiB), {:.0} records/s",
                args.records,
                bytes as f64 / (1u64 << 30) as f64,
                args.records as f64 / m
            );
        }
    }
    Ok(true)
}
