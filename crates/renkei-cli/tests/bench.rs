//! The bench commands run end to end and produce the figures they promise. Nothing here
//! checks a timing: only that real work was done without errors and reported in JSON.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn run_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(args)
        // The binary looks for ./certs-dev (it compiles in no source-tree path).
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
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
    // Several calls in flight, the last one short: still every symbol once.
    let v = run_json(&[
        "bench",
        "symbols",
        "--count",
        "300",
        "--chunk",
        "70",
        "--in-flight",
        "3",
        "--json",
    ]);
    assert_eq!(v["reports"][0]["ok"], 300);
    assert_eq!(v["reports"][0]["errors"], 0);
}

/// The figure after `label` in `text`, e.g. "per tenant log 0.660-0.670" → (0.66, 0.67).
fn range_after(text: &str, label: &str) -> (f64, f64) {
    let rest = &text[text
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} in {text}"))
        + label.len()..];
    let figure = rest.split_whitespace().next().unwrap();
    let (a, b) = figure.split_once('-').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn e2e_with_generated_tenants_has_every_tenant_ask_and_answer() {
    let v = run_json(&[
        "bench",
        "e2e",
        "--tenants",
        "3",
        "--vs-baseline",
        "--json",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--persons",
        "10",
        "--concurrency",
        "6",
    ]);
    let reports = v["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    for r in reports {
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["ok"].as_u64().unwrap() > 0, "{r}");
    }
    let extra = |name: &str| {
        reports[0]["extra"]
            .as_array()
            .unwrap()
            .iter()
            .find(|kv| kv[0] == name)
            .map(|kv| kv[1].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no {name:?} figures in {}", reports[0]))
    };
    assert!(
        extra("tenants").starts_with("3 generated tenants"),
        "{}",
        extra("tenants")
    );
    // Each answered inquiry is recorded by its inquirer and its provider, and the hub.
    let logs = extra("record logs");
    assert!(
        logs.starts_with("3 of 3 tenant logs written: 2.00 appends"),
        "{logs}"
    );
    assert!(logs.contains("hub 1.00 appends"), "{logs}");
    // In a ring each tenant both asks and answers: about 2/3 of an append per inquiry each.
    // A tenant that only asked or only answered would have about 1/3.
    let (least, most) = range_after(&logs, "per tenant log ");
    assert!(least > 0.5 && most < 0.8, "{logs}");
}

#[test]
fn e2e_refuses_fewer_than_two_tenants_and_tenants_with_an_external_gateway() {
    for (args, expected) in [
        (
            &["bench", "e2e", "--tenants", "1"][..],
            "--tenants must be at least 2",
        ),
        (
            &["bench", "e2e", "--tenants", "0"][..],
            "--tenants must be at least 2",
        ),
        (
            &["bench", "e2e", "--tenants", "4", "--gateway", "127.0.0.1:1"][..],
            "cannot be combined with --gateway",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_renkei"))
            .args(args)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
