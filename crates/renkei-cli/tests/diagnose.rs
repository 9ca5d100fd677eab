//! `renkei diagnose peers` against a real hub and gateway on loopback.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use renkei_cli::cluster::{Cluster, ClusterOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnose_peers_reports_the_hub_and_each_agency() {
    let certs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../certs-dev");
    let data = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(ClusterOptions::new(&certs, data.path()))
        .await
        .unwrap();
    let addr = cluster.gateway_local_addr.to_string();
    let c = certs.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_renkei"))
            .args(["diagnose", "peers", "--gateway", &addr, "--ca"])
            .arg(c.join("ca.pem"))
            .arg("--cert")
            .arg(c.join("backoffice-141003.pem"))
            .arg("--key")
            .arg(c.join("backoffice-141003.key.pem"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hub_line = stdout.lines().find(|l| l.starts_with("hub")).unwrap();
    assert!(hub_line.contains(" SERVING "), "{stdout}");
    for code in ["011002", "141003", "232025"] {
        let l = stdout.lines().find(|l| l.starts_with(code)).unwrap();
        assert!(l.contains(" SERVING "), "{stdout}");
    }
    assert!(stdout.contains("not connected"), "{stdout}");
    assert!(stdout.trim_end().ends_with("result: OK"), "{stdout}");
    cluster.shutdown().await.unwrap();
}
