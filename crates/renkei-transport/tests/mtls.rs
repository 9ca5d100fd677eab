//! Real servers on 127.0.0.1 with certificates from a freshly generated development PKI.
//!
//! ARCHITECTURE §4 properties 1 (TLS 1.3, mutual authentication, identity from the
//! certificate) and 7 (per-client rate limits) each have a test here that fails when the
//! property breaks.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use renkei_pki::{DevCa, DevPkiSpec, generate_dev_pki, issue_client_cert};
use renkei_transport::{
    ClientOptions, Credentials, HealthHandle, RateLimit, Role, ServerOptions, TransportError,
    channel, channel_with_config, serve_with_health,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus as PbStatus;
use tonic_health::pb::health_client::HealthClient;

// ---------------------------------------------------------------------------------------
// A tiny gRPC service without protos: `/renkei.test.WhoAmI/Get` answers with the caller's
// identity as seen by a handler through `renkei_transport::peer`.

#[derive(Clone, Copy, Default)]
struct RawCodec;
struct RawEncoder;
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[derive(Clone)]
struct WhoAmI;

impl NamedService for WhoAmI {
    const NAME: &'static str = "renkei.test.WhoAmI";
}

struct WhoAmIHandler;

impl tonic::server::UnaryService<Bytes> for WhoAmIHandler {
    type Response = Bytes;
    type Future = std::future::Ready<Result<Response<Bytes>, Status>>;
    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        std::future::ready(renkei_transport::peer(&req).map(|p| {
            Response::new(Bytes::from(format!(
                "{} {} {}",
                p.role,
                p.cert_fingerprint_hex(),
                p.remote_addr
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default()
            )))
        }))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for WhoAmI {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec);
            Ok(grpc.unary(WhoAmIHandler, req).await)
        })
    }
}

async fn who_am_i(channel: Channel) -> Result<String, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let resp = grpc
        .unary(
            Request::new(Bytes::new()),
            http::uri::PathAndQuery::from_static("/renkei.test.WhoAmI/Get"),
            RawCodec,
        )
        .await?;
    Ok(String::from_utf8(resp.into_inner().to_vec()).unwrap())
}

// ---------------------------------------------------------------------------------------
// Fixtures.

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        generate_dev_pki(dir.path(), &DevPkiSpec::default_dev().unwrap()).unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn creds(&self, stem: &str) -> Credentials {
        Credentials::load(
            &self.path("ca.pem"),
            &self.path(&format!("{stem}.pem")),
            &self.path(&format!("{stem}.key.pem")),
        )
        .unwrap()
    }

    fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.path("ca.pem")).unwrap()
    }

    fn ca(&self) -> DevCa {
        DevCa::load(&self.path("ca.pem"), &self.path("ca.key.pem")).unwrap()
    }

    /// Credentials trusting our CA but presenting a certificate for `uri` signed by `ca`.
    fn creds_issued_by(&self, ca: &DevCa, uri: &str) -> Credentials {
        let (cert, key) = issue_client_cert(ca, uri, "test identity").unwrap();
        Credentials::from_pem(&self.ca_pem(), cert.as_bytes(), key.as_bytes()).unwrap()
    }
}

struct Running {
    addr: SocketAddr,
    health: HealthHandle,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), TransportError>>,
}

impl Running {
    async fn stop(mut self) -> Result<(), TransportError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("server stops within 10 s")
            .unwrap()
    }
}

async fn start(pki: &Pki, server_stem: &str, opts: ServerOptions) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let creds = pki.creds(server_stem);
    let health = HealthHandle::new();
    let (stop, stopped) = oneshot::channel::<()>();
    let h = health.clone();
    let task = tokio::spawn(async move {
        serve_with_health(
            listener,
            &creds,
            Routes::new(WhoAmI),
            h,
            &["renkei.v1.Hub"],
            opts,
            async move {
                let _ = stopped.await;
            },
        )
        .await
    });
    // The health statuses are set before the accept loop starts; wait until it is up.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Running {
        addr,
        health,
        stop: Some(stop),
        task,
    }
}

