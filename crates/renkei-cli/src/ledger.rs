//! `renkei ledger …`: offline tools for record logs.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum LedgerCommand {
    /// Check a whole record log offline: every record's hash and position, every signed
    /// tree head's signature, and that each head's tree extends the one before. Exits
    /// non-zero and names the first bad position if anything was altered.
    ///
    /// Example: renkei ledger verify data/gateway/records/011002 --key certs-dev/keys/011002.sign.pub
    Verify {
        /// The log directory (holding seg-*.log and heads.log).
        dir: PathBuf,
        /// The keeper's Ed25519 public key file (the tenant's or the hub's signing key).
        #[arg(long)]
        key: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Statistics of a record log offline: records per day (JST), procedure, direction
    /// and outcome — inquiries, provisions, refusals, holds. Read-only.
    ///
    /// Example: renkei ledger stats data/gateway/records/011002 --since 2026-04-01 --csv
    Stats {
        /// The log directory (holding seg-*.log).
        dir: PathBuf,
        /// First day counted (YYYY-MM-DD, JST).
        #[arg(long)]
        since: Option<String>,
        /// First day no longer counted (YYYY-MM-DD, JST).
        #[arg(long)]
        until: Option<String>,
        /// Print CSV (day,procedure,direction,outcome,count).
        #[arg(long)]
        csv: bool,
    },
}

pub(crate) fn run(command: LedgerCommand) -> anyhow::Result<bool> {
    match command {
        LedgerCommand::Verify { dir, key, json } => verify(dir, key, json),
        LedgerCommand::Stats {
            dir,
            since,
            until,
            csv,
        } => stats(dir, since.as_deref(), until.as_deref(), csv),
    }
}

/// Midnight JST of a `YYYY-MM-DD` day, in Unix milliseconds.
fn day_start_ms(flag: &str, day: &str) -> anyhow::Result<i64> {
    let date = time::Date::parse(
        day,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .with_context(|| format!("--{flag} {day:?}: expected a day as YYYY-MM-DD"))?;
    let jst = time::UtcOffset::from_hms(9, 0, 0)?;
    Ok(date.midnight().assume_offset(jst).unix_timestamp() * 1000)
}

fn stats(
    dir: PathBuf,
    since: Option<&str>,
    until: Option<&str>,
    csv: bool,
) -> anyhow::Result<bool> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    let since = since.map(|d| day_start_ms("since", d)).transpose()?;
    let until = until.map(|d| day_start_ms("until", d)).transpose()?;
    let mut stats = renkei_records::Statistics::new(since, until);
    let read = renkei_ledger::scan_log(&dir, &mut |_, entry| stats.add_entry(entry))
        .with_context(|| format!("reading {}", dir.display()))?;
    if csv {
        print!("{}", stats.to_csv());
    } else {
        println!(
            "{:<10}  {:<16}  {:<9}  {:<12}  {:>8}",
            "day", "procedure", "direction", "outcome", "count"
        );
        for (k, n) in &stats.rows {
            println!(
                "{:<10}  {:<16}  {:<9}  {:<12}  {n:>8}",
                k.day, k.procedure, k.direction, k.outcome
            );
        }
        println!("{read} records read");
    }
    if stats.undecodable > 0 {
        eprintln!(
            "warning: {} entries are not exchange records",
            stats.undecodable
        );
    }
    Ok(true)
}

fn verify(dir: PathBuf, key: PathBuf, json: bool) -> anyhow::Result<bool> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    let key = renkei_crypto::read_verifying_key(&key)?;
    let started = std::time::Instant::now();
    let report = renkei_ledger::verify_log(&dir, &key, &mut |n| {
        if !json {
            eprint!("\r{n} records checked");
        }
    })
    .with_context(|| format!("reading {}", dir.display()))?;
    let elapsed = started.elapsed();
    if !json {
        eprintln!();
    }
    if json {
        let problem = report.problem.as_ref().map(|p| {
            serde_json::json!({
                "record": p.record,
                "head": p.head,
                "file": p.file.display().to_string(),
                "offset": p.offset,
                "reason": p.reason,
            })
        });
        let v = serde_json::json!({
            "dir": dir.display().to_string(),
            "ok": report.is_ok(),
            "records": report.records,
            "segments": report.segments,
            "heads": report.heads,
            "last_head_size": report.last_head_size,
            "root": hex::encode(report.root),
            "torn_tail_bytes": report.torn_tail_bytes,
            "seconds": elapsed.as_secs_f64(),
            "problem": problem,
        });
        println!("{v}");
    } else {
        println!("log        {}", dir.display());
        println!(
            "records    {} in {} segments",
            report.records, report.segments
        );
        println!(
            "heads      {} signed, the last covering {} records",
            report.heads, report.last_head_size
        );
        println!("root       {}", hex::encode(report.root));
        if report.torn_tail_bytes > 0 {
            println!(
                "note       {} bytes of a write cut short by a crash at the end (never acknowledged; dropped when the log next opens)",
                report.torn_tail_bytes
            );
        }
        let unsigned = report.records.saturating_sub(report.last_head_size);
        if report.is_ok() && unsigned > 0 {
            println!(
                "note       {unsigned} records after the last signed head are not yet covered by a signature"
            );
        }
        match &report.problem {
            None => println!("result     OK ({:.2} s)", elapsed.as_secs_f64()),
            Some(p) => println!("result     ALTERED: {p}"),
        }
    }
    Ok(report.is_ok())
}
