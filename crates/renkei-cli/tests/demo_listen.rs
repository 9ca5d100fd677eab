//! `renkei demo --serve --listen HOST:PORT --hub-listen HOST:PORT`: the servers stay on the
//! given ports (the README's grpcurl examples use 7400 and 7401), and a port in use is a clear
//! error naming the address.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod common;
use common::{free_port, root};

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

#[test]
fn demo_serve_listens_on_the_given_ports_and_stops_on_sigterm() {
    let local = free_addr();
    let hub = free_addr();
    let data = tempfile::tempdir().unwrap();
    let demo = common::demo_serve(
        data.path(),
        &[
            "--listen",
            &local.to_string(),
            "--hub-listen",
            &hub.to_string(),
        ],
    );
    TcpStream::connect_timeout(&local, Duration::from_secs(5)).unwrap();
    TcpStream::connect_timeout(&hub, Duration::from_secs(5)).unwrap();
    let (status, lines) = demo.sigterm(Duration::from_secs(20));
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
