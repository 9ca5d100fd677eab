//! `renkei vaccination bench`: the full load of a generated city through real servers on
//! loopback (hub and gateway in this process, mTLS with certs-dev), timed from reading the
//! CSV to the last acknowledged bulk import, then an incremental re-run with 1% of persons
//! changed. Peak memory is the process's high-water mark (VmHWM), which includes the
//! gateway and hub running in the same process.

use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

use renkei_cli::cluster::{Cluster, ClusterOptions, find_certs_dir};
use renkei_proto::v1::Dose;
use renkei_vaccination::client::NoProgress;
use renkei_vaccination::generate::{GenOptions, GenSinks, generate};
use renkei_vaccination::ledger::{ReadOptions, read_ledger, write_ledger};
use renkei_vaccination::sync::{SyncOptions, sync};

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

pub(crate) async fn run(
    residents: u64,
    seed: u64,
    data: Option<PathBuf>,
    certs: Option<PathBuf>,
    chunk: usize,
) -> anyhow::Result<bool> {
    let tmp = tempfile::tempdir()?;
    let dir = data.unwrap_or_else(|| tmp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    let certs = find_certs_dir(certs.as_deref())?;
    println!(
        "bench: full load of a city of {residents} residents ({} build), data in {}",
        if cfg!(debug_assertions) {
            "DEBUG"
        } else {
            "release"
        },
        dir.display()
    );

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
    println!(
        "  generated in {:.1} s (not timed below): {} persons with records, {} dose rows, {:.0} MiB of CSV",
        started.elapsed().as_secs_f64(),
        summary.persons_with_records,
        summary.dose_rows,
        size as f64 / (1024.0 * 1024.0)
    );

    let cluster = Cluster::start(ClusterOptions::new(&certs, dir.join("cluster"))).await?;
    let channel = cluster.backoffice(CITY)?;
    let state = dir.join("sync.state");
    let _ = std::fs::remove_file(&state);
    let opts = SyncOptions {
        chunk,
        ..SyncOptions::new(&state)
    };

    // Full load: read + validate + group + hash + register + import, all acknowledged.
    let t0 = Instant::now();
    let report = read_ledger(&ledger, &ReadOptions::default())?;
    let read_secs = t0.elapsed().as_secs_f64();
    let mut master = report.master;
    let r = sync(channel.clone(), &master, &opts, &NoProgress).await?;
    let total = t0.elapsed().as_secs_f64();
    anyhow::ensure!(
        r.refused.is_empty(),
        "copies refused: {:?}",
        r.refused.first()
    );
    println!(
        "  full load: {} rows read ({} bad rows reported) in {read_secs:.1} s; {} persons registered and sent in {:.1} s",
        report.rows,
        report.errors.len(),
        r.accepted,
        total - read_secs
    );
    println!(
        "  full load total {total:.1} s: {:.0} dose records/s, {:.0} persons/s; peak RSS so far {}",
        report.rows as f64 / total,
        r.accepted as f64 / total,
        rss_text()
    );

    // 1% of persons change: one more dose each, written back to the CSV.
    let changed: Vec<String> = master.persons.keys().step_by(100).cloned().collect();
    // Today is never before anyone's birth nor in the future.
    let today = renkei_vaccination::ledger::today_jst().to_string();
    for uan in &changed {
        if let Some(p) = master.persons.get_mut(uan) {
            p.doses.push(Dose {
                vaccine_code: "COVID".into(),
                dose_number: 9,
                date: today.clone(),
                lot: "BENCH01".into(),
                ..Default::default()
            });
        }
    }
    write_ledger(BufWriter::new(std::fs::File::create(&ledger)?), &master)?;
    drop(master);
    let t1 = Instant::now();
    let again = read_ledger(&ledger, &ReadOptions::default())?;
    let r2 = sync(channel, &again.master, &opts, &NoProgress).await?;
    let inc = t1.elapsed().as_secs_f64();
    println!(
        "  incremental re-run with {} persons changed (1%): {} sent, {} unchanged, {inc:.1} s including reading the CSV",
        changed.len(),
        r2.sent,
        r2.unchanged
    );
    println!(
        "  peak RSS (adapter, gateway and hub in one process): {}",
        rss_text()
    );
    cluster.shutdown().await?;
    Ok(r2.sent == changed.len() as u64)
}
