//! `renkei ledger verify` as an operator runs it: exit status and the first bad position.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use renkei_ledger::{HeadSigner, Ledger, LedgerOptions};

fn keys() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs-dev/keys")
}

fn build(dir: &Path) {
    let log = Ledger::open_signed(
        dir,
        LedgerOptions {
            segment_bytes: 2000,
        },
        HeadSigner {
            log_id: "011002".into(),
            key: renkei_crypto::read_signing_key(&keys().join("011002.sign.key")).unwrap(),
        },
    )
    .unwrap();
    for i in 0..200u32 {
        log.append_blocking(format!("exchange record {i:05}").into_bytes())
            .unwrap();
        if i % 50 == 49 {
            log.sign_head(i64::from(i)).unwrap();
        }
    }
}

fn verify(dir: &Path, key: &str, json: bool) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_renkei"));
    cmd.args(["ledger", "verify"])
        .arg(dir)
        .arg("--key")
        .arg(keys().join(key));
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn verify_passes_a_clean_log_and_fails_an_altered_one_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let (ok, out) = verify(dir.path(), "011002.sign.pub", false);
    assert!(ok, "{out}");
    assert!(out.contains("records    200"), "{out}");
    assert!(out.contains("result     OK"), "{out}");

    // The wrong keeper's key: heads do not verify.
    let (ok, out) = verify(dir.path(), "141003.sign.pub", false);
    assert!(!ok, "{out}");
    assert!(out.contains("signed tree head #0"), "{out}");

    // Flip one byte inside record 123's entry.
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("seg-"))
        .collect();
    segs.sort();
    let needle = b"exchange record 00123";
    let (seg, at) = segs
        .iter()
        .find_map(|s| {
            let b = std::fs::read(s).unwrap();
            b.windows(needle.len())
                .position(|w| w == needle)
                .map(|p| (s.clone(), p))
        })
        .unwrap();
    let mut b = std::fs::read(&seg).unwrap();
    b[at + needle.len() - 1] = b'9';
    std::fs::write(&seg, &b).unwrap();
    let (ok, out) = verify(dir.path(), "011002.sign.pub", true);
    assert!(!ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problem"]["record"], 123, "{v}");
}

#[test]
fn verify_refuses_a_missing_directory_clearly() {
    let out = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(["ledger", "verify", "/nonexistent/log", "--key"])
        .arg(keys().join("011002.sign.pub"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a directory"), "{err}");
}

#[test]
fn stats_counts_a_log_by_day_procedure_direction_and_outcome() {
    use prost::Message as _;
    use renkei_proto::v1::{Direction, ExchangeRecord, Outcome};
    let dir = tempfile::tempdir().unwrap();
    let log = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    // 2025-11-23 10:00 JST, and the next day.
    let day1 = 1_763_859_600_000i64;
    let day2 = day1 + 86_400_000;
    let rows = [
        (day1, Direction::Inquiry, Outcome::Provided),
        (day1, Direction::Inquiry, Outcome::Refused),
        (day1, Direction::Provision, Outcome::Held),
        (day2, Direction::Inquiry, Outcome::Provided),
        (day2, Direction::Inquiry, Outcome::Provided),
    ];
    for (t, d, o) in rows {
        let r = ExchangeRecord {
            recorded_at_ms: t,
            procedure: "vaccination".into(),
            direction: d as i32,
            outcome: o as i32,
            ..Default::default()
        };
        log.append_blocking(r.encode_to_vec()).unwrap();
    }
    drop(log);
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_renkei"))
            .args(["ledger", "stats"])
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        run(&["--csv"]),
        "day,procedure,direction,outcome,count\n\
         2025-11-23,vaccination,inquiry,provided,1\n\
         2025-11-23,vaccination,inquiry,refused,1\n\
         2025-11-23,vaccination,provision,held,1\n\
         2025-11-24,vaccination,inquiry,provided,2\n"
    );
    assert_eq!(
        run(&["--csv", "--since", "2025-11-24"]),
        "day,procedure,direction,outcome,count\n2025-11-24,vaccination,inquiry,provided,2\n"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(["ledger", "stats"])
        .arg(dir.path())
        .args(["--since", "23/11/2025"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("YYYY-MM-DD"));
}
