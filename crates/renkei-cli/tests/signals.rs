//! The binary as a process: a closed stdout pipe is a quiet exit, logs carry no colour codes
//! when redirected (and are JSON with `--log-format json`), SIGTERM is a graceful stop.
#![allow(clippy::unwrap_used)]

mod common;
use common::{free_port, root};

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

#[test]
fn a_closed_stdout_pipe_ends_the_demo_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .arg("demo")
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `renkei demo | head -2`: two lines, then the reader goes away.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
    }
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}

#[cfg(unix)]
/// A hub from deploy/hub.toml on free ports, its data in `dir`.
fn hub_config(dir: &Path) -> PathBuf {
    let deploy = root().join("deploy");
    let certs = format!("\"{}/certs-dev/", root().display());
    let fix = |text: String| {
        text.replace("127.0.0.1:7400", &format!("127.0.0.1:{}", free_port()))
            .replace("127.0.0.1:9465", &format!("127.0.0.1:{}", free_port()))
            .replace("\"../certs-dev/", &certs)
            .replace("\"../../certs-dev/", &certs)
            .replace("\"../data/hub\"", "\"data/hub\"")
    };
    std::fs::create_dir_all(dir.join("master")).unwrap();
    for f in ["master/agencies.toml", "master/whitelist.toml", "hub.toml"] {
        let text = std::fs::read_to_string(deploy.join(f)).unwrap();
        std::fs::write(dir.join(f), fix(text)).unwrap();
    }
    dir.join("hub.toml")
}

/// Runs `renkei <args> hub`, waits until it serves, sends SIGTERM; returns the exit status
/// and the lines it logged.
#[cfg(unix)]
fn hub_until_sigterm(args: &[&str]) -> (Option<ExitStatus>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let config = hub_config(dir.path());
    let mut command = Command::new(env!("CARGO_BIN_EXE_renkei"));
    command
        .args(args)
        .args(["hub", "--config", config.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR");
    common::spawn_until(
        &mut command,
        common::Output::Stderr,
        "hub serving",
        Duration::from_secs(60),
    )
    .sigterm(Duration::from_secs(10))
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_hub_gracefully_and_redirected_logs_have_no_colour_codes() {
    let (status, lines) = hub_until_sigterm(&[]);
    let log = lines.join("\n");
    let status = status.unwrap_or_else(|| panic!("still running 10 s after SIGTERM:\n{log}"));
    assert!(status.success(), "{status:?}:\n{log}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("shutting down") && l.contains("SIGTERM")),
        "{log}"
    );
    assert!(
        !log.contains("\x1b["),
        "colour codes in a redirected log:\n{log}"
    );
}

#[cfg(unix)]
#[test]
fn log_format_json_writes_one_object_a_line() {
    let (status, lines) = hub_until_sigterm(&["--log-format", "json"]);
    let log = lines.join("\n");
    assert!(status.is_some_and(|s| s.success()), "{status:?}:\n{log}");
    let objects: Vec<serde_json::Value> = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let messages: Vec<&str> = objects
        .iter()
        .filter_map(|o| o["fields"]["message"].as_str())
        .collect();
    assert!(messages.contains(&"hub serving"), "{log}");
    assert!(messages.contains(&"shutting down"), "{log}");
}
