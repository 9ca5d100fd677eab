//! `renkei`: run the hub, the gateway, the demo; manage development certificates.
#![forbid(unsafe_code)]

// Every `print!`/`println!` of this binary's modules goes through `renkei_cli::stdout`, so a
// closed pipe (`renkei demo | head -2`) ends the process quietly instead of panicking.
// Defined before the modules so they shadow std's macros there too.
macro_rules! print {
    ($($arg:tt)*) => {
        renkei_cli::stdout::write(format_args!($($arg)*))
    };
}
macro_rules! println {
    () => {
        renkei_cli::stdout::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        renkei_cli::stdout::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod bench;
mod console;
mod demo;
mod demo_adapter;
mod diagnose;
mod ledger;
mod ops;
mod vaccination;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

/// Bulk loads allocate and free millions of small records; glibc's allocator spent a third
/// of a full load consolidating free lists (docs/performance.md, "Adapter: full load").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "renkei",
    version,
    about = "Renkei (連携): an inter-agency data-exchange gateway emulating the 中間サーバー and the 情報提供ネットワークシステム"
)]
struct Cli {
    /// Log lines on standard error: `text` (coloured only on a terminal) or `json` (one
    /// object a line).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a hub and a gateway on loopback, load a synthetic population and play the
    /// demo scenarios.
    ///
    /// Example: renkei demo --serve
    Demo(demo::DemoArgs),
    /// Run the network hub (情報提供ネットワークシステム).
    ///
    /// Example: renkei hub --config deploy/hub.toml
    Hub {
        #[arg(long)]
        config: PathBuf,
    },
    /// Run a gateway (中間サーバー) hosting the municipalities of its configuration.
    ///
    /// Example: renkei gateway --config deploy/gateway.toml
    Gateway {
        #[arg(long)]
        config: PathBuf,
    },
    /// Record logs (情報提供等記録): offline verification.
    Ledger {
        #[command(subcommand)]
        command: ledger::LedgerCommand,
    },
    /// System-management checks against running servers.
    Diagnose {
        #[command(subcommand)]
        command: diagnose::DiagnoseCommand,
    },
    /// Measure throughput and latency of the real servers (see docs/performance.md).
    ///
    /// Example: renkei bench e2e --vs-baseline
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// Operator terminal: login, held inquiries, flags, accounts, audit log.
    ///
    /// Example: renkei ops --cert certs-dev/terminal-141003.pem --key certs-dev/terminal-141003.key.pem held list
    Ops(ops::OpsArgs),
    /// The operator console in a browser (same connection flags as `ops`).
    ///
    /// Example: renkei console --cert certs-dev/terminal-141003.pem --key certs-dev/terminal-141003.key.pem
    Console(console::ConsoleArgs),
    /// The vaccination adapter (予防接種台帳 ↔ gateway): sync, symbols, reconcile, transfer-in.
    Vaccination {
        #[command(subcommand)]
        command: vaccination::VaccinationCommand,
    },
    /// Generate a deterministic synthetic population with vaccination records.
    ///
    /// Example: renkei gen-data --city 141003 --residents 100000 --seed 1 --out data/yokohama
    GenData(vaccination::GenDataArgs),
    /// Development certificates and keys.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// (Re)generate the development PKI and agency keys (development only).
    ///
    /// Example: renkei certs generate --out certs-dev
    Generate {
        #[arg(long, default_value = "certs-dev")]
        out: PathBuf,
    },
}

fn init_logging_with(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
        .add_directive(cap_sled());
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Colour codes only for a person at a terminal, not in a journal or a file.
        LogFormat::Text => fmt.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => fmt.json().with_ansi(false).init(),
    }
}

fn cap_sled() -> tracing_subscriber::filter::Directive {
    // A constant that parses; a failure here is a typo in renkei-store, caught by every test.
    renkei_gateway::SLED_LOG_CAP
        .parse()
        .expect("SLED_LOG_CAP is a valid directive")
}

