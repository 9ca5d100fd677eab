//! A real server process for the crash test: starts a hub and a gateway on loopback in
//! one process over the given data directory, prints their addresses as one JSON line,
//! and serves until killed.
#![forbid(unsafe_code)]

use std::io::Write as _;

use renkei_testkit::cluster::{Cluster, ClusterOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let data = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: renkei-e2e-node DATA_DIR"))?;
    let certs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs-dev");
    let mut cluster = Cluster::start(ClusterOptions::new(certs, data)).await?;
    // RENKEI_E2E_BOOTSTRAP_ADMIN=<tenant>: create the tenant's first administrator (once;
    // after a restart it exists already) and report its one-time password.
    let mut admin_otp = String::new();
    if let Ok(tenant) = std::env::var("RENKEI_E2E_BOOTSTRAP_ADMIN")
        && let Ok(otp) = cluster.gateway.bootstrap_admin(&tenant, "admin", "").await
    {
        admin_otp = otp;
    }
    let line = serde_json::json!({
        "hub": cluster.hub_addr.to_string(),
        "local": cluster.gateway_local_addr.to_string(),
        "network": cluster.gateway_network_addr.to_string(),
        "admin_otp": admin_otp,
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    drop(out);
    Ok(cluster.wait().await?)
}
