//! SIGTERM is a graceful stop all the way down: after `renkei demo --serve` is stopped with
//! SIGTERM, every record log it wrote verifies, and its last signed tree head covers every
//! record. (The shipped systemd units stop with SIGTERM; before it was handled, a log of
//! 2,125 records was left with its last head covering 0.)
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod common;
use common::root;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every directory under `dir` that holds a record log (a `heads.log`).
fn logs_under(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.join("heads.log").exists() {
                found.push(path.clone());
            }
            logs_under(&path, found);
        }
    }
}

#[test]
fn after_sigterm_every_log_closes_with_a_head_over_all_its_records() {
    let data = tempfile::tempdir().unwrap();
    let demo = common::demo_serve(data.path(), &[]);
    let (status, _) = demo.sigterm(Duration::from_secs(30));
    let status = status.expect("still running 30 s after SIGTERM");
    assert!(status.success(), "{status:?}");

    let mut logs = Vec::new();
    logs_under(data.path(), &mut logs);
    assert!(
        logs.len() >= 4,
        "the hub's and three tenants' logs: {logs:?}"
    );
    let mut total = 0;
    for log in logs {
        let name = log.file_name().unwrap().to_str().unwrap();
        let keeper = if name.chars().all(|c| c.is_ascii_digit()) {
            name.to_owned()
        } else {
            "hub".to_owned()
        };
        let key = renkei_crypto::read_verifying_key(
            &root()
                .join("certs-dev/keys")
                .join(format!("{keeper}.sign.pub")),
        )
        .unwrap();
        let report = renkei_ledger::verify_log(&log, &key, &mut |_| {}).unwrap();
        assert!(report.is_ok(), "{}: {:?}", log.display(), report.problem);
        assert_eq!(
            report.last_head_size,
            report.records,
            "{}: the closing head must cover every record",
            log.display()
        );
        total += report.records;
    }
    assert!(total > 0, "the demo recorded its exchanges");
}