/// Listens for SIGINT/SIGTERM from now on; resolves (and logs) on the first.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    let signal = renkei_cli::signal::shutdown();
    async move {
        let signal = signal.await;
        tracing::info!(signal, "shutting down");
    }
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    let log_format = cli.log_format;
    let init_logging = |default: &str| init_logging_with(default, log_format);
    match cli.command {
        Command::Demo(args) => {
            init_logging("warn");
            demo::run(args).await
        }
        Command::Bench { command } => {
            init_logging("warn");
            bench::run(command).await
        }
        Command::Hub { config } => {
            init_logging("info");
            let stop = shutdown_signal();
            let config = renkei_hub::HubConfig::load(&config)?;
            let listener = TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("binding {}", config.listen))?;
            let metrics = match &config.metrics {
                Some(m) => Some(
                    TcpListener::bind(m.listen)
                        .await
                        .with_context(|| format!("binding the metrics listener {}", m.listen))?,
                ),
                None => None,
            };
            let hub = renkei_hub::Hub::open(config)?;
            let _metrics = metrics.map(|listener| {
                let h = hub.clone();
                tokio::spawn(async move {
                    if let Err(e) = h.serve_metrics(listener, std::future::pending()).await {
                        tracing::error!(error = %e, "metrics listener failed");
                    }
                })
            });
            tracing::info!(addr = %listener.local_addr()?, master_version = hub.master_version(), "hub serving");
            hub.serve(listener, stop).await?;
            Ok(true)
        }
        Command::Gateway { config } => {
            init_logging("info");
            let stop = shutdown_signal();
            let config = renkei_gateway::GatewayConfig::load(&config)?;
            let local = TcpListener::bind(config.listen_local)
                .await
                .with_context(|| format!("binding {}", config.listen_local))?;
            let network = TcpListener::bind(config.listen_network)
                .await
                .with_context(|| format!("binding {}", config.listen_network))?;
            let metrics = match &config.metrics {
                Some(m) => Some(
                    TcpListener::bind(m.listen)
                        .await
                        .with_context(|| format!("binding the metrics listener {}", m.listen))?,
                ),
                None => None,
            };
            let gateway = renkei_gateway::Gateway::open(config)?;
            // Ends with the process; scrapes are read-only.
            let _metrics = metrics.map(|listener| {
                let g = gateway.clone();
                tokio::spawn(async move {
                    if let Err(e) = g.serve_metrics(listener, std::future::pending()).await {
                        tracing::error!(error = %e, "metrics listener failed");
                    }
                })
            });
            tracing::info!(
                local = %local.local_addr()?,
                network = %network.local_addr()?,
                tenants = ?gateway.tenant_codes(),
                "gateway serving"
            );
            gateway.serve(local, network, stop).await?;
            Ok(true)
        }
        Command::Diagnose { command } => {
            init_logging("warn");
            diagnose::run(command).await
        }
        Command::Console(args) => {
            init_logging("info");
            console::run(args, shutdown_signal()).await
        }
        Command::Ops(args) => {
            init_logging("warn");
            ops::run(args).await
        }
        Command::Ledger { command } => {
            init_logging("warn");
            ledger::run(command)
        }
        Command::Vaccination { command } => {
            init_logging("warn");
            vaccination::run(command).await
        }
        Command::GenData(args) => {
            init_logging("warn");
            vaccination::gen_data(args)
        }
        Command::Certs {
            command: CertsCommand::Generate { out },
        } => {
            init_logging("warn");
            let spec = renkei_pki::DevPkiSpec::default_dev()?;
            let generated = renkei_pki::generate_dev_pki(&out, &spec)?;
            print!("{generated}");
            println!(
                "wrote {} files to {} (development only)",
                generated.files.len(),
                out.display()
            );
            Ok(true)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // One meaning on every command, as clap already uses 2 for usage errors: 0 done, 1 done
    // but the answer is "no" (differences, pending, altered, refused), 2 could not be done.
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        // The reader of standard output has gone: nothing more to say, as with SIGPIPE.
        Err(e) if renkei_cli::stdout::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
