//! The adapter's commands as an operator runs them: the `renkei` binary against a hub and
//! gateway on loopback (mTLS with certs-dev), from gen-data to transfer-in.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use renkei_cli::cluster::{Cluster, ClusterOptions};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn renkei(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_renkei"))
            .args(&args)
            .current_dir(root())
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gen_data_symbols_sync_reconcile_and_transfer_in_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(ClusterOptions::new(
        root().join("certs-dev"),
        data.path().join("cluster"),
    ))
    .await
    .unwrap();
    let gw = cluster.gateway_local_addr.to_string();
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    let conn = |agency: &str| -> Vec<String> {
        args(&["--agency", agency, "--gateway", &gw, "--certs", "certs-dev"])
    };
    let p = |name: &str| d.join(name).display().to_string();

    for sub in ["sync", "symbols", "reconcile", "transfer-in"] {
        let o = renkei(args(&["vaccination", sub, "--help"])).await;
        assert!(
            o.status.success() && text(&o).contains("Example:"),
            "{sub}: {}",
            text(&o)
        );
    }
    let o = renkei(args(&["gen-data", "--help"])).await;
    assert!(text(&o).contains("Example:"));

    let o = renkei(args(&[
        "gen-data",
        "--city",
        "141003",
        "--residents",
        "1500",
        "--seed",
        "3",
        "--out",
        &d.display().to_string(),
    ]))
    .await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("generated 1500 residents"),
        "{}",
        text(&o)
    );

    let mut a = args(&[
        "vaccination",
        "symbols",
        "--export",
        &p("address-export.csv"),
    ]);
    a.extend(conn("141003"));
    let o = renkei(a).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1500 acquired, 0 failed"), "{}", text(&o));

    let ledger = p("vaccinations.csv");
    let sync_args = |agency: &str| {
        let mut a = args(&[
            "vaccination",
            "sync",
            "--ledger",
            &ledger,
            "--state",
            &p("sync.state"),
        ]);
        a.extend(conn(agency));
        a
    };
    let reconcile_args = {
        let mut a = args(&["vaccination", "reconcile", "--ledger", &ledger]);
        a.extend(conn("141003"));
        a
    };
    let o = renkei(sync_args("141003")).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("0 refused"), "{}", text(&o));
    let o = renkei(reconcile_args.clone()).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("match the ledger"), "{}", text(&o));

    // One more dose in the ledger: reconcile fails, a re-sync sends one person, then it matches.
    let csv = std::fs::read_to_string(&ledger).unwrap();
    let first = csv.lines().nth(1).unwrap();
    let cols: Vec<&str> = first.split(',').collect();
    let extra = format!(
        "{},{},{},{},{},{},COVID,7,2024-10-15,0,CV001A,ファイザー,,0,\n",
        cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]
    );
    std::fs::write(&ledger, format!("{csv}{extra}")).unwrap();
    let o = renkei(reconcile_args.clone()).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("1 different"), "{}", text(&o));
    let o = renkei(sync_args("141003")).await;
    assert!(text(&o).contains(" 1 sent"), "{}", text(&o));
    let o = renkei(reconcile_args.clone()).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Transfer-in: the person of that first row moves to 札幌市.
    let uan = cols[1];
    let export = std::fs::read_to_string(d.join("address-export.csv")).unwrap();
    let my_number = export
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{uan},")))
        .unwrap()
        .to_owned();
    std::fs::write(
        d.join("sapporo-export.csv"),
        format!("統合宛名番号,個人番号\n0110029001234,{my_number}\n"),
    )
    .unwrap();
    let mut a = args(&[
        "vaccination",
        "symbols",
        "--export",
        &p("sapporo-export.csv"),
    ]);
    a.extend(conn("011002"));
    assert!(renkei(a).await.status.success());
    let mut a = args(&[
        "vaccination",
        "transfer-in",
        "--uan",
        "0110029001234",
        "--previous-city",
        "141003",
        "--out",
        &p("merged.csv"),
    ]);
    a.extend(conn("011002"));
    let o = renkei(a).await;
    assert!(o.status.success(), "{}", text(&o));
    let expected = csv
        .lines()
        .filter(|l| l.contains(&format!(",{uan},")))
        .count()
        + 1;
    assert!(
        text(&o).contains(&format!("received {expected} doses: {expected} added")),
        "{}",
        text(&o)
    );
    let merged = std::fs::read_to_string(d.join("merged.csv")).unwrap();
    assert_eq!(merged.lines().count(), expected + 1);
    assert!(merged.contains("転入前自治体 141003 の記録"));

    let mut a = args(&[
        "vaccination",
        "transfer-in",
        "--uan",
        "0110029001234",
        "--previous-city",
        "232025",
        "--out",
        &p("wrong.csv"),
        "--format",
        "fhir",
    ]);
    a.extend(conn("011002"));
    let o = renkei(a).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no such person there"), "{}", text(&o));
    assert!(!d.join("wrong.csv").exists());

    // My Numbers never reach the adapter's own files: only the address system's exports hold them.
    for f in ["sync.state", "merged.csv"] {
        let b = std::fs::read_to_string(d.join(f)).unwrap();
        assert!(!b.contains(&my_number), "{f}");
    }
    cluster.shutdown().await.unwrap();
}

