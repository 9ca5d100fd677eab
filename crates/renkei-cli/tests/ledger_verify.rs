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
    let (code, out, _) = verify_with(dir, key, json, &[]);
    (code == 0, out)
}

/// Exit code, stdout and stderr of `renkei ledger verify DIR --key KEY EXTRA…`.
fn verify_with(dir: &Path, key: &str, json: bool, extra: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_renkei"));
    cmd.args(["ledger", "verify"])
        .arg(dir)
        .arg("--key")
        .arg(keys().join(key))
        .args(extra);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Offsets of the frames of heads.log: the 8-byte format version, then
/// `len: u32 ‖ check: 4 ‖ body` each (docs/decisions/0078).
fn head_offsets(b: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut off = 8;
    while off + 8 <= b.len() {
        out.push(off);
        let len = u32::from_be_bytes(b[off..off + 4].try_into().unwrap()) as usize;
        off += 8 + len;
    }
    out
}

#[test]
fn verify_passes_a_clean_log_and_fails_an_altered_one_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let (ok, out) = verify(dir.path(), "011002.sign.pub", false);
    assert!(ok, "{out}");
    assert!(out.contains("records    200"), "{out}");
    assert!(out.contains("result     OK"), "{out}");

    // The wrong keeper's key: said so, not called an alteration.
    let (code, out, _) = verify_with(dir.path(), "141003.sign.pub", false, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("result     WRONG KEY: signed by a different key"),
        "{out}"
    );
    assert!(!out.contains("ALTERED"), "{out}");
    assert!(
        out.contains("heads      4 in heads.log, none verified"),
        "{out}"
    );
    assert!(!out.contains("covering 0 records"), "{out}");
    assert!(!out.contains("root "), "{out}");

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
    assert_eq!(v["problem"]["kind"], "altered", "{v}");
    let (code, out, _) = verify_with(dir.path(), "011002.sign.pub", false, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("result     ALTERED: first bad position: record 123"),
        "{out}"
    );
    assert!(
        out.contains("records    123 read before the problem, in"),
        "{out}"
    );
    // Heads at 50 and 100 verified before the record at 123 failed.
    assert!(
        out.contains(
            "heads      4 in heads.log, 2 verified, the last of them covering 100 records"
        ),
        "{out}"
    );
}

#[test]
fn verify_names_the_offset_of_a_damaged_head() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let heads = dir.path().join("heads.log");
    let mut b = std::fs::read(&heads).unwrap();
    let offs = head_offsets(&b);
    assert_eq!(offs.len(), 4);
    // The last byte of head #2's frame is inside its key id: a substituted key.
    let end = offs[3];
    b[end - 1] ^= 0x01;
    std::fs::write(&heads, &b).unwrap();
    let (code, out, _) = verify_with(dir.path(), "011002.sign.pub", true, &[]);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["problem"]["head"], 2, "{v}");
    assert_eq!(v["problem"]["offset"], offs[2], "{v}");
    assert_eq!(v["problem"]["kind"], "altered", "{v}");
    assert_eq!(v["problem"]["record"], 100, "{v}");
    // Its length prefix damaged instead: refused at that frame, not taken as torn.
    let mut b = std::fs::read(&heads).unwrap();
    b[end - 1] ^= 0x01;
    b[offs[1] + 2] ^= 0x40;
    std::fs::write(&heads, &b).unwrap();
    let (code, out, _) = verify_with(dir.path(), "011002.sign.pub", false, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "heads.log at offset {}: the frame of signed tree head #1 is damaged",
            offs[1]
        )),
        "{out}"
    );
    assert!(!out.contains("covering 0 records"), "{out}");
}

#[test]
fn verify_with_the_signing_key_finds_records_appended_without_it() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let signing = keys().join("011002.sign.key");
    let signing = signing.to_str().unwrap();
    let (code, out, err) = verify_with(
        dir.path(),
        "011002.sign.pub",
        false,
        &["--signing-key", signing],
    );
    assert_eq!(code, 0, "{out}{err}");
    // Someone without the key appends two records after the last head.
    let log = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    log.append_blocking(b"forged exchange record".to_vec())
        .unwrap();
    log.append_blocking(b"another one".to_vec()).unwrap();
    drop(log);
    let (code, out, _) = verify_with(
        dir.path(),
        "011002.sign.pub",
        false,
        &["--signing-key", signing],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("result     UNAUTHENTICATED: first bad position: record 200"),
        "{out}"
    );
    assert!(out.contains("unauthenticated records"), "{out}");
    assert!(
        out.contains("(2 such records from here to the end)"),
        "{out}"
    );
    // With the public key alone they are only not yet signed.
    let (code, out, _) = verify_with(dir.path(), "011002.sign.pub", false, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "note       2 records after the last signed head are not yet covered by a signature"
        ),
        "{out}"
    );
    // The keeper's ledger refuses to open it.
    let err = Ledger::open_signed(
        dir.path(),
        LedgerOptions::default(),
        HeadSigner {
            log_id: "011002".into(),
            key: renkei_crypto::read_signing_key(&keys().join("011002.sign.key")).unwrap(),
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("record 200"), "{err}");
}

#[test]
fn verify_exits_2_when_it_cannot_check() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let (code, _, err) = verify_with(dir.path(), "no-such-key.pub", false, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--key"), "{err}");
    // A signing key that is not the private half of --key.
    let other = keys().join("141003.sign.key");
    let (code, _, err) = verify_with(
        dir.path(),
        "011002.sign.pub",
        false,
        &["--signing-key", other.to_str().unwrap()],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not the private half"), "{err}");
    let usage = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(["ledger", "verify"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn verify_refuses_a_missing_directory_clearly() {
    let out = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(["ledger", "verify", "/nonexistent/log", "--key"])
        .arg(keys().join("011002.sign.pub"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
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

#[test]
fn checkpoint_prints_the_latest_head_as_a_signed_note() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let key = keys().join("011002.sign.key");
    let out = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(["ledger", "checkpoint"])
        .arg(dir.path())
        .arg("--signing-key")
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let note = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines.len(), 5, "{note}");
    assert_eq!(lines[0], "renkei/011002");
    assert_eq!(lines[1], "200");
    assert_eq!(lines[3], "");
    assert!(lines[4].starts_with("\u{2014} renkei/011002 "), "{note}");
    // The same note the library signs over the verified head (Ed25519 is deterministic;
    // tests/checkpoint.rs in renkei-ledger verifies such notes independently).
    let signing = renkei_crypto::read_signing_key(&key).unwrap();
    let head = renkei_ledger::read_latest_head(dir.path())
        .unwrap()
        .unwrap();
    let th = renkei_crypto::verify_tree_head(&signing.public_key(), &head).unwrap();
    assert_eq!(
        note,
        renkei_ledger::signed_checkpoint("renkei/011002", &signing, &th).unwrap()
    );
    // Another keeper's key did not sign these heads: refused, exit 2.
    let out = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(["ledger", "checkpoint"])
        .arg(dir.path())
        .arg("--signing-key")
        .arg(keys().join("141003.sign.key"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"));
}
