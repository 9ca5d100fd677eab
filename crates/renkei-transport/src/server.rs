//! The gRPC server every Renkei node runs: mutual TLS 1.3, identities from certificates,
//! per-caller rate limits, health and reflection.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_rustls::TlsAcceptor;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::Routes;
use tonic::transport::server::Connected;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

use crate::edge::{EdgeLayer, RequestGate};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimitLayer;
use crate::{Credentials, PeerIdentity, RateLimit, Role, TransportError};

/// Default cap on one decoded gRPC message.
///
/// tonic applies the limit per generated service, so the hub and gateway must set it on each
/// of their services: `XServer::new(svc).max_decoding_message_size(opts.max_message_bytes)`.
/// [`serve`] does so for the health and reflection services it adds.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Cap on the HTTP/2 header block of one request. gRPC metadata is small; hyper's default
/// (16 MiB) would let a peer make us buffer large headers before any handler runs.
const MAX_HEADER_LIST_BYTES: u32 = 64 * 1024;

/// TLS handshakes allowed in flight at once. Beyond this, new TCP connections are dropped
/// immediately, so a flood of half-open handshakes cannot exhaust memory or tasks; each one
/// also ends after `handshake_timeout`.
const MAX_PENDING_HANDSHAKES: usize = 1024;

/// Authenticated connections waiting for the HTTP/2 server to pick them up.
const ACCEPTED_QUEUE: usize = 64;

/// After a failed `accept` (e.g. out of file descriptors), pause before retrying instead of
/// spinning.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Server-side HTTP/2 keepalive: detects peers that vanished without closing the connection.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Tunables of [`serve`].
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Largest decoded message accepted by the health and reflection services; the caller
    /// applies the same value to its own services (see [`DEFAULT_MAX_MESSAGE_BYTES`]).
    pub max_message_bytes: usize,
    /// Deadline of every request (a shorter client `grpc-timeout` wins).
    pub request_timeout: Duration,
    /// Per (caller identity, method) rate limit.
    pub rate_limit: RateLimit,
    /// HTTP/2 streams one connection may have open at once.
    pub max_concurrent_streams: u32,
    /// Time a client has to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Where every call is counted and timed (per method and outcome); `None` records nothing.
    pub metrics: Option<Metrics>,
    /// Admission check run before any handler, e.g. refusing new work during maintenance.
    pub gate: Option<Arc<dyn RequestGate>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            request_timeout: Duration::from_secs(30),
            rate_limit: RateLimit::default(),
            max_concurrent_streams: 256,
            handshake_timeout: Duration::from_secs(10),
            metrics: None,
            gate: None,
        }
    }
}

impl ServerOptions {
    fn validate(&self) -> Result<(), TransportError> {
        let zero = |what: &str| {
            Err(TransportError::Options {
                reason: format!("{what} must be greater than zero"),
            })
        };
        if self.max_message_bytes == 0 {
            return zero("max_message_bytes");
        }
        if self.request_timeout.is_zero() {
            return zero("request_timeout");
        }
        if self.max_concurrent_streams == 0 {
            return zero("max_concurrent_streams");
        }
        if self.handshake_timeout.is_zero() {
            return zero("handshake_timeout");
        }
        Ok(())
    }
}

/// Controls what the standard `grpc.health.v1.Health` service reports.
///
/// [`serve`] makes its own; to change statuses while serving, make one with
/// [`HealthHandle::new`], keep a clone, and pass it to [`serve_with_health`]. Statuses are
/// per service name (e.g. `"renkei.v1.Hub"`); `""` is the whole server. On shutdown every
/// listed service and `""` are set to `NOT_SERVING` before connections drain, so load
/// balancers and watchers stop sending work first.
#[derive(Clone, Debug, Default)]
pub struct HealthHandle {
    reporter: HealthReporter,
}

impl HealthHandle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports `service` as `SERVING`.
    pub async fn set_serving(&self, service: &str) {
        self.set_status(service, ServingStatus::Serving).await;
    }

    /// Reports `service` as `NOT_SERVING` (e.g. while a dependency is down).
    pub async fn set_not_serving(&self, service: &str) {
        self.set_status(service, ServingStatus::NotServing).await;
    }

    pub async fn set_status(&self, service: &str, status: ServingStatus) {
        tracing::info!(service, ?status, "health status set");
        self.reporter.set_service_status(service, status).await;
    }

    /// The underlying tonic-health reporter, for anything this type does not wrap.
    pub fn reporter(&self) -> &HealthReporter {
        &self.reporter
    }

    fn service(&self, max_message_bytes: usize) -> HealthServer<HealthService> {
        HealthServer::new(HealthService::from_health_reporter(self.reporter.clone()))
            .max_decoding_message_size(max_message_bytes)
    }
}

/// Binds a listener, naming the address in the error.
pub async fn bind(addr: &str) -> Result<TcpListener, TransportError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| TransportError::Bind {
            addr: addr.to_owned(),
            source,
        })
}

