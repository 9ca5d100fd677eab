//! Demo scenario f: the vaccination adapter end to end, through the same library calls the
//! `renkei vaccination` commands make: generate a city's ledger, acquire symbols, register
//! copies, reconcile, move a child to another city and fetch the child's history there.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use renkei_testkit::cluster::Cluster;
use renkei_vaccination::client::NoProgress;
use renkei_vaccination::generate::{GenOptions, GenSinks, generate, my_number_of};
use renkei_vaccination::ledger::{ReadOptions, read_ledger_bytes};
use renkei_vaccination::symbols::{acquire_all, parse_address_export};
use renkei_vaccination::sync::{SyncOptions, sync};
use renkei_vaccination::transfer::{TransferOptions, TransferOutcome, ask_previous_city, merge};
use renkei_vaccination::{Person, TextEncoding};

const SAPPORO: &str = "011002";
const YOKOHAMA: &str = "141003";
const OKAZAKI: &str = "232025";
const SEED: u64 = 2;

pub(crate) async fn scenario_f(cluster: &Cluster) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let (mut ledger, mut residents, mut export) = (Vec::new(), Vec::new(), Vec::new());
    let opts = GenOptions {
        seed: SEED,
        residents: 1500,
        city: YOKOHAMA.into(),
        today: renkei_vaccination::ledger::today_jst(),
        anomalies: true,
    };
    let summary = {
        let mut sinks = GenSinks::new(&mut ledger, &mut residents, &mut export)?;
        let s = generate(&opts, &mut sinks, |_| {})?;
        sinks.finish()?;
        s
    };
    println!(
        "  gen-data: 横浜市's 予防接種台帳 for {} residents (seed {SEED}): {} persons with records, {} dose rows,",
        summary.residents, summary.persons_with_records, summary.dose_rows
    );
    println!(
        "    with {} doses of unknown date, {} given outside the city, {} duplicate persons and {} bad rows",
        summary.unknown_dates, summary.outside_city, summary.duplicate_persons, summary.bad_rows
    );
    let report = read_ledger_bytes(
        "vaccinations.csv",
        &ledger,
        &ReadOptions::default(),
        TextEncoding::Utf8,
    )?;
    println!(
        "  the adapter read {} rows: {} persons, {} bad rows reported and left out",
        report.rows,
        report.master.persons.len(),
        report.errors.len()
    );
    for e in report.errors.iter().take(2) {
        println!("    bad row: {e}");
    }
    ensure!(
        report.errors.len() as u64 == summary.bad_rows,
        "the adapter reported {} bad rows, the generator seeded {}",
        report.errors.len(),
        summary.bad_rows
    );
    let master = report.master;

    let (entries, errors) = parse_address_export("address-export.csv", &export)?;
    ensure!(errors.is_empty(), "bad rows in the address export");
    let symbols = acquire_all(cluster.backoffice(YOKOHAMA)?, entries, 1000, &NoProgress).await?;
    println!(
        "  symbols: {} acquired from the address system's export (My Numbers held in memory only)",
        symbols.acquired
    );
    ensure!(symbols.failed.is_empty(), "symbol acquisition failed");

    let state = work.path().join("sync.state");
    let started = Instant::now();
    let r = sync(
        cluster.backoffice(YOKOHAMA)?,
        &master,
        &SyncOptions::new(&state),
        &NoProgress,
    )
    .await?;
    println!(
        "  sync: {} provision copies registered through the bulk import in {:.0} ms; a re-run sends only changed persons:",
        r.accepted,
        started.elapsed().as_secs_f64() * 1000.0
    );
    ensure!(
        r.refused.is_empty(),
        "copies refused: {:?}",
        r.refused.first()
    );
    let again = sync(
        cluster.backoffice(YOKOHAMA)?,
        &master,
        &SyncOptions::new(&state),
        &NoProgress,
    )
    .await?;
    println!("    {} sent, {} unchanged", again.sent, again.unchanged);
    ensure!(again.sent == 0, "an unchanged re-run sent {}", again.sent);
    let rec = renkei_vaccination::reconcile::reconcile(
        cluster.backoffice(YOKOHAMA)?,
        &master,
        &NoProgress,
    )
    .await?;
    println!(
        "  reconcile: {} persons match, {} missing, {} extra, {} different",
        rec.matched,
        rec.missing.len(),
        rec.extra.len(),
        rec.different.len()
    );
    // 横浜市 also holds the copies the demo registered before this scenario (13-digit
    // numbers); every generated person (14 digits) must match.
    let generated_extra = rec.extra.iter().filter(|u| u.len() == 14).count();
    println!(
        "    (the {} extra are the demo's earlier residents, registered before this ledger was generated)",
        rec.extra.len()
    );
    ensure!(
        rec.missing.is_empty() && rec.different.is_empty() && generated_extra == 0,
        "the gateway's copies differ from the ledger"
    );

    // A child moves to 札幌市.
    let Some((uan, child)) = master
        .persons
        .iter()
        .find(|(_, p)| p.doses.len() >= 6 && p.doses.iter().all(|d| !d.date_unknown))
    else {
        bail!("no child with a full record in the generated city");
    };
    let i: u64 = uan.get(5..).unwrap_or("0").parse()?;
    let new_uan = "0110029100001";
    let export = format!(
        "統合宛名番号,個人番号\n{new_uan},{}\n",
        my_number_of(SEED, i)
    );
    let (entries, _) = parse_address_export("sapporo", export.as_bytes())?;
    acquire_all(cluster.backoffice(SAPPORO)?, entries, 10, &NoProgress).await?;
    println!(
        "  a child ({uan} in 横浜市, {} doses) moves to 札幌市 and becomes {new_uan};",
        child.doses.len()
    );
    let mut local = Person::default();
    let mut known = child.doses[0].clone();
    known.date.clear();
    known.date_unknown = true;
    known.remarks = "母子健康手帳より（日付不明）".into();
    local.doses.push(known);
    println!(
        "    札幌市 knows one dose from the 母子健康手帳, without its date: {} dose {}",
        child.doses[0].vaccine_code, child.doses[0].dose_number
    );
    let opts = TransferOptions {
        unified_address_number: new_uan.into(),
        previous_city: YOKOHAMA.into(),
        inquiry_id: None,
        idempotency_key: Some("demo-e-transfer-in".into()),
        wait: Duration::from_secs(20),
        case_reference: "転入 demo-e".into(),
    };
    let (inquiry, outcome) = ask_previous_city(cluster.backoffice(SAPPORO)?, &opts).await?;
    let TransferOutcome::Answered { received } = outcome else {
        bail!("expected an answer from 横浜市, got {outcome:?}");
    };
    let m = merge(&mut local, &received, YOKOHAMA);
    println!(
        "  transfer-in: inquiry {} answered with {} doses; {} added, {} already known ({} dated by the answer)",
        inquiry.inquiry_id,
        received.len(),
        m.added,
        m.already_known,
        m.dated
    );
    ensure!(
        local.doses.len() == child.doses.len() && m.already_known == 1,
        "the merge should hold each of the {} doses once, it holds {}",
        child.doses.len(),
        local.doses.len()
    );
    println!("  the merged history in 札幌市's ledger:");
    println!(
        "    {:<12} {:>4}  {:<10}  {:<8}  市外",
        "vaccine", "dose", "date", "lot"
    );
    for d in &local.doses {
        println!(
            "    {:<12} {:>4}  {:<10}  {:<8}  {}",
            d.vaccine_code,
            d.dose_number,
            d.date,
            d.lot,
            if d.outside_city { "yes" } else { "" }
        );
    }
    let wrong = TransferOptions {
        previous_city: OKAZAKI.into(),
        idempotency_key: Some("demo-e-wrong-city".into()),
        ..opts
    };
    let (_, outcome) = ask_previous_city(cluster.backoffice(SAPPORO)?, &wrong).await?;
    match outcome {
        TransferOutcome::NoSuchPerson { message } => {
            println!(
                "  with a wrong previous-city code (岡崎市): no such person there ({message})"
            );
        }
        other => bail!("a wrong previous-city code gave {other:?}"),
    }
    Ok(())
}
