//! What the binary's process tests share: the workspace root (where `certs-dev/` and
//! `deploy/` are), free loopback ports, waiting for a child with a limit, and running a
//! server (`demo --serve`, `hub`) until it is ready, then stopping it with SIGTERM.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A loopback port free now (bound and released; a race with another process is possible
/// but harmless in tests that would then fail to bind and say so).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The child's exit status, or `None` if it still runs after `limit`.
pub(crate) fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Which output of a child a test watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    Stdout,
    Stderr,
}

/// A child that reached its ready line, with the lines it has written so far still being
/// collected (the other output goes nowhere).
pub(crate) struct Running {
    child: Child,
    reader: std::thread::JoinHandle<Vec<String>>,
}

/// Spawns `command` and waits up to `limit` for a line of `output` containing `ready`;
/// panics with everything the child wrote if it never comes.
pub(crate) fn spawn_until(
    command: &mut Command,
    output: Output,
    ready: &'static str,
    limit: Duration,
) -> Running {
    match output {
        Output::Stdout => command.stdout(Stdio::piped()).stderr(Stdio::null()),
        Output::Stderr => command.stderr(Stdio::piped()).stdout(Stdio::null()),
    };
    let mut child = command.spawn().unwrap();
    let stream: Box<dyn std::io::Read + Send> = match output {
        Output::Stdout => Box::new(child.stdout.take().unwrap()),
        Output::Stderr => Box::new(child.stderr.take().unwrap()),
    };
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if line.contains(ready) {
                let _ = tx.send(());
            }
            lines.push(line);
        }
        lines
    });
    if rx.recv_timeout(limit).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "no {ready:?} within {limit:?}: {:?}",
            reader.join().unwrap()
        );
    }
    Running { child, reader }
}

/// `renkei demo --serve --data <data> <args>` from the workspace root, once it says
/// "Serving until" (the scenarios take a while in a debug build).
pub(crate) fn demo_serve(data: &Path, args: &[&str]) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_renkei"));
    command
        .current_dir(root())
        .args(["demo", "--serve", "--data"])
        .arg(data)
        .args(args)
        .env_remove("RUST_LOG");
    spawn_until(
        &mut command,
        Output::Stdout,
        "Serving until",
        Duration::from_secs(120),
    )
}

impl Running {
    /// Sends SIGTERM and waits up to `limit` for the child to exit (killing it if it does
    /// not); returns its exit status (`None`: still running at `limit`) and every line it
    /// wrote.
    pub(crate) fn sigterm(mut self, limit: Duration) -> (Option<ExitStatus>, Vec<String>) {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let status = wait_timeout(&mut self.child, limit);
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        (status, self.reader.join().unwrap())
    }
}
