//! Gateway health follows what it needs to work: SERVING with fresh master data and a
//! reachable hub; NOT_SERVING with no master data, with expired master data, or when the
//! hub cannot be reached.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use prost::Message as _;
use renkei_e2e::*;
use renkei_gateway::{Gateway, GatewayConfig, GatewayLimits, HubLink, TenantConfig, TlsFiles};
use renkei_proto::v1::diagnostics_client::DiagnosticsClient;
use renkei_proto::v1::hub_client::HubClient;
use renkei_proto::v1::{
    GetMasterDataRequest, MasterBundle, PeerStatus, SignedMasterBundle, TestPeersRequest,
};
use renkei_testkit::cluster::HUB_SERVER_NAME;
use tokio::net::TcpListener;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_fails_without_master_data_or_a_reachable_hub() {
    let tc = TestCluster::start().await;
    wait_for_health(
        &tc.cluster.gateway_local_addr.to_string(),
        ServingStatus::Serving,
    )
    .await;
    assert_eq!(tc.cluster.gateway.health_problem(), None);

    // A second gateway whose hub address leads nowhere.
    let dead_hub = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead_hub.local_addr().unwrap().to_string();
    drop(dead_hub);
    let d = certs_dir();
    let config = GatewayConfig {
        name: "gw2".into(),
        listen_local: "127.0.0.1:0".parse().unwrap(),
        listen_network: "127.0.0.1:0".parse().unwrap(),
        data_dir: tc.dir.path().join("gateway-2"),
        tls: TlsFiles {
            ca: d.join("ca.pem"),
            cert: d.join("gateway.pem"),
            key: d.join("gateway.key.pem"),
        },
        hub: HubLink {
            endpoint: dead_addr,
            server_name: HUB_SERVER_NAME.into(),
            signing_public_key: d.join("keys/hub.sign.pub"),
            master_refresh_secs: 1,
        },
        tenants: vec![TenantConfig {
            code: SAPPORO.into(),
            name: "札幌市".into(),
            client_cert: d.join("tenant-011002.pem"),
            client_key: d.join("tenant-011002.key.pem"),
            signing_key: d.join("keys/011002.sign.key"),
            encryption_key: d.join("keys/011002.enc.key"),
            inquiry_result_retention_secs: 3600,
            record_retention_days: 2557,
            // The pending reply must leave before the (shortened) hub timeout.
            held: renkei_gateway::HeldPolicy {
                answer_deadline_ms: 500,
                ..renkei_gateway::HeldPolicy::default()
            },
        }],
        operators: renkei_gateway::OperatorSettings::default(),
        limits: GatewayLimits {
            hub_timeout_secs: 1,
            ..GatewayLimits::default()
        },
        metrics: None,
    };
    let gw = Gateway::open(config).unwrap();
    let local = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let network = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = local.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(gw.clone().serve(local, network, async {
        let _ = stopped.await;
    }));
    wait_for_health(&addr, ServingStatus::NotServing).await;
    assert!(gw.health_problem().unwrap().contains("no master data"));

    // Valid master data, but the hub still unreachable: still not serving.
    let bundle = HubClient::new(tc.cluster.hub_channel("tenant-011002").unwrap())
        .get_master_data(GetMasterDataRequest { known_version: 0 })
        .await
        .unwrap()
        .into_inner()
        .bundle
        .unwrap();
    gw.install_master(&bundle).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let why = gw.health_problem().unwrap();
    assert!(why.contains("unreachable"), "{why}");
    assert_eq!(health_status(&addr).await, ServingStatus::NotServing as i32);

    // The peer test names the broken link.
    let peers = DiagnosticsClient::new(backoffice_at(&addr))
        .test_peers(TestPeersRequest {})
        .await
        .unwrap()
        .into_inner();
    let hub = peers.hub.unwrap();
    assert_eq!(hub.status, PeerStatus::Unreachable as i32, "{hub:?}");
    assert!(!hub.detail.is_empty());
    assert!(peers.agencies.is_empty());

    let _ = stop.send(());
    served.await.unwrap().unwrap();
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_test_reaches_the_hub_and_each_connected_agency() {
    let tc = TestCluster::start().await;
    wait_for_health(
        &tc.cluster.gateway_local_addr.to_string(),
        ServingStatus::Serving,
    )
    .await;
    let peers = DiagnosticsClient::new(tc.backoffice(SAPPORO))
        .test_peers(TestPeersRequest {})
        .await
        .unwrap()
        .into_inner();
    let hub = peers.hub.unwrap();
    assert_eq!(hub.status, PeerStatus::Serving as i32, "{hub:?}");
    assert_eq!(hub.endpoint, tc.cluster.hub_addr.to_string());
    for code in [SAPPORO, YOKOHAMA, OKAZAKI] {
        let p = peers.agencies.iter().find(|p| p.peer == code).unwrap();
        assert_eq!(p.status, PeerStatus::Serving as i32, "{p:?}");
        assert_eq!(p.endpoint, tc.cluster.gateway_network_addr.to_string());
    }
    // Agencies in the directory without a gateway are listed as not connected.
    let others: Vec<_> = peers
        .agencies
        .iter()
        .filter(|p| ![SAPPORO, YOKOHAMA, OKAZAKI].contains(&p.peer.as_str()))
        .collect();
    assert!(!others.is_empty());
    for p in others {
        assert_eq!(p.status, PeerStatus::NotConnected as i32, "{p:?}");
    }
    // At the hub the test is for gateways, not for auditors.
    let err = DiagnosticsClient::new(tc.cluster.hub_channel("auditor").unwrap())
        .test_peers(TestPeersRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    tc.stop().await;
}

/// The hub's current bundle, re-issued by the hub's key with another version and expiry.
async fn reissued(tc: &TestCluster, version_ahead: u64, expires_at_ms: i64) -> SignedMasterBundle {
    let signed = HubClient::new(tc.cluster.hub_channel("tenant-011002").unwrap())
        .get_master_data(GetMasterDataRequest { known_version: 0 })
        .await
        .unwrap()
        .into_inner()
        .bundle
        .unwrap();
    let mut bundle = MasterBundle::decode(signed.bundle.as_slice()).unwrap();
    bundle.version += version_ahead;
    bundle.expires_at_ms = expires_at_ms;
    let key = renkei_crypto::read_signing_key(&certs_dir().join("keys/hub.sign.key")).unwrap();
    renkei_crypto::sign_bundle(&key, bundle.encode_to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_fails_when_master_data_expires_though_the_hub_is_reachable() {
    let tc = TestCluster::start().await;
    let addr = tc.cluster.gateway_local_addr.to_string();
    wait_for_health(&addr, ServingStatus::Serving).await;
    let movers = tc.movers().await;

    // A bundle that expires in two seconds, newer than anything the hub will offer, so
    // the hub's refreshes do not replace it.
    let soon = renkei_core::Clock::now_ms(&renkei_core::SystemClock) + 2_000;
    let short = reissued(&tc, 1_000_000_000_000, soon).await;
    let installed = tc.cluster.gateway.install_master(&short).await.unwrap();
    assert!(
        matches!(installed, renkei_gateway::Installed::New(_)),
        "{installed:?}"
    );
    assert_eq!(tc.cluster.gateway.health_problem(), None);
    assert_eq!(health_status(&addr).await, ServingStatus::Serving as i32);

    wait_for_health(&addr, ServingStatus::NotServing).await;
    assert!(renkei_core::Clock::now_ms(&renkei_core::SystemClock) >= soon);
    let why = tc.cluster.gateway.health_problem().unwrap();
    assert!(why.contains("expired"), "{why}");
    // The hub answers; it is the master data that is stale.
    let refreshed = tc.cluster.gateway.refresh_master().await.unwrap();
    assert!(
        matches!(refreshed, renkei_gateway::Installed::NotNewer(_)),
        "{refreshed:?}"
    );
    assert_eq!(health_status(&addr).await, ServingStatus::NotServing as i32);
    // Work that needs valid master data is refused with UNAVAILABLE, saying why.
    let err = tc
        .ask(
            SAPPORO,
            "expired",
            &movers[0].1.unified_address_number,
            YOKOHAMA,
            25,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(err.message().contains("expired"), "{err:?}");

    // Fresh master data: serving again.
    let fresh = reissued(
        &tc,
        2_000_000_000_000,
        renkei_core::Clock::now_ms(&renkei_core::SystemClock) + 86_400_000,
    )
    .await;
    tc.cluster.gateway.install_master(&fresh).await.unwrap();
    wait_for_health(&addr, ServingStatus::Serving).await;
    assert_eq!(tc.cluster.gateway.health_problem(), None);
    tc.stop().await;
}
