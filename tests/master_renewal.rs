//! The hub renews master data before it expires (issue 12): with a validity of 20 s the hub
//! signs a new bundle every 10 s, the gateway picks each one up, and its health stays
//! SERVING well past the first bundle's expiry. Before renewal existed the gateway turned
//! NOT_SERVING once the bundle signed at start expired.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use renkei_e2e::*;
use renkei_hub::Validity;
use renkei_proto::v1::InquiryState;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_stays_serving_past_the_first_bundles_expiry() {
    let tc = TestCluster::start_with(|o| {
        o.master_validity = Validity::parse("20s").unwrap();
        o.gateway_master_refresh_secs = 1;
    })
    .await;
    let first_version = tc.cluster.hub.master_version();
    let addr = tc.cluster.gateway_local_addr.to_string();
    let movers = tc.movers().await;

    // The first bundle expires 20 s after the hub opened; watch for 25 s.
    let start = Instant::now();
    let mut gateway_versions = vec![tc.cluster.gateway.master_version().unwrap()];
    while start.elapsed() < Duration::from_secs(25) {
        let s = health_status(&addr).await;
        assert_eq!(
            s,
            ServingStatus::Serving as i32,
            "NOT_SERVING after {:?}: {:?}",
            start.elapsed(),
            tc.cluster.gateway.health_problem()
        );
        let v = tc.cluster.gateway.master_version().unwrap();
        if gateway_versions.last() != Some(&v) {
            gateway_versions.push(v);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Renewed at 10 s and 20 s: at least two newer versions reached the gateway.
    assert!(
        gateway_versions.len() >= 3,
        "versions seen by the gateway: {gateway_versions:?}"
    );
    assert!(tc.cluster.hub.master_version() > first_version);
    assert!(gateway_versions.windows(2).all(|w| w[0] < w[1]));

    // An exchange still works on renewed master data.
    let (_, s) = &movers[0];
    let inquiry = tc
        .ask(
            SAPPORO,
            "after-renewal",
            &s.unified_address_number,
            YOKOHAMA,
            25,
        )
        .await
        .unwrap();
    assert_eq!(inquiry.state, InquiryState::Answered as i32, "{inquiry:?}");
    tc.stop().await;
}