/// Serves `routes` over mutual TLS 1.3 until `shutdown` completes, with health and
/// reflection added. See [`serve_with_health`]; this variant owns its health statuses
/// (every name in `health_services`, and `""`, report `SERVING`).
pub async fn serve(
    listener: TcpListener,
    creds: &Credentials,
    routes: Routes,
    health_services: &[&'static str],
    opts: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TransportError> {
    serve_with_health(
        listener,
        creds,
        routes,
        HealthHandle::new(),
        health_services,
        opts,
        shutdown,
    )
    .await
}

/// The gRPC services every server adds to its own, as reflection names them.
pub(crate) const STANDARD_SERVICES: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Reflection that describes the whole API but lists only the services this port serves:
/// a port that listed the other side's services sent tools to methods that answer
/// UNIMPLEMENTED. Both protocol versions are served, because grpcio-reflection, grpcui,
/// Evans and Postman speak only v1alpha.
fn reflection(served: &[&'static str]) -> tonic_reflection::server::Builder<'static> {
    let builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(renkei_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .include_reflection_service(false);
    served
        .iter()
        .copied()
        .chain(STANDARD_SERVICES)
        .fold(builder, |b, name| b.with_service_name(name))
}

/// Serves `routes` over mutual TLS 1.3 until `shutdown` completes.
///
/// - Each TLS handshake runs in its own task, bounded by `opts.handshake_timeout`, so a slow
///   or silent client cannot stall `accept`.
/// - A client certificate is required and must chain to our CA; a connection whose
///   certificate lacks exactly one valid Renkei identity URI is dropped (logged at `warn`).
/// - Handlers find the caller's [`PeerIdentity`] in request extensions (use [`crate::peer`]).
/// - Every request passes `opts.gate` (if any), is counted in `opts.metrics` (if any) by
///   method and outcome, and
/// - every request, including health and reflection, passes the per (identity, method) rate
///   limiter, which answers `RESOURCE_EXHAUSTED` when the quota is spent.
/// - `grpc.health.v1.Health` reports `health` (each of `health_services` is set to
///   `SERVING` now), and reflection (v1 and v1alpha) describes the API and lists the
///   services of `health_services` with health and reflection.
///
/// `routes` must not already contain the health or reflection services (axum would refuse
/// the duplicate route). On shutdown the listener closes, health turns `NOT_SERVING`, and
/// in-flight requests get up to `opts.request_timeout` to finish before this returns (calls
/// still running then, such as endless streams, are left to end with the process).
pub async fn serve_with_health(
    listener: TcpListener,
    creds: &Credentials,
    routes: Routes,
    health: HealthHandle,
    health_services: &[&'static str],
    opts: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TransportError> {
    opts.validate()?;
    let own_role = creds.own_role()?;
    let acceptor = TlsAcceptor::from(creds.server_config()?);
    let rate_limit = RateLimitLayer::new(opts.rate_limit)?;
    let reflection_error = |e: tonic_reflection::server::Error| TransportError::Reflection {
        reason: e.to_string(),
    };
    let reflection_v1 = reflection(health_services)
        .build_v1()
        .map_err(reflection_error)?
        .max_decoding_message_size(opts.max_message_bytes);
    let reflection_v1alpha = reflection(health_services)
        .build_v1alpha()
        .map_err(reflection_error)?
        .max_decoding_message_size(opts.max_message_bytes);
    let local_addr = listener
        .local_addr()
        .map_err(|source| TransportError::Bind {
            addr: "<listener>".into(),
            source,
        })?;

    for name in health_services {
        health.set_serving(name).await;
    }

    let (tx, rx) = mpsc::channel(ACCEPTED_QUEUE);
    let _accept = AbortOnDrop(tokio::spawn(accept_loop(
        listener,
        acceptor,
        opts.handshake_timeout,
        tx,
    )));
    let _housekeeping = AbortOnDrop(tokio::spawn(rate_limit.clone().housekeeping()));
    let incoming = ReceiverStream::new(rx).map(Ok::<_, io::Error>);

    let names: Vec<&'static str> = health_services.to_vec();
    let health_on_shutdown = health.clone();
    let (draining_tx, draining_rx) = oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutdown requested: reporting NOT_SERVING and draining connections");
        for name in names.into_iter().chain([""]) {
            health_on_shutdown.set_not_serving(name).await;
        }
        let _ = draining_tx.send(());
    };
    // tonic waits for every connection to finish after the signal, and a streaming call
    // (e.g. a health Watch) may never finish; give in-flight work one request timeout.
    let drain_period = opts.request_timeout;
    let drain_expired = async move {
        if draining_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(drain_period).await;
    };

    tracing::info!(
        addr = %local_addr,
        role = %own_role,
        rate_per_second = opts.rate_limit.per_second,
        rate_burst = opts.rate_limit.burst,
        "serving gRPC over mutual TLS 1.3"
    );
    let server = tonic::transport::Server::builder()
        .timeout(opts.request_timeout)
        .max_concurrent_streams(opts.max_concurrent_streams)
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        // Outermost, so refusals by the gate and the rate limiter are counted too.
        .layer(EdgeLayer {
            metrics: opts.metrics.clone(),
            gate: opts.gate.clone(),
        })
        .layer(rate_limit)
        .add_routes(routes)
        .add_service(health.service(opts.max_message_bytes))
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(incoming, signal);
    let result = tokio::select! {
        result = server => result,
        () = drain_expired => {
            tracing::warn!(
                addr = %local_addr,
                drain_ms = u64::try_from(drain_period.as_millis()).unwrap_or(u64::MAX),
                "connections still open after the drain period; stopping without them"
            );
            Ok(())
        }
    };
    match &result {
        Ok(()) => tracing::info!(addr = %local_addr, "server stopped"),
        Err(e) => tracing::error!(addr = %local_addr, error = %e, "server failed"),
    }
    result.map_err(|source| TransportError::Serve { source })
}

/// Accepts TCP connections and hands each to its own handshake task until the server stops
/// listening (the receiver of `tx` is dropped).
async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    tx: mpsc::Sender<TlsServerStream>,
) {
    let pending = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        let (tcp, addr) = tokio::select! {
            () = tx.closed() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "accepting a TCP connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            },
        };
        let Ok(permit) = pending.clone().try_acquire_owned() else {
            tracing::warn!(
                peer = %addr,
                limit = MAX_PENDING_HANDSHAKES,
                "too many TLS handshakes in progress; connection dropped"
            );
            continue;
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(peer = %addr, %error, "could not set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Err(_) => {
                    tracing::warn!(
                        peer = %addr,
                        timeout_ms = u64::try_from(handshake_timeout.as_millis()).unwrap_or(u64::MAX),
                        "TLS handshake timed out; connection dropped"
                    );
                    return;
                }
                Ok(Err(error)) if error.kind() == io::ErrorKind::UnexpectedEof => {
                    // TCP probes (port checks, load balancers) close without a ClientHello;
                    // not worth a warning.
                    tracing::debug!(peer = %addr, "connection closed during TLS handshake");
                    return;
                }
                Ok(Err(error)) => {
                    tracing::warn!(
                        peer = %addr,
                        reason = %handshake_failure_reason(&error),
                        "TLS handshake failed; connection dropped"
                    );
                    return;
                }
                Ok(Ok(tls)) => tls,
            };
            match authenticate(tls.get_ref().1, addr) {
                Ok(peer) => {
                    tracing::debug!(
                        peer = %addr,
                        role = %peer.role,
                        cert_sha256 = %peer.cert_fingerprint_hex(),
                        "client authenticated"
                    );
                    // Fails only when the server is shutting down; the connection is dropped.
                    let _ = tx.send(TlsServerStream { inner: tls, peer }).await;
                }
                Err(reason) => {
                    tracing::warn!(
                        peer = %addr,
                        %reason,
                        "client certificate carries no usable Renkei identity; connection dropped"
                    );
                }
            }
        });
    }
}

/// Why a handshake failed, in words: our own identity check's message when it was the one
/// that refused the certificate (rustls would otherwise print it in `Debug` form).
fn handshake_failure_reason(error: &io::Error) -> String {
    match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) => {
            format!("client certificate refused: {}", other.0)
        }
        _ => error.to_string(),
    }
}

