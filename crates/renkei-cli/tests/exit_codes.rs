//! One meaning of the exit status on every command (issue 12): 0 done, 1 done but the answer
//! is "no" (differences, pending, altered), 2 could not be done. Before, every error exited 1,
//! so a script could not tell "the log is altered" from "the log could not be read".
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn renkei(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .unwrap()
}

#[test]
fn a_command_that_cannot_run_exits_2() {
    let missing = tempfile::tempdir().unwrap().path().join("no-such-log");
    let out = renkei(&["ledger", "stats", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a directory"));
}

#[test]
fn an_unreachable_gateway_exits_2() {
    let out = renkei(&[
        "diagnose",
        "peers",
        "--gateway",
        "127.0.0.1:1",
        "--cert",
        "certs-dev/backoffice-011002.pem",
        "--key",
        "certs-dev/backoffice-011002.key.pem",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn a_usage_error_exits_2() {
    let out = renkei(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
