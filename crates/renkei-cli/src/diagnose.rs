//! `renkei diagnose …`: system-management checks run against live servers.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use renkei_proto::v1::diagnostics_client::DiagnosticsClient;
use renkei_proto::v1::{PeerResult, PeerStatus, TestPeersRequest};
use renkei_transport::{ClientOptions, Credentials};

#[derive(Debug, Subcommand)]
pub(crate) enum DiagnoseCommand {
    /// Peer connection test: this gateway → the hub → every agency's gateway. Exits
    /// non-zero if the hub or a connected agency does not answer as serving.
    ///
    /// Example: renkei diagnose peers --cert certs-dev/backoffice-011002.pem --key certs-dev/backoffice-011002.key.pem
    Peers {
        /// The gateway's local (back-office) address.
        #[arg(long, default_value = "127.0.0.1:7401")]
        gateway: String,
        /// The name in the gateway's server certificate.
        #[arg(long, default_value = "gateway.renkei.local")]
        server_name: String,
        #[arg(long, default_value = "certs-dev/ca.pem")]
        ca: PathBuf,
        /// A back-office certificate of the tenant to test for.
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        key: PathBuf,
    },
}

fn status_name(s: i32) -> &'static str {
    match PeerStatus::try_from(s).unwrap_or(PeerStatus::Unspecified) {
        PeerStatus::Serving => "SERVING",
        PeerStatus::NotServing => "NOT_SERVING",
        PeerStatus::Unreachable => "UNREACHABLE",
        PeerStatus::NotConnected => "not connected",
        PeerStatus::Unspecified => "unknown",
    }
}

fn line(p: &PeerResult) {
    println!(
        "{:<8} {:<24} {:<22} {:<13} {:>6} ms  {}",
        p.peer,
        p.name,
        p.endpoint,
        status_name(p.status),
        p.latency_ms,
        p.detail
    );
}

pub(crate) async fn run(command: DiagnoseCommand) -> anyhow::Result<bool> {
    let DiagnoseCommand::Peers {
        gateway,
        server_name,
        ca,
        cert,
        key,
    } = command;
    let creds = Credentials::load(&ca, &cert, &key).context("loading the client certificate")?;
    let channel =
        renkei_transport::channel(&gateway, &server_name, &creds, &ClientOptions::default())?;
    let resp = DiagnosticsClient::new(channel)
        .test_peers(TestPeersRequest {})
        .await
        .with_context(|| format!("asking the gateway at {gateway}"))?
        .into_inner();
    let mut ok = true;
    if let Some(hub) = &resp.hub {
        line(hub);
        ok &= hub.status == PeerStatus::Serving as i32;
    }
    for a in &resp.agencies {
        line(a);
        ok &= a.status == PeerStatus::Serving as i32 || a.status == PeerStatus::NotConnected as i32;
    }
    println!("result: {}", if ok { "OK" } else { "PROBLEM" });
    Ok(ok)
}
