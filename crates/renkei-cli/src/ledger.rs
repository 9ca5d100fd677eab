//! `renkei ledger …`: offline tools for record logs.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum LedgerCommand {
    /// Check a whole record log offline: every frame's checksum, every record's hash and
    /// position, every signed tree head's signature, and that each head's tree extends the
    /// one before. Names the first bad position if anything does not check.
    ///
    /// Exit status: 0 the log verifies; 1 it does not (altered, signed by a different key,
    /// unauthenticated records); 2 it could not be checked (usage, unreadable files).
    ///
    /// Example: renkei ledger verify data/gateway/records/011002 --key certs-dev/keys/011002.sign.pub
    Verify {
        /// The log directory (holding seg-*.log and heads.log).
        dir: PathBuf,
        /// The keeper's Ed25519 public key file (the tenant's or the hub's signing key).
        #[arg(long)]
        key: PathBuf,
        /// The keeper's signing key file: also authenticates the records after the last
        /// signed head (their per-frame MACs), which tells an offline append from records
        /// the keeper has not yet signed a head over (docs/decisions/0078).
        #[arg(long, value_name = "FILE")]
        signing_key: Option<PathBuf>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print the latest signed tree head as a C2SP checkpoint (c2sp.org/tlog-checkpoint,
    /// a signed note), for standard transparency tooling. Read-only; the head is checked
    /// against the key before it is signed again as a note.
    ///
    /// Example: renkei ledger checkpoint data/gateway/records/011002 --signing-key certs-dev/keys/011002.sign.key
    Checkpoint {
        /// The log directory (holding heads.log).
        dir: PathBuf,
        /// The keeper's signing key file (the one that signed the heads).
        #[arg(long, value_name = "FILE")]
        signing_key: PathBuf,
        /// The checkpoint's origin line and key name (default: renkei/<log id>).
        #[arg(long)]
        origin: Option<String>,
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

/// Exit status 2: the log could not be checked at all (1 is kept for "does not verify").
const EXIT_ERROR: i32 = 2;

pub(crate) fn run(command: LedgerCommand) -> anyhow::Result<bool> {
    let result = match command {
        LedgerCommand::Verify {
            dir,
            key,
            signing_key,
            json,
        } => verify(dir, key, signing_key, json),
        LedgerCommand::Checkpoint {
            dir,
            signing_key,
            origin,
        } => checkpoint(dir, signing_key, origin),
        LedgerCommand::Stats {
            dir,
            since,
            until,
            csv,
        } => stats(dir, since.as_deref(), until.as_deref(), csv),
    };
    match result {
        Err(e) if !renkei_cli::stdout::is_broken_pipe(&e) => {
            use std::io::Write as _;
            let _ = std::io::stdout().flush();
            eprintln!("error: {e:#}");
            std::process::exit(EXIT_ERROR);
        }
        other => other,
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

fn checkpoint(dir: PathBuf, key_path: PathBuf, origin: Option<String>) -> anyhow::Result<bool> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    let key = renkei_crypto::read_signing_key(&key_path)
        .with_context(|| format!("--signing-key {}", key_path.display()))?;
    let signed = renkei_ledger::read_latest_head(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .with_context(|| format!("{} holds no signed tree head yet", dir.display()))?;
    // Never sign as a note what the key did not sign as a head.
    let head = renkei_crypto::verify_tree_head(&key.public_key(), &signed).with_context(|| {
        format!(
            "the latest head in {} does not verify under --signing-key {}; run `renkei ledger verify`",
            dir.display(),
            key_path.display()
        )
    })?;
    let origin = origin.unwrap_or_else(|| format!("renkei/{}", head.log_id));
    let note = renkei_ledger::signed_checkpoint(&origin, &key, &head)?;
    print!("{note}");
    Ok(true)
}

fn verify(
    dir: PathBuf,
    key_path: PathBuf,
    signing_key: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<bool> {
    use renkei_ledger::ProblemKind;
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    let key = renkei_crypto::read_verifying_key(&key_path)
        .with_context(|| format!("--key {}", key_path.display()))?;
    let frame_key = match &signing_key {
        Some(path) => {
            let k = renkei_crypto::read_signing_key(path)
                .with_context(|| format!("--signing-key {}", path.display()))?;
            if k.public_key().key_id() != key.key_id() {
                anyhow::bail!(
                    "--signing-key {} is not the private half of --key {}",
                    path.display(),
                    key_path.display()
                );
            }
            Some(renkei_ledger::FrameKey::derive(&k))
        }
        None => None,
    };
    let started = std::time::Instant::now();
    let report = renkei_ledger::verify_log_with(&dir, &key, frame_key.as_ref(), &mut |n| {
        if !json {
            eprint!("\r{n} records checked");
        }
    })
    .with_context(|| format!("reading {}", dir.display()))?;
    let elapsed = started.elapsed();
    if !json {
        eprintln!();
    }
    let kind = |k: ProblemKind| match k {
        ProblemKind::WrongKey => "wrong_key",
        ProblemKind::Unauthenticated => "unauthenticated",
        _ => "altered",
    };
    if json {
        let problem = report.problem.as_ref().map(|p| {
            serde_json::json!({
                "kind": kind(p.kind),
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
            "heads_verified": report.heads_verified,
            "last_head_size": report.last_head_size,
            "root": hex::encode(report.root),
            "torn_tail_bytes": report.torn_tail_bytes,
            "torn_head_bytes": report.torn_head_bytes,
            "tail_authenticated": report.tail_authenticated,
            "seconds": elapsed.as_secs_f64(),
            "problem": problem,
        });
        println!("{v}");
        return Ok(report.is_ok());
    }
    println!("log        {}", dir.display());
    let Some(p) = &report.problem else {
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
        if report.torn_head_bytes > 0 {
            println!(
                "note       {} bytes of a tree head cut short by a crash at the end of heads.log (never returned; dropped when the log next opens)",
                report.torn_head_bytes
            );
        }
        let unsigned = report.records.saturating_sub(report.last_head_size);
        if unsigned > 0 && report.tail_authenticated {
            println!(
                "note       {unsigned} records after the last signed head are authenticated by the keeper's key but not yet covered by a signature"
            );
        } else if unsigned > 0 {
            println!(
                "note       {unsigned} records after the last signed head are not yet covered by a signature (--signing-key authenticates them)"
            );
        }
        println!("result     OK ({:.2} s)", elapsed.as_secs_f64());
        return Ok(true);
    };
    // After a failure only what was checked is stated: no root, and no head size that
    // would read as if the log were covered by it.
    println!(
        "records    {} read before the problem, in {} segments",
        report.records, report.segments
    );
    if report.heads_verified == 0 {
        println!("heads      {} in heads.log, none verified", report.heads);
    } else {
        println!(
            "heads      {} in heads.log, {} verified, the last of them covering {} records",
            report.heads, report.heads_verified, report.last_head_size
        );
    }
    match p.kind {
        ProblemKind::WrongKey => println!(
            "result     WRONG KEY: {} (--key {}); nothing could be checked",
            p.reason,
            key_path.display()
        ),
        ProblemKind::Unauthenticated => println!("result     UNAUTHENTICATED: {p}"),
        _ => println!("result     ALTERED: {p}"),
    }
    Ok(false)
}
