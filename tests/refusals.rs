//! Every refusal case has its own test: each bad-permit variant, wrong tenant, no client
//! certificate, unknown agency, bad check digits, not on the whitelist, no symbol acquired,
//! rate limits and message size limits.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use prost::Message as _;
use renkei_core::{AgencyCode, MyNumber};
use renkei_e2e::*;
use renkei_proto::v1::gateway_network_client::GatewayNetworkClient;
use renkei_proto::v1::hub_client::HubClient;
use renkei_proto::v1::{
    AcquireSymbolRequest, DeliverInquiryRequest, DeliverInquiryResponse, ExchangeRequest,
    GetInquiryRequest, InquiryEnvelope, InquiryState, Permit, ProvisionCopy, PutCopyRequest,
    RefusalCode, RegisterAddressNumberRequest, SignedPermit, deliver_inquiry_response,
};
use renkei_transport::{ClientOptions, Credentials};
use tonic::Code;
use tonic::transport::Channel;

/// A permit and envelope exactly as the hub would make them for 札幌市 asking 横浜市
/// about the first mover, signed with the development hub key.
struct Crafted {
    envelope: Vec<u8>,
    permit: Permit,
}

async fn crafted(tc: &TestCluster) -> Crafted {
    let movers = tc.movers().await;
    let my = MyNumber::parse(&movers[0].0.my_number).unwrap();
    let symbols = renkei_crypto::read_symbol_key(&certs_dir().join("keys/hub.symbol.key")).unwrap();
    let now = renkei_core::Clock::now_ms(&renkei_core::SystemClock);
    let inquiry_id = format!(
        "inq-crafted-{}",
        hex::encode(renkei_crypto::random_bytes::<4>().unwrap())
    );
    let envelope = InquiryEnvelope {
        inquiry_id: inquiry_id.clone(),
        inquirer: SAPPORO.into(),
        provider: YOKOHAMA.into(),
        procedure: "vaccination".into(),
        item: 25,
        created_at_ms: now,
        nonce: vec![7; 16],
        ..Default::default()
    }
    .encode_to_vec();
    let permit = Permit {
        permit_id: format!(
            "pmt-crafted-{}",
            hex::encode(renkei_crypto::random_bytes::<4>().unwrap())
        ),
        inquiry_id,
        inquirer: SAPPORO.into(),
        provider: YOKOHAMA.into(),
        procedure: "vaccination".into(),
        item: 25,
        provider_symbol: symbols.symbol_for(&AgencyCode::parse(YOKOHAMA).unwrap(), &my),
        envelope_sha256: renkei_crypto::sha256(&envelope).to_vec(),
        issued_at_ms: now,
        expires_at_ms: now + 60_000,
        master_version: 0,
    };
    Crafted { envelope, permit }
}

fn hub_key() -> renkei_crypto::SigningKey {
    renkei_crypto::read_signing_key(&certs_dir().join("keys/hub.sign.key")).unwrap()
}

async fn deliver(
    tc: &TestCluster,
    to: &str,
    envelope: Vec<u8>,
    permit: SignedPermit,
) -> DeliverInquiryResponse {
    GatewayNetworkClient::new(tc.cluster.network_channel("hub").unwrap())
        .deliver_inquiry(DeliverInquiryRequest {
            to: to.into(),
            envelope,
            permit: Some(permit),
        })
        .await
        .unwrap()
        .into_inner()
}