fn client(addr: SocketAddr, creds: &Credentials) -> Channel {
    channel(
        &addr.to_string(),
        "localhost",
        creds,
        &ClientOptions {
            connect_timeout: Duration::from_secs(3),
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

async fn check(channel: Channel, service: &str) -> Result<PbStatus, Status> {
    let resp = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?;
    Ok(resp.into_inner().status())
}

/// The call failed because the TLS layer refused the connection with `alert`.
fn assert_refused(err: &Status, alert: &str) {
    assert!(
        matches!(err.code(), Code::Unavailable | Code::Unknown),
        "{err:?}"
    );
    let debug = format!("{err:?}");
    assert!(debug.contains(alert), "expected {alert}: {debug}");
}

fn sha256_hex_of_pem_cert(path: &Path) -> String {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_file(path).unwrap();
    ring::digest::digest(&ring::digest::SHA256, &der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn authenticated_client_is_served_and_handler_sees_its_identity() {
    let pki = Pki::new();
    let server = start(&pki, "hub", ServerOptions::default()).await;
    let ch = client(server.addr, &pki.creds("backoffice-141003"));

    assert_eq!(check(ch.clone(), "").await.unwrap(), PbStatus::Serving);
    assert_eq!(
        check(ch.clone(), "renkei.v1.Hub").await.unwrap(),
        PbStatus::Serving
    );
    assert_eq!(
        check(ch.clone(), "renkei.v1.Nope")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    let seen = who_am_i(ch).await.unwrap();
    let fingerprint = sha256_hex_of_pem_cert(&pki.path("backoffice-141003.pem"));
    assert_eq!(
        seen,
        format!("urn:renkei:backoffice:141003:vaccination {fingerprint} 127.0.0.1")
    );

    // A second identity on the same server is told apart.
    let seen = who_am_i(client(server.addr, &pki.creds("tenant-011002")))
        .await
        .unwrap();
    assert!(seen.starts_with("urn:renkei:tenant:011002 "), "{seen}");

    server.stop().await.unwrap();
}

#[tokio::test]
async fn client_without_certificate_cannot_complete_a_call() {
    let pki = Pki::new();
    let server = start(&pki, "hub", ServerOptions::default()).await;

    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pki.ca_pem()).map(|c| c.unwrap())
    {
        roots.add(cert).unwrap();
    }
    use rustls::pki_types::pem::PemObject;
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let ch = channel_with_config(
        &server.addr.to_string(),
        "localhost",
        Arc::new(config),
        &ClientOptions::default(),
    )
    .unwrap();

    let err = check(ch.clone(), "").await.unwrap_err();
    assert_refused(&err, "CertificateRequired");
    assert!(who_am_i(ch).await.is_err());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn client_with_certificate_from_a_rogue_ca_cannot_complete_a_call() {
    let pki = Pki::new();
    let server = start(&pki, "hub", ServerOptions::default()).await;
    // Claims to be a tenant, from a CA with its own name...
    let rogue = DevCa::generate("Rogue CA").unwrap();
    let creds = pki.creds_issued_by(&rogue, "urn:renkei:tenant:141003");
    let err = check(client(server.addr, &creds), "").await.unwrap_err();
    assert_refused(&err, "UnknownCA");

    // ...and from a CA copying the real CA's name (the signature does not verify).
    let rogue = DevCa::generate("Renkei DEVELOPMENT CA — NOT FOR PRODUCTION").unwrap();
    let creds = pki.creds_issued_by(&rogue, "urn:renkei:tenant:141003");
    let err = check(client(server.addr, &creds), "").await.unwrap_err();
    assert_refused(&err, "alert");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn certificate_without_a_valid_renkei_identity_is_dropped() {
    let pki = Pki::new();
    let server = start(&pki, "hub", ServerOptions::default()).await;
    let ca = pki.ca();
    for uri in [
        "urn:renkei:bogus:x",           // unknown kind
        "urn:renkei:tenant:141004",     // bad check digit
        "urn:renkei:backoffice:141003", // missing system
    ] {
        let creds = pki.creds_issued_by(&ca, uri);
        let err = check(client(server.addr, &creds), "").await.unwrap_err();
        assert_refused(&err, "CertificateUnknown");
    }
    server.stop().await.unwrap();
}

/// Captures formatted log lines (the test runtime is single-threaded, so a thread-local
/// default subscriber sees the server's tasks too).
#[derive(Clone, Default)]
struct LogBuf(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_refused_identity_is_logged_with_peer_address_and_reason() {
    let logs = LogBuf::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let pki = Pki::new();
    let server = start(&pki, "hub", ServerOptions::default()).await;
    let creds = pki.creds_issued_by(&pki.ca(), "urn:renkei:tenant:141004");
    assert!(check(client(server.addr, &creds), "").await.is_err());
    server.stop().await.unwrap();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("connection dropped"))
        .unwrap_or_else(|| panic!("no warning logged: {text}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("peer=127.0.0.1:"), "{line}");
    assert!(line.contains("check digit is 4 but should be 3"), "{line}");
}

/// rustls in this workspace has no TLS 1.2 at all, so no rustls client can even offer it.
/// Instead we send a hand-made TLS 1.2 ClientHello (no supported_versions extension) and
/// expect a fatal alert; and we check a normal handshake negotiates TLS 1.3.
#[tokio::test]
async fn tls12_is_refused_and_tls13_is_negotiated() {
    let pki = Pki::new();
    let server = start(&pki, "hub", ServerOptions::default()).await;

    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(&tls12_client_hello()).await.unwrap();
    let mut reply = [0u8; 7];
    tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        reply[0], 0x15,
        "an alert record, not a ServerHello: {reply:?}"
    );
    assert_eq!(reply[5], 2, "fatal");
    assert_eq!(reply[6], 70, "protocol_version alert: {reply:?}");

    let config = pki.creds("tenant-141003").client_config().unwrap();
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (_, conn) = tls.get_ref();
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(conn.alpn_protocol(), Some(&b"h2"[..]));
    server.stop().await.unwrap();
}

/// A TLS 1.2 ClientHello offering only TLS 1.2 ECDHE-ECDSA/RSA AES-GCM suites.
fn tls12_client_hello() -> Vec<u8> {
    let mut ext = Vec::new();
    // supported_groups: x25519, secp256r1
    ext.extend_from_slice(&[0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17]);
    // ec_point_formats: uncompressed
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
    ext.extend_from_slice(&[
        0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01,
    ]);
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x2b, 0xc0, 0x2f]); // cipher suites
    body.extend_from_slice(&[0x01, 0x00]); // compression: null
    body.extend_from_slice(&u16::try_from(ext.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![0x01, 0x00];
    hs.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(hs.len()).unwrap().to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

#[tokio::test]
async fn rate_limit_is_per_identity_and_method() {
    let pki = Pki::new();
    let opts = ServerOptions {
        rate_limit: RateLimit {
            per_second: 1,
            burst: 3,
        },
        ..ServerOptions::default()
    };
    let server = start(&pki, "hub", opts).await;
    let a = client(server.addr, &pki.creds("tenant-141003"));
    let b = client(server.addr, &pki.creds("tenant-011002"));

    for _ in 0..3 {
        assert_eq!(check(a.clone(), "").await.unwrap(), PbStatus::Serving);
    }
    let err = check(a.clone(), "").await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    let msg = err.message();
    assert!(msg.contains("urn:renkei:tenant:141003"), "{msg}");
    assert!(msg.contains("/grpc.health.v1.Health/Check"), "{msg}");
    assert!(msg.contains("1 requests per second"), "{msg}");
    assert!(err.metadata().get("grpc-retry-pushback-ms").is_some());

    // Another identity, same method: still served.
    assert_eq!(check(b.clone(), "").await.unwrap(), PbStatus::Serving);
    // Same identity, another method: still served.
    assert!(
        who_am_i(a.clone())
            .await
            .unwrap()
            .starts_with("urn:renkei:tenant:141003 ")
    );
    // A second connection with the same identity shares the quota.
    let a2 = client(server.addr, &pki.creds("tenant-141003"));
    assert_eq!(
        check(a2, "").await.unwrap_err().code(),
        Code::ResourceExhausted
    );
    server.stop().await.unwrap();
}

/// Both reflection versions are served, and each lists exactly what this port serves: the
/// test server serves `renkei.v1.Hub` only, so `renkei.v1.GatewayNetwork` (in the same
/// descriptors) must not be offered.
#[tokio::test]
async fn reflection_v1_and_v1alpha_list_only_the_services_served() {
    let pki = Pki::new();
    let server = start(&pki, "hub", ServerOptions::default()).await;
    let want = [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "renkei.v1.Hub",
    ];

    let v1 = {
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let mut reflection =
            ServerReflectionClient::new(client(server.addr, &pki.creds("auditor")));
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = reflection
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let resp = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
            panic!("unexpected reflection response {resp:?}");
        };
        list.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
    };
    let v1alpha = {
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
        let mut reflection =
            ServerReflectionClient::new(client(server.addr, &pki.creds("auditor")));
        let list = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        // A v1alpha-only tool then asks for the file that defines a method's service.
        let symbol = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol("renkei.v1.Hub".into())),
        };
        let mut stream = reflection
            .server_reflection_info(tokio_stream::iter([list, symbol]))
            .await
            .unwrap()
            .into_inner();
        let resp = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
            panic!("unexpected reflection response {resp:?}");
        };
        let resp = stream.message().await.unwrap().unwrap();
        let Some(MessageResponse::FileDescriptorResponse(files)) = resp.message_response else {
            panic!("unexpected reflection response {resp:?}");
        };
        assert!(!files.file_descriptor_proto.is_empty());
        list.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
    };
    for names in [v1, v1alpha] {
        let mut names = names;
        names.sort();
        assert_eq!(names, want, "listed services");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn health_can_be_flipped_and_turns_not_serving_on_shutdown() {
    let pki = Pki::new();
    let server = start(&pki, "hub", ServerOptions::default()).await;
    let ch = client(server.addr, &pki.creds("tenant-141003"));
    assert_eq!(
        check(ch.clone(), "renkei.v1.Hub").await.unwrap(),
        PbStatus::Serving
    );
    server.health.set_not_serving("renkei.v1.Hub").await;
    assert_eq!(
        check(ch.clone(), "renkei.v1.Hub").await.unwrap(),
        PbStatus::NotServing
    );
    server.health.set_serving("renkei.v1.Hub").await;
    assert_eq!(
        check(ch.clone(), "renkei.v1.Hub").await.unwrap(),
        PbStatus::Serving
    );

    let health = server.health.clone();
    let addr = server.addr;
    server.stop().await.unwrap();
    // The reporter outlives the server: shutdown marked everything NOT_SERVING.
    use tonic_health::pb::health_server::Health as _;
    let svc = tonic_health::server::HealthService::from_health_reporter(health.reporter().clone());
    for service in ["", "renkei.v1.Hub"] {
        let status = svc
            .check(Request::new(HealthCheckRequest {
                service: service.into(),
            }))
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(status, PbStatus::NotServing, "{service:?}");
    }
    // And the port no longer accepts connections.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_does_not_wait_forever_for_open_streams() {
    let pki = Pki::new();
    let opts = ServerOptions {
        request_timeout: Duration::from_millis(500),
        ..ServerOptions::default()
    };
    let server = start(&pki, "hub", opts).await;
    let mut watch = HealthClient::new(client(server.addr, &pki.creds("tenant-141003")))
        .watch(HealthCheckRequest {
            service: "renkei.v1.Hub".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status(), PbStatus::Serving);

    let started = Instant::now();
    server.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    // The watcher was told before the server went away.
    let next = watch.message().await.unwrap().unwrap();
    assert_eq!(next.status(), PbStatus::NotServing);
}

#[tokio::test]
async fn expected_server_role_is_enforced_by_the_client() {
    let pki = Pki::new();
    // The gateway's certificate also names localhost: without the role check a client
    // meaning to reach the hub would accept it.
    let server = start(&pki, "gateway", ServerOptions::default()).await;
    let creds = pki.creds("tenant-141003");
    let to = |role: Role| {
        channel(
            &server.addr.to_string(),
            "localhost",
            &creds,
            &ClientOptions {
                expected_server_role: Some(role),
                ..ClientOptions::default()
            },
        )
        .unwrap()
    };
    let err = check(to(Role::Hub), "").await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    let ok = check(to(Role::Gateway { name: "gw1".into() }), "")
        .await
        .unwrap();
    assert_eq!(ok, PbStatus::Serving);
    // A server name the certificate does not carry is refused too.
    let wrong_name = channel(
        &server.addr.to_string(),
        "hub.renkei.local",
        &creds,
        &ClientOptions::default(),
    )
    .unwrap();
    assert!(check(wrong_name, "").await.is_err());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_silent_client_neither_blocks_accept_nor_lingers() {
    let pki = Pki::new();
    let opts = ServerOptions {
        handshake_timeout: Duration::from_secs(3),
        ..ServerOptions::default()
    };
    let server = start(&pki, "hub", opts).await;
    // Several connections that never send a ClientHello.
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(tokio::net::TcpStream::connect(server.addr).await.unwrap());
    }
    let started = Instant::now();
    let ch = client(server.addr, &pki.creds("tenant-141003"));
    assert_eq!(check(ch, "").await.unwrap(), PbStatus::Serving);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "served while the others stall, not after their handshake timeout"
    );

    // The silent ones are closed once the handshake timeout passes.
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(10), silent[0].read(&mut buf))
        .await
        .expect("closed by the server")
        .unwrap_or(0);
    assert_eq!(n, 0);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn oversized_messages_are_refused() {
    let pki = Pki::new();
    let opts = ServerOptions {
        max_message_bytes: 1024,
        ..ServerOptions::default()
    };
    let server = start(&pki, "hub", opts).await;
    let ch = client(server.addr, &pki.creds("tenant-141003"));
    let err = check(ch.clone(), &"x".repeat(4096)).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err}");
    assert_eq!(check(ch, "").await.unwrap(), PbStatus::Serving);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bad_options_are_refused_before_serving() {
    let pki = Pki::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = renkei_transport::serve(
        listener,
        &pki.creds("hub"),
        Routes::new(WhoAmI),
        &[],
        ServerOptions {
            rate_limit: RateLimit {
                per_second: 0,
                burst: 1,
            },
            ..ServerOptions::default()
        },
        async {},
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("per_second"), "{err}");
}

#[test]
fn credentials_errors_name_the_file_and_the_problem() {
    let pki = Pki::new();
    let missing = pki.path("nope.pem");
    let err = Credentials::load(&pki.path("ca.pem"), &missing, &pki.path("hub.key.pem"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.pem"), "{err}");

    // Key of another identity.
    let err = Credentials::load(
        &pki.path("ca.pem"),
        &pki.path("hub.pem"),
        &pki.path("gateway.key.pem"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("hub.pem") && err.contains("does not match"),
        "{err}"
    );

    // A key file where the CA should be.
    let err = Credentials::load(
        &pki.path("hub.key.pem"),
        &pki.path("hub.pem"),
        &pki.path("hub.key.pem"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("hub.key.pem") && err.contains("no CERTIFICATE"),
        "{err}"
    );

    // A certificate where the key should be.
    let err = Credentials::load(
        &pki.path("ca.pem"),
        &pki.path("hub.pem"),
        &pki.path("hub.pem"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no PRIVATE KEY"), "{err}");

    assert_eq!(pki.creds("hub").own_role().unwrap(), Role::Hub);
    assert_eq!(
        pki.creds("terminal-232025").own_role().unwrap().to_uri(),
        "urn:renkei:terminal:232025:t1"
    );
    let dbg = format!("{:?}", pki.creds("hub"));
    assert!(
        dbg.contains("urn:renkei:hub") && !dbg.contains("PRIVATE"),
        "{dbg}"
    );
}

#[tokio::test]
async fn channel_refuses_malformed_endpoints() {
    let pki = Pki::new();
    let creds = pki.creds("hub");
    for bad in ["https://localhost:1", "localhost", "localhost:1/x", ""] {
        let err = channel(bad, "localhost", &creds, &ClientOptions::default()).unwrap_err();
        assert!(
            matches!(err, TransportError::Endpoint { .. }),
            "{bad:?}: {err}"
        );
    }
    assert!(channel("localhost:1", "", &creds, &ClientOptions::default()).is_err());
}
