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
}

pub(crate) fn run(command: LedgerCommand) -> anyhow::Result<bool> {
    match command {
        LedgerCommand::Verify { dir, key, json } => verify(dir, key, json),
    }
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