/// A FHIR bundle as the local records: gen-data --format fhir → sync from the bundle →
/// reconcile from the bundle, clean; the CSV of the same generated city reconciles clean
/// against the copies the bundle registered (both give the same master); a broken entry is
/// reported with its entry and element, and the rest still matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fhir_bundle_syncs_and_reconciles_like_the_csv_of_the_same_city() {
    let data = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(ClusterOptions::new(
        root().join("certs-dev"),
        data.path().join("cluster"),
    ))
    .await
    .unwrap();
    let gw = cluster.gateway_local_addr.to_string();
    let work = tempfile::tempdir().unwrap();
    let (csv_dir, fhir_dir) = (work.path().join("csv"), work.path().join("fhir"));
    let gen_args = |out: &Path, format: &str| {
        args(&[
            "gen-data",
            "--city",
            "141003",
            "--residents",
            "1200",
            "--seed",
            "4",
            "--today",
            "2026-11-20",
            "--format",
            format,
            "--out",
            &out.display().to_string(),
        ])
    };
    for (dir, format) in [(&csv_dir, "csv"), (&fhir_dir, "fhir")] {
        let o = renkei(gen_args(dir, format)).await;
        assert!(o.status.success(), "{}", text(&o));
    }
    let bundle = fhir_dir.join("vaccinations.fhir.json");
    let ledger = csv_dir.join("vaccinations.csv");
    assert!(bundle.exists() && !fhir_dir.join("vaccinations.csv").exists());
    let conn = args(&[
        "--agency",
        "141003",
        "--gateway",
        &gw,
        "--certs",
        "certs-dev",
    ]);
    let with_conn = |mut a: Vec<String>| {
        a.extend(conn.clone());
        a
    };

    let o = renkei(with_conn(args(&[
        "vaccination",
        "symbols",
        "--export",
        &fhir_dir.join("address-export.csv").display().to_string(),
    ])))
    .await;
    assert!(o.status.success(), "{}", text(&o));

    let state = work.path().join("sync.state").display().to_string();
    let o = renkei(with_conn(args(&[
        "vaccination",
        "sync",
        "--ledger",
        &bundle.display().to_string(),
        "--state",
        &state,
    ])))
    .await;
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("(FHIR)") && out.contains("0 bad entries"),
        "{out}"
    );
    assert!(out.contains("0 refused"), "{out}");

    let reconcile = |path: &Path, extra: &[&str]| {
        let mut a = args(&[
            "vaccination",
            "reconcile",
            "--ledger",
            &path.display().to_string(),
        ]);
        a.extend(args(extra));
        with_conn(a)
    };
    for (path, format) in [(&bundle, "(FHIR)"), (&ledger, "(CSV)")] {
        let o = renkei(reconcile(path, &[])).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(text(&o).contains(format), "{}", text(&o));
        assert!(text(&o).contains("match the ledger"), "{}", text(&o));
    }

    // Forced FHIR on a name auto would read as CSV; then one entry broken: reported with its
    // index and element, its person now differs, everyone else still matches.
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    let entries = doc["entry"].as_array_mut().unwrap();
    let i = entries
        .iter()
        .position(|e| e["resource"]["resourceType"] == "Immunization")
        .unwrap();
    entries[i]["resource"]["vaccineCode"]["coding"][0]["code"] = serde_json::json!("XX");
    let broken = work.path().join("broken.txt");
    std::fs::write(&broken, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let o = renkei(reconcile(&broken, &["--input-format", "fhir"])).await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("1 bad entries"), "{out}");
    assert!(
        out.contains(&format!(
            "Bundle.entry[{i}]: Immunization.vaccineCode: \"XX\" is not a known vaccine code"
        )),
        "{out}"
    );
    assert!(out.contains("1 different"), "{out}");
    let o = renkei(reconcile(&broken, &["--input-format", "csv"])).await;
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("header row"), "{}", text(&o));
    assert!(text(&o).contains("--input-format fhir"), "{}", text(&o));

    // Transfer-in with the new city's local records as a FHIR bundle: a person of the bundle
    // moves to 札幌市, which already knows one of their doses.
    let entries = doc["entry"].as_array().unwrap();
    let (patient, uan) = entries
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Patient")
        .map(|e| {
            (
                e["fullUrl"].as_str().unwrap().to_owned(),
                e["resource"]["identifier"][0]["value"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .find(|(url, _)| {
            // At least 3 doses, none of them the entry broken above.
            let of = |e: &&serde_json::Value| e["resource"]["patient"]["reference"] == url.as_str();
            entries.iter().filter(of).count() >= 3
                && entries
                    .iter()
                    .filter(of)
                    .all(|e| e["resource"]["vaccineCode"]["coding"][0]["code"] != "XX")
        })
        .unwrap();
    let doses: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["resource"]["patient"]["reference"] == patient.as_str())
        .collect();
    assert!(
        doses
            .iter()
            .all(|e| e["resource"]["vaccineCode"]["coding"][0]["code"] != "XX")
    );
    let export = std::fs::read_to_string(fhir_dir.join("address-export.csv")).unwrap();
    let my_number = export
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{uan},")))
        .unwrap()
        .to_owned();
    let sapporo_export = work.path().join("sapporo-export.csv");
    std::fs::write(
        &sapporo_export,
        format!("統合宛名番号,個人番号\n0110029005555,{my_number}\n"),
    )
    .unwrap();
    let sapporo = args(&[
        "--agency",
        "011002",
        "--gateway",
        &gw,
        "--certs",
        "certs-dev",
    ]);
    let mut a = args(&[
        "vaccination",
        "symbols",
        "--export",
        &sapporo_export.display().to_string(),
    ]);
    a.extend(sapporo.clone());
    assert!(renkei(a).await.status.success());
    let mut known = doses[0].clone();
    known["resource"]["patient"]["reference"] = serde_json::json!("urn:uuid:sapporo-1");
    let local = serde_json::json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:sapporo-1", "resource": {"resourceType": "Patient", "identifier": [
            {"system": "http://renkei.invalid/fhir/NamingSystem/unified-address-number/011002",
             "value": "0110029005555"}]}},
        known,
    ]});
    let local_path = work.path().join("sapporo-local.json");
    std::fs::write(&local_path, serde_json::to_vec(&local).unwrap()).unwrap();
    let merged = work.path().join("merged.fhir.json");
    let mut a = args(&[
        "vaccination",
        "transfer-in",
        "--uan",
        "0110029005555",
        "--previous-city",
        "141003",
        "--ledger",
        &local_path.display().to_string(),
        "--out",
        &merged.display().to_string(),
        "--format",
        "fhir",
    ]);
    a.extend(sapporo);
    let o = renkei(a).await;
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("(FHIR): 2 entries"), "{out}");
    let n = doses.len();
    assert!(
        out.contains(&format!(
            "received {n} doses: {} added, 1 already known",
            n - 1
        )),
        "{out}"
    );
    let back: serde_json::Value = serde_json::from_slice(&std::fs::read(&merged).unwrap()).unwrap();
    let immunizations = back["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Immunization")
        .count();
    assert_eq!(immunizations, n);
    cluster.shutdown().await.unwrap();
}
