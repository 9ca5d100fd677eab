//! `renkei console`: the operator console (中間サーバー接続端末) in a browser.
//!
//! The same connection flags as `renkei ops` (and the same environment variables): the
//! console is one more terminal of the gateway, with the terminal's certificate, and the
//! gateway keeps authority over sessions, rights, lockout, idle logout and audit.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use renkei_console::{ConsoleOptions, Gateway};
use tokio::net::TcpListener;

#[derive(Debug, Args)]
pub(crate) struct ConsoleArgs {
    /// Where browsers connect. Loopback by default: the browser runs on the terminal.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The gateway's local side ("host:port").
    #[arg(long, env = "RENKEI_GATEWAY", default_value = "127.0.0.1:7401")]
    gateway: String,
    /// TLS server name of the gateway.
    #[arg(
        long,
        env = "RENKEI_GATEWAY_NAME",
        default_value = "gateway.renkei.local"
    )]
    server_name: String,
    /// CA certificate.
    #[arg(long, env = "RENKEI_CA", default_value = "certs-dev/ca.pem")]
    ca: PathBuf,
    /// This terminal's certificate (urn:renkei:terminal:<agency>:<name>) and key.
    #[arg(long, env = "RENKEI_TERMINAL_CERT")]
    cert: PathBuf,
    #[arg(long, env = "RENKEI_TERMINAL_KEY")]
    key: PathBuf,
    /// Serve HTTPS with this certificate chain and key (PEM); cookies are then `Secure`.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

pub(crate) async fn run(
    a: ConsoleArgs,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<bool> {
    let gateway = Gateway::connect(&a.gateway, &a.server_name, &a.ca, &a.cert, &a.key)?;
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Some(renkei_console::tls_config(c, k)?),
        _ => None,
    };
    let opts = ConsoleOptions {
        gateway,
        secure_cookies: tls.is_some(),
        clock: renkei_core::SystemClock::shared(),
    };
    let listener = TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("binding {}", a.listen))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!(
        "console: open {scheme}://{} in a browser on this terminal",
        a.listen
    );
    match tls {
        Some(t) => renkei_console::serve_tls(listener, t, opts, stop).await?,
        None => renkei_console::serve(listener, opts, stop).await?,
    }
    Ok(true)
}
