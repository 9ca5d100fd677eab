//! An in-memory transport for tests: a gRPC server and its client joined by
//! `tokio::io::duplex` pipes instead of sockets (as in tonic's `examples/src/mock`).
//!
//! Why: the exchange's wiring (a gateway's [`Channel`] to a real hub, the hub's handlers, the
//! status mapping at both edges) can then be tested without binding ports, without TLS and
//! without the timing of a loopback cluster. The loopback tests stay the proof of the
//! security properties, because nothing here is mutual TLS:
//!
//! - the caller's [`PeerIdentity`] is *asserted by the test* ([`MemoryServer::start`]'s
//!   `peer`) and attached to every request exactly where [`crate::serve`] attaches the
//!   certificate's identity, so handlers that call [`crate::peer`] behave as in production;
//! - there is no listener, so nothing outside the process can reach such a server.
//!
//! Each connection the client opens (the first call, and every reconnect) gets a fresh pipe,
//! so a [`Channel`] here behaves like one over TCP.

use std::io;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::Routes;
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::PeerIdentity;

/// Bytes buffered in each direction of a pipe; a gRPC frame larger than this simply waits
/// for the reader, as on a socket.
const PIPE_BYTES: usize = 64 * 1024;
/// Connections waiting for the server to take them.
const PENDING_CONNECTIONS: usize = 16;

/// The server end of one pipe. Its `ConnectInfo` is the identity the test asserted, which
/// tonic copies into the extensions of every request, as with a TLS connection.
#[derive(Debug)]
struct MemoryStream {
    inner: DuplexStream,
    peer: PeerIdentity,
}

impl Connected for MemoryStream {
    type ConnectInfo = PeerIdentity;

    fn connect_info(&self) -> PeerIdentity {
        self.peer.clone()
    }
}

impl AsyncRead for MemoryStream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for MemoryStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A gRPC server reachable only through [`MemoryServer::channel`]. Dropping it stops the
/// server (calls in flight fail as on a closed socket).
#[derive(Debug)]
pub struct MemoryServer {
    connect: mpsc::Sender<MemoryStream>,
    peer: PeerIdentity,
    task: tokio::task::JoinHandle<()>,
}

impl MemoryServer {
    /// Serves `routes` in a task of the current runtime; every request carries `peer` as
    /// its authenticated identity.
    pub fn start(routes: Routes, peer: PeerIdentity) -> MemoryServer {
        let (connect, accepted) = mpsc::channel(PENDING_CONNECTIONS);
        let incoming = futures::StreamExt::map(ReceiverStream::new(accepted), Ok::<_, io::Error>);
        let task = tokio::spawn(async move {
            if let Err(error) = tonic::transport::Server::builder()
                .add_routes(routes)
                .serve_with_incoming(incoming)
                .await
            {
                tracing::warn!(%error, "in-memory gRPC server stopped");
            }
        });
        MemoryServer {
            connect,
            peer,
            task,
        }
    }

    /// A client channel to this server. It connects on first use; each connection is a new
    /// pipe, so the channel reconnects like one over TCP while the server runs.
    pub fn channel(&self) -> Channel {
        let connect = self.connect.clone();
        let peer = self.peer.clone();
        // The URI only names the authority tonic puts in requests; nothing resolves it.
        let endpoint = Endpoint::from_static("http://in-memory.renkei.invalid");
        endpoint.connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
            let connect = connect.clone();
            let peer = peer.clone();
            async move {
                let (client, server) = tokio::io::duplex(PIPE_BYTES);
                connect
                    .send(MemoryStream {
                        inner: server,
                        peer,
                    })
                    .await
                    .map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::ConnectionRefused,
                            "the in-memory server has stopped",
                        )
                    })?;
                Ok::<_, io::Error>(TokioIo::new(client))
            }
        }))
    }
}

impl Drop for MemoryServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Role;
    use renkei_core::AgencyCode;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    fn tenant(code: &str) -> PeerIdentity {
        PeerIdentity {
            role: Role::Tenant {
                agency: AgencyCode::parse(code).unwrap(),
            },
            remote_addr: None,
            cert_sha256: [7; 32],
        }
    }

    /// Health, wrapped so that a request without the asserted identity is refused: a
    /// passing call proves the identity reached the handler's extensions.
    async fn health_requiring(code: &'static str) -> Routes {
        let (reporter, service) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("renkei.v1.Hub", tonic_health::ServingStatus::Serving)
            .await;
        let checked = tonic::service::interceptor::InterceptedService::new(
            service,
            move |req: tonic::Request<()>| {
                let peer = crate::peer(&req)?;
                match peer.role.agency() {
                    Some(a) if a.as_str() == code => Ok(req),
                    _ => Err(tonic::Status::permission_denied("not the asserted tenant")),
                }
            },
        );
        Routes::new(checked)
    }

    #[tokio::test]
    async fn a_call_crosses_the_pipe_with_the_asserted_identity() {
        let server = MemoryServer::start(health_requiring("141003").await, tenant("141003"));
        let mut client = HealthClient::new(server.channel());
        let reply = client
            .check(HealthCheckRequest {
                service: "renkei.v1.Hub".into(),
            })
            .await
            .unwrap();
        assert_eq!(reply.into_inner().status, ServingStatus::Serving as i32);
    }

    #[tokio::test]
    async fn another_identity_is_seen_as_another() {
        let server = MemoryServer::start(health_requiring("141003").await, tenant("011002"));
        let mut client = HealthClient::new(server.channel());
        let err = client
            .check(HealthCheckRequest {
                service: "renkei.v1.Hub".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
    }

    #[tokio::test]
    async fn a_stopped_server_is_unavailable() {
        let server = MemoryServer::start(health_requiring("141003").await, tenant("141003"));
        let channel = server.channel();
        drop(server);
        let err = HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable);
    }
}
