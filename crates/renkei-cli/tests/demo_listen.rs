//! `renkei demo --serve --listen HOST:PORT --hub-listen HOST:PORT`: the servers stay on the
//! given ports (the README's grpcurl examples use 7400 and 7401), and a port in use is a clear
//! error naming the address.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod common;
use common::{free_port, root, wait_timeout};

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

#[test]
fn demo_serve_listens_on_the_given_ports_and_stops_on_sigterm() {
    let local = free_addr();
    let hub = free_addr();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(["demo", "--serve", "--listen", &local.to_string()])
        .args(["--hub-listen", &hub.to_string()])
        .args(["--data", data.path().to_str().unwrap()])
        .current_dir(root())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if line.starts_with("Serving until") {
                let _ = tx.send(());
            }
            lines.push(line);
        }
        lines
    });
    if rx.recv_timeout(Duration::from_secs(120)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the demo did not start serving: {:?}",
            reader.join().unwrap()
        );
    }
    TcpStream::connect_timeout(&local, Duration::from_secs(5)).unwrap();
    TcpStream::connect_timeout(&hub, Duration::from_secs(5)).unwrap();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_timeout(&mut child, Duration::from_secs(20));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let lines = reader.join().unwrap();
    let status = status.expect("the demo did not stop within 20 s of SIGTERM");
    assert!(status.success(), "{status:?}: {lines:?}");
    let lines = lines.join("\n");
    assert!(
        lines.contains(&format!("gateway, back offices  {local}")),
        "{lines}"
    );
    assert!(
        lines.contains(&format!("hub                    {hub}")),
        "{lines}"
    );
}

#[test]
fn a_port_in_use_is_an_error_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(["demo", "--serve", "--listen", &addr.to_string()])
        .args(["--data", data.path().to_str().unwrap()])
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("binding the gateway's local side to {addr}")),
        "{stderr}"
    );
    drop(taken);
}
