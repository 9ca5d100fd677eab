//! The bench commands run end to end and produce the figures they promise. Nothing here
//! checks a timing: only that real work was done without errors and reported in JSON.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn run_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

#[test]
fn e2e_vs_baseline_reports_both_runs_and_their_ratio() {
    let v = run_json(&[
        "bench",
        "e2e",
        "--vs-baseline",
        "--json",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--persons",
        "20",
        "--concurrency",
        "4",
    ]);
    let reports = v["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    for r in reports {
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["ok"].as_u64().unwrap() > 0, "{r}");
        assert!(r["latency"]["p50_us"].as_u64().unwrap() > 0, "{r}");
        assert!(r["latency"]["p99_us"].as_u64() >= r["latency"]["p50_us"].as_u64());
        assert!(r["peak_rss_mb"].as_f64().unwrap() > 1.0);
    }
    // Every answered inquiry is recorded once by each keeper, and the bench says so.
    let logs = reports[0]["extra"]
        .as_array()
        .unwrap()
        .iter()
        .find(|kv| kv[0] == "record logs")
        .map(|kv| kv[1].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no record-log figures in {}", reports[0]));
    for keeper in ["011002", "141003", "hub"] {
        assert!(logs.contains(&format!("{keeper} 1.00 appends")), "{logs}");
    }
    let ratio = v["ratio_e2e_to_baseline"].as_f64().unwrap();
    let expected = reports[0]["throughput_per_s"].as_f64().unwrap()
        / reports[1]["throughput_per_s"].as_f64().unwrap();
    assert!((ratio - expected).abs() < 1e-9);
}

#[test]
fn import_and_symbols_count_every_record() {
    let v = run_json(&["bench", "import", "--records", "300", "--json"]);
    assert_eq!(v["reports"][0]["ok"], 300);
    assert_eq!(v["reports"][0]["errors"], 0);
    let v = run_json(&["bench", "symbols", "--count", "300", "--json"]);
    assert_eq!(v["reports"][0]["ok"], 300);
    assert_eq!(v["reports"][0]["errors"], 0);
}
