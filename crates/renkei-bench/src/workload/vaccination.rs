//! `renkei vaccination bench`: the full load of a generated city through real servers on
//! loopback (hub and gateway in this process, mTLS with certs-dev), timed from reading the
//! CSV to the last acknowledged bulk import, then an incremental re-run with 1% of persons
//! changed. Peak memory is the process's high-water mark (VmHWM), which includes the
//! gateway and hub running in the same process. Each finding goes to `say` as a line as
//! soon as it is known; the CLI prints them.

use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use renkei_proto::v1::Dose;
use renkei_testkit::cluster::{Cluster, ClusterOptions, find_certs_dir};
use renkei_vaccination::client::NoProgress;
use renkei_vaccination::generate::{GenOptions, GenSinks, generate};
use renkei_vaccination::ledger::{LedgerWriter, ReadOptions, stream_ledger};
use renkei_vaccination::sync::{SyncOptions, sync_ledger};

use super::Say;
use crate::ProcessUsage;

const CITY: &str = "141003";

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn rss_text() -> String {
    peak_rss_mib().map_or_else(|| "unknown".into(), |m| format!("{m:.0} MiB"))
}

/// Runs the full load and the incremental re-run; true if the re-run sent exactly the
/// persons that changed.
pub async fn full_load(
    residents: u64,
    seed: u64,
    data: Option<PathBuf>,
    certs: Option<PathBuf>,
    chunk: usize,
    say: Say<'_>,
) -> anyhow::Result<bool> {
    let tmp = tempfile::tempdir()?;
    let dir = data.unwrap_or_else(|| tmp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    let certs = find_certs_dir(certs.as_deref())?;
    say(&format!(
        "bench: full load of a city of {residents} residents ({} build), data in {}",
        if cfg!(debug_assertions) {
            "DEBUG"
        } else {
            "release"
        },
        dir.display()
    ));

    let started = Instant::now();
    let ledger = dir.join("vaccinations.csv");
    let summary = {
        let create = |n: &str| -> anyhow::Result<BufWriter<std::fs::File>> {
            Ok(BufWriter::with_capacity(
                1 << 20,
                std::fs::File::create(dir.join(n))?,
            ))
        };
        let mut sinks = GenSinks::new(
            create("vaccinations.csv")?,
            create("residents.csv")?,
            create("address-export.csv")?,
        )?;
        let opts = GenOptions {
            seed,
            residents,
            city: CITY.into(),
            today: renkei_vaccination::ledger::today_jst(),
            anomalies: true,
        };
        let s = generate(&opts, &mut sinks, |_| {})?;
        sinks.finish()?;
        s
    };
    let size = std::fs::metadata(&ledger)?.len();
    say(&format!(
        "  generated in {:.1} s (not timed below): {} persons with records, {} dose rows, {:.0} MiB of CSV",
        started.elapsed().as_secs_f64(),
        summary.persons_with_records,
        summary.dose_rows,
        size as f64 / (1024.0 * 1024.0)
    ));

    let cluster = Cluster::start(ClusterOptions::new(&certs, dir.join("cluster"))).await?;
    let channel = cluster.backoffice(CITY)?;
    let state = dir.join("sync.state");
    let _ = std::fs::remove_file(&state);
    let opts = SyncOptions {
        chunk,
        ..SyncOptions::new(&state)
    };

    // Full load: read + validate + group + hash + register + import, all acknowledged. The
    // file is streamed: persons are sent while it is still being read.
    let read = ReadOptions::default();
    let cpu0 = ProcessUsage::now();
    let t0 = Instant::now();
    let (r, stream) = sync_ledger(channel.clone(), &ledger, &read, &opts, &NoProgress).await?;
    let total = t0.elapsed().as_secs_f64();
    let cpu = ProcessUsage::now().since(&cpu0);
    anyhow::ensure!(
        r.refused.is_empty(),
        "copies refused: {:?}",
        r.refused.first()
    );
    say(&format!(
        "  full load: {} rows read ({} bad rows reported), {} persons registered and sent, in {total:.1} s (reading and sending overlap)",
        stream.rows,
        stream.errors.len(),
        r.accepted,
    ));
    say(&format!(
        "  full load total {total:.1} s: {:.0} dose records/s, {:.0} persons/s; CPU {:.1} s user + {:.1} s system (all threads); peak RSS so far {}",
        stream.rows as f64 / total,
        r.accepted as f64 / total,
        cpu.user.as_secs_f64(),
        cpu.system.as_secs_f64(),
        rss_text()
    ));

    // 1% of persons change: one more dose each for every 100th person, written back to the
    // CSV by streaming it (not timed).
    let changed = add_a_dose_to_every_100th(&ledger, &read)?;
    let cpu1 = ProcessUsage::now();
    let t1 = Instant::now();
    let (r2, _) = sync_ledger(channel, &ledger, &read, &opts, &NoProgress).await?;
    let inc = t1.elapsed().as_secs_f64();
    let cpu = ProcessUsage::now().since(&cpu1);
    say(&format!(
        "  incremental re-run with {changed} persons changed (1%): {} sent, {} unchanged, {inc:.1} s including reading the CSV; CPU {:.1} s",
        r2.sent,
        r2.unchanged,
        cpu.cpu().as_secs_f64()
    ));
    say(&format!(
        "  peak RSS (adapter, gateway and hub in one process): {}",
        rss_text()
    ));
    cluster.shutdown().await?;
    Ok(r2.sent == changed)
}

/// Rewrites the ledger with one more dose (today's, so valid for anyone) for every 100th
/// person; returns how many persons changed.
fn add_a_dose_to_every_100th(ledger: &std::path::Path, read: &ReadOptions) -> anyhow::Result<u64> {
    let today = renkei_vaccination::ledger::today_jst().to_string();
    let tmp = ledger.with_extension("csv.new");
    let mut w = LedgerWriter::new(BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(&tmp)?,
    ))?;
    let mut n = 0u64;
    let mut changed = 0u64;
    let mut failed = None;
    stream_ledger(ledger, read, |uan, mut p| {
        if n.is_multiple_of(100) {
            p.doses.push(Dose {
                vaccine_code: "COVID".into(),
                dose_number: 9,
                date: today.clone(),
                lot: "BENCH01".into(),
                ..Default::default()
            });
            changed += 1;
        }
        n += 1;
        for d in &p.doses {
            if let Err(e) = w.write(&uan, &p.info, d) {
                failed = Some(e);
                return false;
            }
        }
        true
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    w.finish()?;
    std::fs::rename(&tmp, ledger)?;
    Ok(changed)
}