/// The identity of a completed handshake. rustls has already verified the chain; this reads
/// the role and double-checks the protocol version so that a configuration change elsewhere
/// cannot quietly admit TLS 1.2.
fn authenticate(conn: &rustls::ServerConnection, addr: SocketAddr) -> Result<PeerIdentity, String> {
    if conn.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
        return Err(format!(
            "negotiated {:?}, only TLS 1.3 is allowed",
            conn.protocol_version()
        ));
    }
    let leaf = conn
        .peer_certificates()
        .and_then(|certs| certs.first())
        .ok_or_else(|| "no client certificate".to_owned())?;
    let role = Role::from_cert_der(leaf).map_err(|e| e.to_string())?;
    let digest = ring::digest::digest(&ring::digest::SHA256, leaf);
    let mut cert_sha256 = [0u8; 32];
    cert_sha256.copy_from_slice(digest.as_ref());
    Ok(PeerIdentity {
        role,
        remote_addr: Some(addr),
        cert_sha256,
    })
}

/// An authenticated server-side TLS connection. Its `ConnectInfo` is the peer's identity,
/// which tonic copies into the extensions of every request on the connection.
struct TlsServerStream {
    inner: tokio_rustls::server::TlsStream<TcpStream>,
    peer: PeerIdentity,
}

impl Connected for TlsServerStream {
    type ConnectInfo = PeerIdentity;

    fn connect_info(&self) -> PeerIdentity {
        self.peer.clone()
    }
}

impl AsyncRead for TlsServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Stops a background task when the server future ends or is dropped, so nothing outlives it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
