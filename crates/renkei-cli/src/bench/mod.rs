//! `renkei bench …`: benchmarks against real files and real servers. Each benchmark
//! lives in its own module with its own arguments; this enum only dispatches.

mod exchange;
mod ledger;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    #[command(flatten)]
    Exchange(exchange::ExchangeBench),
    /// The record log: durable appends per second with group commit under many
    /// concurrent appenders, and the time to verify a log of N records offline.
    ///
    /// Example: renkei bench ledger --records 10000000 --json
    Ledger(ledger::LedgerBenchArgs),
}

pub(crate) async fn run(command: BenchCommand) -> anyhow::Result<bool> {
    match command {
        BenchCommand::Exchange(cmd) => exchange::run(cmd).await,
        BenchCommand::Ledger(args) => ledger::run(args).await,
    }
}
