//! The operator console: the 中間サーバー接続端末 in a browser (issue 15).
//!
//! A small web server that renders every page itself and talks to the gateway only as a
//! gRPC client with the terminal's certificate, exactly as `renkei ops` does. The gateway
//! therefore stays the one authority over operator sessions, rights, lockout, idle logout
//! and the audit log; the console keeps nothing but, per browser, an opaque cookie that
//! maps to the gateway's session token and a CSRF token (docs/decisions/0079).
//!
//! Pages are server-rendered HTML (maud) with one embedded stylesheet and one embedded
//! script; no inline script or style, so the Content-Security-Policy can forbid both.
//! Nothing personal goes into a URL: every search that names a person is a POST.
#![forbid(unsafe_code)]
// Handlers return `Result<_, Response>`: a refusal is already the page to send, which is
// the axum idiom, and a response is large by nature.
#![allow(clippy::result_large_err)]

mod csv_out;
mod error;
mod gateway;
mod i18n;
mod pages;
mod session;
mod svg;
mod web;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use renkei_core::SharedClock;
use tokio::net::TcpListener;

pub use error::ConsoleError;
pub use gateway::Gateway;
pub use i18n::Lang;

/// How the console reaches the gateway and how it serves browsers.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// The gateway connection, with the terminal's certificate.
    pub gateway: Gateway,
    /// Marks the session cookie `Secure`: set when the console is served over TLS.
    pub secure_cookies: bool,
    /// Wall clock for the console's own idle check (tests use a FakeClock).
    pub clock: SharedClock,
}

/// Shared state behind every page.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) gateway: Gateway,
    pub(crate) sessions: session::Sessions,
    pub(crate) secure_cookies: bool,
    pub(crate) clock: SharedClock,
}

/// The whole console as an axum router, for serving or for tests.
pub fn router(opts: ConsoleOptions) -> axum::Router {
    let app = Arc::new(App {
        gateway: opts.gateway,
        sessions: session::Sessions::default(),
        secure_cookies: opts.secure_cookies,
        clock: opts.clock,
    });
    pages::routes(app)
}

/// Serves plain HTTP until `shutdown` resolves. Meant for loopback (the default listen
/// address), where the operator's browser and the console share one machine.
pub async fn serve(
    listener: TcpListener,
    opts: ConsoleOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ConsoleError> {
    let addr = listener.local_addr().ok();
    tracing::info!(?addr, "console listening (http)");
    axum::serve(listener, router(opts))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| ConsoleError::Serve(e.to_string()))
}

/// Loads a PEM certificate chain and key for serving HTTPS to browsers (no client
/// certificate: operators authenticate with their password at the gateway).
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ConsoleError> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &Path, e: &dyn std::fmt::Display| {
        ConsoleError::Tls(format!("{}: {e}", what.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, &e))?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConsoleError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| ConsoleError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves HTTPS until `shutdown` resolves; cookies should then be `Secure`
/// ([`ConsoleOptions::secure_cookies`]).
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    opts: ConsoleOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ConsoleError> {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let app = router(opts);
    let addr = listener.local_addr().ok();
    tracing::info!(?addr, "console listening (https)");
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer): (_, SocketAddr) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
