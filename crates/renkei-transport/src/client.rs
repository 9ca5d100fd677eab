//! gRPC channels over mutual TLS 1.3.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::{Credentials, Role, TransportError};

/// HTTP/2 keepalive ping timeout: a peer that does not answer a ping within this is gone.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Tunables of [`channel`].
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// TCP connect plus TLS handshake.
    pub connect_timeout: Duration,
    /// Deadline of every request (sent as `grpc-timeout`).
    pub request_timeout: Duration,
    /// HTTP/2 keepalive ping interval, also while idle, so a dead connection is noticed
    /// before the next request needs it.
    pub keepalive_interval: Duration,
    /// If set, the server certificate must name exactly this role (e.g. [`Role::Hub`]), in
    /// addition to chaining to our CA and matching `server_name`.
    pub expected_server_role: Option<Role>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            keepalive_interval: Duration::from_secs(30),
            expected_server_role: None,
        }
    }
}

/// A lazy channel to `endpoint` (`"host:port"`) over mutual TLS 1.3.
///
/// Nothing is connected until the first request; the channel reconnects by itself after a
/// failure. `server_name` is the DNS name or IP address the server certificate must carry.
pub fn channel(
    endpoint: &str,
    server_name: &str,
    creds: &Credentials,
    opts: &ClientOptions,
) -> Result<Channel, TransportError> {
    let config = match &opts.expected_server_role {
        Some(role) => creds.client_config_expecting(role)?,
        None => creds.client_config()?,
    };
    channel_with_config(endpoint, server_name, config, opts)
}

/// Like [`channel`] with a caller-built rustls configuration (tests that need a client
/// without a certificate, or tools). `opts.expected_server_role` is ignored: the
/// configuration's verifier decides. The configuration should advertise ALPN `h2`.
///
/// The endpoint URI uses the `http://` scheme on purpose: tonic is built without its own
/// TLS features, refuses `https://` then, and the connector here does TLS itself.
pub fn channel_with_config(
    endpoint: &str,
    server_name: &str,
    config: Arc<ClientConfig>,
    opts: &ClientOptions,
) -> Result<Channel, TransportError> {
    let bad = |reason: String| TransportError::Endpoint {
        endpoint: endpoint.to_owned(),
        reason,
    };
    if endpoint.contains("://") || endpoint.contains('/') {
        return Err(bad("expected host:port without a scheme or path".into()));
    }
    let uri: Uri = format!("http://{endpoint}")
        .parse()
        .map_err(|e| bad(format!("not a valid host:port: {e}")))?;
    if uri.port_u16().is_none() {
        return Err(bad("a port is required".into()));
    }
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|e| bad(format!("server name {server_name:?}: {e}")))?;
    if opts.connect_timeout.is_zero() || opts.request_timeout.is_zero() {
        return Err(TransportError::Options {
            reason: "connect_timeout and request_timeout must be greater than zero".into(),
        });
    }

    let endpoint_cfg = Endpoint::from(uri)
        .connect_timeout(opts.connect_timeout)
        .timeout(opts.request_timeout)
        .http2_keep_alive_interval(opts.keepalive_interval)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true);

    let connector = TlsConnector::from(config);
    let target = endpoint.to_owned();
    let connect_timeout = opts.connect_timeout;
    let connect = tower::service_fn(move |_: Uri| {
        let connector = connector.clone();
        let name = name.clone();
        let target = target.clone();
        async move {
            let handshake = async {
                let tcp = TcpStream::connect(target.as_str()).await?;
                tcp.set_nodelay(true)?;
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, io::Error>(TokioIo::new(tls))
            };
            match tokio::time::timeout(connect_timeout, handshake).await {
                Ok(Ok(io)) => Ok(io),
                Ok(Err(error)) => {
                    tracing::warn!(endpoint = %target, %error, "connecting to gRPC server failed");
                    Err(error)
                }
                Err(_) => {
                    tracing::warn!(endpoint = %target, "connecting to gRPC server timed out");
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("connecting to {target} timed out"),
                    ))
                }
            }
        }
    });
    Ok(endpoint_cfg.connect_with_connector_lazy(connect))
}