fn refusal_code(resp: &DeliverInquiryResponse) -> RefusalCode {
    match &resp.result {
        Some(deliver_inquiry_response::Result::Refused(r)) => {
            RefusalCode::try_from(r.code).unwrap()
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_genuine_crafted_permit_is_answered_so_the_variants_below_test_one_thing_each() {
    let tc = TestCluster::start().await;
    let c = crafted(&tc).await;
    let resp = deliver(
        &tc,
        YOKOHAMA,
        c.envelope,
        renkei_crypto::sign_permit(&hub_key(), &c.permit),
    )
    .await;
    assert!(
        matches!(
            resp.result,
            Some(deliver_inquiry_response::Result::Answer(_))
        ),
        "{resp:?}"
    );
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_permit_is_refused() {
    let tc = TestCluster::start().await;
    let c = crafted(&tc).await;
    let (forger, _) = renkei_crypto::SigningKey::generate().unwrap();
    let resp = deliver(
        &tc,
        YOKOHAMA,
        c.envelope,
        renkei_crypto::sign_permit(&forger, &c.permit),
    )
    .await;
    assert_eq!(refusal_code(&resp), RefusalCode::PermitForged);
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_permit_is_refused() {
    let tc = TestCluster::start().await;
    let c = crafted(&tc).await;
    let mut signed = renkei_crypto::sign_permit(&hub_key(), &c.permit);
    // Change the item after signing.
    let mut altered = Permit::decode(signed.permit.as_slice()).unwrap();
    altered.item = 153;
    signed.permit = altered.encode_to_vec();
    let resp = deliver(&tc, YOKOHAMA, c.envelope.clone(), signed).await;
    assert_eq!(refusal_code(&resp), RefusalCode::PermitAltered);
    // A genuine permit delivered with a different inquiry than it was issued for.
    let mut other = InquiryEnvelope::decode(c.envelope.as_slice()).unwrap();
    other.item = 153;
    let resp = deliver(
        &tc,
        YOKOHAMA,
        other.encode_to_vec(),
        renkei_crypto::sign_permit(&hub_key(), &c.permit),
    )
    .await;
    assert_eq!(refusal_code(&resp), RefusalCode::PermitAltered);
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_permit_is_refused() {
    let tc = TestCluster::start().await;
    let mut c = crafted(&tc).await;
    c.permit.expires_at_ms = renkei_core::Clock::now_ms(&renkei_core::SystemClock) - 1;
    let resp = deliver(
        &tc,
        YOKOHAMA,
        c.envelope,
        renkei_crypto::sign_permit(&hub_key(), &c.permit),
    )
    .await;
    assert_eq!(refusal_code(&resp), RefusalCode::PermitExpired);
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_permit_is_refused() {
    let tc = TestCluster::start().await;
    let c = crafted(&tc).await;
    let signed = renkei_crypto::sign_permit(&hub_key(), &c.permit);
    let first = deliver(&tc, YOKOHAMA, c.envelope.clone(), signed.clone()).await;
    assert!(matches!(
        first.result,
        Some(deliver_inquiry_response::Result::Answer(_))
    ));
    let second = deliver(&tc, YOKOHAMA, c.envelope, signed).await;
    assert_eq!(refusal_code(&second), RefusalCode::PermitReplayed);
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permit_addressed_to_another_agency_is_refused() {
    let tc = TestCluster::start().await;
    let c = crafted(&tc).await;
    let signed = renkei_crypto::sign_permit(&hub_key(), &c.permit);
    // Delivered to 岡崎市, which this gateway also hosts, with a permit for 横浜市.
    let resp = deliver(&tc, OKAZAKI, c.envelope.clone(), signed.clone()).await;
    assert_eq!(refusal_code(&resp), RefusalCode::PermitMisaddressed);
    // Delivered to an agency this gateway does not host.
    let resp = deliver(&tc, "072036", c.envelope, signed).await;
    assert_eq!(refusal_code(&resp), RefusalCode::PermitMisaddressed);
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_hub_may_call_the_network_side() {
    let tc = TestCluster::start().await;
    let c = crafted(&tc).await;
    let signed = renkei_crypto::sign_permit(&hub_key(), &c.permit);
    let err = GatewayNetworkClient::new(
        tc.cluster
            .network_channel(&format!("backoffice-{SAPPORO}"))
            .unwrap(),
    )
    .deliver_inquiry(DeliverInquiryRequest {
        to: YOKOHAMA.into(),
        envelope: c.envelope,
        permit: Some(signed),
    })
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    tc.stop().await;
}

/// Writes a client certificate from `ca` for `uri` and returns credentials that trust the
/// real development CA for the server.
fn credentials_for(dir: &std::path::Path, ca: &renkei_pki::DevCa, uri: &str) -> Credentials {
    let (cert, key) = renkei_pki::issue_client_cert(ca, uri, "test client").unwrap();
    let (c, k) = (dir.join("c.pem"), dir.join("k.pem"));
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    Credentials::load(&certs_dir().join("ca.pem"), &c, &k).unwrap()
}

fn gateway_channel(tc: &TestCluster, creds: &Credentials) -> Channel {
    renkei_transport::channel(
        &tc.cluster.gateway_local_addr.to_string(),
        "gateway.renkei.local",
        creds,
        &ClientOptions::default(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_back_office_of_a_tenant_not_hosted_here_is_refused() {
    let tc = TestCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = renkei_pki::DevCa::load(&certs_dir().join("ca.pem"), &certs_dir().join("ca.key.pem"))
        .unwrap();
    let creds = credentials_for(dir.path(), &ca, "urn:renkei:backoffice:072036:vaccination");
    let err =
        renkei_proto::v1::inquiries_client::InquiriesClient::new(gateway_channel(&tc, &creds))
            .get_inquiry(GetInquiryRequest {
                inquiry_id: "inq-x".into(),
            })
            .await
            .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("072036"));
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_role_is_refused_on_each_side() {
    let tc = TestCluster::start().await;
    // A gateway's tenant certificate is not a back office.
    let creds = tc
        .cluster
        .credentials(&format!("tenant-{SAPPORO}"))
        .unwrap();
    let err =
        renkei_proto::v1::inquiries_client::InquiriesClient::new(gateway_channel(&tc, &creds))
            .get_inquiry(GetInquiryRequest {
                inquiry_id: "inq-x".into(),
            })
            .await
            .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // A back office cannot call the hub.
    let err = HubClient::new(
        tc.cluster
            .hub_channel(&format!("backoffice-{SAPPORO}"))
            .unwrap(),
    )
    .exchange(ExchangeRequest::default())
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // A tenant cannot send an envelope in another agency's name.
    let envelope = InquiryEnvelope {
        inquiry_id: "inq-spoof".into(),
        inquirer: YOKOHAMA.into(),
        provider: OKAZAKI.into(),
        procedure: "vaccination".into(),
        item: 25,
        ..Default::default()
    };
    let err = HubClient::new(
        tc.cluster
            .hub_channel(&format!("tenant-{SAPPORO}"))
            .unwrap(),
    )
    .exchange(ExchangeRequest {
        envelope: envelope.encode_to_vec(),
        inquirer_symbol: vec![1; 45],
    })
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("011002"), "{}", err.message());
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symbol_not_issued_to_the_inquirer_is_refused_by_the_hub() {
    let tc = TestCluster::start().await;
    let movers = tc.movers().await;
    let symbols = renkei_crypto::read_symbol_key(&certs_dir().join("keys/hub.symbol.key")).unwrap();
    // 横浜市's symbol for the person, presented by 札幌市.
    let yokohama_symbol = symbols.symbol_for(
        &AgencyCode::parse(YOKOHAMA).unwrap(),
        &MyNumber::parse(&movers[0].0.my_number).unwrap(),
    );
    let envelope = InquiryEnvelope {
        inquiry_id: "inq-stolen-symbol".into(),
        inquirer: SAPPORO.into(),
        provider: YOKOHAMA.into(),
        procedure: "vaccination".into(),
        item: 25,
        ..Default::default()
    };
    let resp = HubClient::new(
        tc.cluster
            .hub_channel(&format!("tenant-{SAPPORO}"))
            .unwrap(),
    )
    .exchange(ExchangeRequest {
        envelope: envelope.encode_to_vec(),
        inquirer_symbol: yokohama_symbol,
    })
    .await
    .unwrap()
    .into_inner();
    match resp.result {
        Some(renkei_proto::v1::exchange_response::Result::Refused(r)) => {
            assert_eq!(r.code, RefusalCode::SymbolInvalid as i32)
        }
        other => panic!("expected SYMBOL_INVALID, got {other:?}"),
    }
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_certificate_cannot_connect() {
    let tc = TestCluster::start().await;
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject as _;
    for c in rustls_pki_types::CertificateDer::pem_file_iter(certs_dir().join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let addr = tc.cluster.gateway_local_addr;
    let channel = tonic::transport::Endpoint::from_static("http://gateway.renkei.local")
        .connect_with_connector(tower::service_fn(move |_: http::Uri| {
            let connector = connector.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(addr).await?;
                let name = rustls_pki_types::ServerName::try_from("gateway.renkei.local").unwrap();
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await;
    // Either the connection fails outright or the first call does.
    if let Ok(channel) = channel {
        let err = tonic_health::pb::health_client::HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap_err();
        assert_ne!(err.code(), Code::Ok);
    }
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_cannot_connect() {
    let tc = TestCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let rogue = renkei_pki::DevCa::generate("rogue CA").unwrap();
    let creds = credentials_for(
        dir.path(),
        &rogue,
        &format!("urn:renkei:backoffice:{SAPPORO}:vaccination"),
    );
    let err =
        renkei_proto::v1::inquiries_client::InquiriesClient::new(gateway_channel(&tc, &creds))
            .get_inquiry(GetInquiryRequest {
                inquiry_id: "inq-x".into(),
            })
            .await
            .unwrap_err();
    assert_ne!(err.code(), Code::Ok);
    assert_ne!(
        err.code(),
        Code::NotFound,
        "the request must not have been served"
    );
    tc.stop().await;
}

fn bad_request_field(s: &tonic::Status) -> String {
    use tonic_types::StatusExt as _;
    s.get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_agencies_and_bad_check_digits_are_invalid_arguments_and_nothing_is_stored() {
    let tc = TestCluster::start().await;
    let movers = tc.movers().await;
    let s = &movers[0].1.unified_address_number;
    // Valid check digit, not in the directory.
    let err = tc
        .ask(SAPPORO, "unknown", s, "130001", 25)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(bad_request_field(&err), "provider");
    assert!(
        err.message().contains("not in the agency directory"),
        "{}",
        err.message()
    );
    // Bad check digit.
    let err = tc
        .ask(SAPPORO, "bad-digit", s, "141004", 25)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("check digit"), "{}", err.message());
    // Nothing was stored: the same keys are free for a valid request.
    let ok = tc.ask(SAPPORO, "bad-digit", s, YOKOHAMA, 25).await.unwrap();
    assert_eq!(ok.state, InquiryState::Answered as i32);

    let mut symbols = tc.symbols(SAPPORO);
    symbols
        .register_address_number(RegisterAddressNumberRequest {
            unified_address_number: "555".into(),
        })
        .await
        .unwrap();
    let err = symbols
        .acquire_symbol(AcquireSymbolRequest {
            unified_address_number: "555".into(),
            my_number: "123456789010".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(bad_request_field(&err), "my_number");
    assert!(
        !err.message().contains("123456789010"),
        "the number is not echoed"
    );
    let err = symbols
        .register_address_number(RegisterAddressNumberRequest {
            unified_address_number: "12a".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(bad_request_field(&err), "unified_address_number");
    // 555 has no symbol: the bad acquisition stored nothing.
    let err = tc
        .ask(SAPPORO, "no-sym", "555", YOKOHAMA, 25)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inquiry_without_an_acquired_symbol_is_refused() {
    let tc = TestCluster::start().await;
    tc.symbols(SAPPORO)
        .register_address_number(RegisterAddressNumberRequest {
            unified_address_number: "777".into(),
        })
        .await
        .unwrap();
    let err = tc
        .ask(SAPPORO, "nosym", "777", YOKOHAMA, 25)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("no symbol has been acquired"),
        "{}",
        err.message()
    );
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inquiry_not_on_the_whitelist_is_refused_before_any_permit() {
    let tc = TestCluster::start().await;
    let movers = tc.movers().await;
    let mut req = ask_request("wl", &movers[0].1.unified_address_number, YOKOHAMA, 28);
    req.procedure = "vaccination-relief".into();
    let inquiry = tc
        .inquiries(SAPPORO)
        .submit_inquiry(req)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inquiry.state, InquiryState::Refused as i32);
    let r = inquiry.refusal.unwrap();
    assert_eq!(r.code, RefusalCode::NotOnWhitelist as i32);
    assert!(r.message.contains("医療保険者"), "{}", r.message);
    assert!(inquiry.permit_id.is_empty());
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_resource_exhausted_per_caller() {
    let tc = TestCluster::start_with(|o| {
        o.gateway_limits.rate_per_second = 2;
        o.gateway_limits.burst = 5;
    })
    .await;
    let mut sapporo = tc.inquiries(SAPPORO);
    let mut exhausted = 0;
    for _ in 0..20 {
        match sapporo
            .get_inquiry(GetInquiryRequest {
                inquiry_id: "inq-none".into(),
            })
            .await
        {
            Err(e) if e.code() == Code::ResourceExhausted => exhausted += 1,
            Err(e) => assert_eq!(e.code(), Code::NotFound),
            Ok(_) => panic!("no such inquiry"),
        }
    }
    assert!(exhausted >= 10, "only {exhausted} of 20 calls were limited");
    // Another caller still gets through.
    let err = tc
        .inquiries(YOKOHAMA)
        .get_inquiry(GetInquiryRequest {
            inquiry_id: "inq-none".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_are_refused() {
    let tc = TestCluster::start_with(|o| o.gateway_limits.max_message_bytes = 16 * 1024).await;
    let huge = renkei_proto::v1::VaccinationHistory {
        doses: (0..400)
            .map(|i| renkei_proto::v1::Dose {
                vaccine_code: "FLU".into(),
                dose_number: 1 + i % 99,
                date: "2020-01-01".into(),
                remarks: "x".repeat(150),
                ..Default::default()
            })
            .collect(),
    };
    let err = tc
        .copies(YOKOHAMA)
        .put_copy(PutCopyRequest {
            copy: Some(ProvisionCopy {
                unified_address_number: "1".into(),
                item: 25,
                content: Some(renkei_testkit::population::content(&huge)),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{err:?}"
    );
    tc.stop().await;
}
