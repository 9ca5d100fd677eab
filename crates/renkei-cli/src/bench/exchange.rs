//! `renkei bench e2e|baseline|import|symbols`: the flags, and the reports printed as a table
//! or as JSON. The workloads are `renkei_bench::workload::exchange`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use renkei_bench::workload::exchange::{self, CommonOptions, E2eOptions, LoadOptions};
use renkei_bench::{LoadMode, LoadSpec, Report};
use renkei_core::SystemClock;

#[derive(Debug, Subcommand)]
pub(crate) enum ExchangeBench {
    /// End-to-end inquiries answered automatically: back office → gateway → hub → gateway
    /// and back, with mTLS, sealing and durable records at all three keepers.
    ///
    /// Example: renkei bench e2e --vs-baseline --duration 10
    E2e {
        #[command(flatten)]
        load: LoadArgs,
        /// Also run the baseline in the same process and print the ratio.
        #[arg(long)]
        vs_baseline: bool,
        /// Persons enrolled on both sides (inquiries cycle through them).
        #[arg(long, default_value_t = 1000)]
        persons: u32,
        /// Use a running gateway (its local side, host:port) instead of starting servers.
        /// It must host 011002 and 141003 with the hub it uses; the bench enrols its own
        /// synthetic persons there.
        #[arg(long)]
        gateway: Option<String>,
        /// Host N generated municipalities (N ≥ 2) instead of certs-dev/'s: certificates and
        /// keys are generated into the data directory at start (not measured), and every
        /// tenant both asks the next one (i → i+1 mod N) and answers the previous one, each
        /// pair with its own --persons. Without it: 011002 asks 141003, as always.
        #[arg(long, value_name = "N")]
        tenants: Option<u32>,
    },
    /// The same RPC legs and cryptography as `e2e`, with no storage and no logic.
    ///
    /// Example: renkei bench baseline --concurrency 64
    Baseline {
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Bulk registration of provision copies (durable), through the gateway's ImportCopies.
    ///
    /// Example: renkei bench import --records 200000
    Import {
        #[arg(long, default_value_t = 100_000)]
        records: u32,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Bulk symbol acquisition through the gateway's AcquireSymbols (gateway → hub).
    ///
    /// Example: renkei bench symbols --count 100000
    Symbols {
        #[arg(long, default_value_t = 50_000)]
        count: u32,
        /// AcquireSymbols calls in flight, each of `--chunk` persons (1: one call at a time).
        #[arg(long, default_value_t = 4)]
        in_flight: usize,
        /// Persons per AcquireSymbols call.
        #[arg(long, default_value_t = 5000)]
        chunk: usize,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Certificate directory (default: $RENKEI_CERTS_DIR, else ./certs-dev).
    #[arg(long)]
    certs: Option<PathBuf>,
    /// Where the servers keep their data (default: a temporary directory, removed after).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl CommonArgs {
    fn options(&self) -> CommonOptions {
        CommonOptions {
            certs: self.certs.clone(),
            data_dir: self.data_dir.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// Closed loop: this many inquiries in flight (ignored with --rate).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Open loop: start this many inquiries per second, whatever the latency.
    #[arg(long)]
    rate: Option<f64>,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds run before measuring.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Client channels (HTTP/2 connections) the load is spread over.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    #[command(flatten)]
    common: CommonArgs,
}

impl LoadArgs {
    fn options(&self) -> LoadOptions {
        LoadOptions {
            spec: LoadSpec {
                mode: match self.rate {
                    Some(r) => LoadMode::Open { rate_per_s: r },
                    None => LoadMode::Closed {
                        concurrency: self.concurrency,
                    },
                },
                warmup: Duration::from_secs(self.warmup),
                duration: Duration::from_secs(self.duration),
            },
            connections: self.connections,
            common: self.common.options(),
        }
    }
}

fn print(reports: &[Report], json: bool, ratio: Option<f64>) -> anyhow::Result<()> {
    if json {
        let mut v = serde_json::json!({ "reports": reports });
        if let Some(r) = ratio {
            v["ratio_e2e_to_baseline"] = serde_json::json!(r);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for r in reports {
            println!("{r}");
        }
        if let Some(r) = ratio {
            println!("ratio e2e / baseline throughput: {r:.2}");
        }
    }
    Ok(())
}

/// Progress lines go to standard error, so standard output carries only the figures.
fn say(line: &str) {
    eprintln!("{line}");
}

pub(crate) async fn run(cmd: ExchangeBench) -> anyhow::Result<bool> {
    let clock = SystemClock::shared();
    match cmd {
        ExchangeBench::E2e {
            load,
            vs_baseline,
            persons,
            gateway,
            tenants,
        } => {
            let opts = E2eOptions {
                load: load.options(),
                vs_baseline,
                persons,
                gateway,
                tenants,
            };
            let outcome = exchange::e2e(&opts, &clock, &say).await?;
            print(&outcome.reports, load.common.json, outcome.ratio)?;
            Ok(outcome.reports.iter().all(|r| r.errors == 0))
        }
        ExchangeBench::Baseline { load } => {
            let b = exchange::baseline(&load.options(), &clock, &say).await?;
            let ok = b.errors == 0;
            print(&[b], load.common.json, None)?;
            Ok(ok)
        }
        ExchangeBench::Import { records, common } => {
            let r = exchange::import(records, &common.options(), &clock, &say).await?;
            let ok = r.errors == 0;
            print(&[r], common.json, None)?;
            Ok(ok)
        }
        ExchangeBench::Symbols {
            count,
            in_flight,
            chunk,
            common,
        } => {
            let r = exchange::symbols(count, in_flight, chunk, &common.options(), &say).await?;
            let ok = r.errors == 0;
            print(&[r], common.json, None)?;
            Ok(ok)
        }
    }
}
