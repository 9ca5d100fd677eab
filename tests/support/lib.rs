//! Shared harness for the end-to-end tests: a real hub and gateway on loopback with mTLS
//! (`renkei_testkit::cluster`), the demo population, clients for each role, and gateway
//! health.
#![forbid(unsafe_code)]
#![allow(missing_debug_implementations, unreachable_pub, clippy::unwrap_used)]

pub mod rfc9162;

use std::path::PathBuf;

pub mod ops;

use renkei_proto::v1::inquiries_client::InquiriesClient;
use renkei_proto::v1::provision_copies_client::ProvisionCopiesClient;
use renkei_proto::v1::symbols_client::SymbolsClient;
use renkei_proto::v1::{Inquiry, SubmitInquiryRequest};
use renkei_testkit::cluster::{Cluster, ClusterOptions, GATEWAY_SERVER_NAME};
use renkei_testkit::population::{self, Resident};
use renkei_transport::{ClientOptions, Credentials};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

pub const SAPPORO: &str = "011002";
pub const YOKOHAMA: &str = "141003";
pub const OKAZAKI: &str = "232025";

/// The checked-in development certificates.
pub fn certs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../certs-dev")
}

pub struct TestCluster {
    pub cluster: Cluster,
    pub dir: tempfile::TempDir,
}

impl TestCluster {
    pub async fn start() -> TestCluster {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ClusterOptions)) -> TestCluster {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = ClusterOptions::new(certs_dir(), dir.path());
        adjust(&mut opts);
        let cluster = Cluster::start(opts).await.unwrap();
        TestCluster { cluster, dir }
    }

    pub fn backoffice(&self, code: &str) -> Channel {
        self.cluster.backoffice(code).unwrap()
    }

    pub fn symbols(&self, code: &str) -> SymbolsClient<Channel> {
        SymbolsClient::new(self.backoffice(code))
    }

    pub fn copies(&self, code: &str) -> ProvisionCopiesClient<Channel> {
        ProvisionCopiesClient::new(self.backoffice(code))
    }

    pub fn inquiries(&self, code: &str) -> InquiriesClient<Channel> {
        InquiriesClient::new(self.backoffice(code))
    }

    /// Registers, acquires and (if it has a history) registers the copy of each resident,
    /// with the single calls (the bulk ones have tests of their own).
    pub async fn enrol(&self, code: &str, residents: &[Resident]) {
        renkei_testkit::enrol(
            &self.backoffice(code),
            residents,
            renkei_testkit::Calls::Single,
        )
        .await
        .unwrap();
    }

    /// The demo's two movers, enrolled on both sides. Returns (in 横浜市, in 札幌市) pairs.
    pub async fn movers(&self) -> Vec<(Resident, Resident)> {
        let movers = population::movers(today());
        for (y, s) in &movers {
            self.enrol(YOKOHAMA, std::slice::from_ref(y)).await;
            self.enrol(SAPPORO, std::slice::from_ref(s)).await;
        }
        movers
    }

    pub async fn ask(
        &self,
        inquirer: &str,
        key: &str,
        uan: &str,
        provider: &str,
        item: u32,
    ) -> Result<Inquiry, tonic::Status> {
        self.inquiries(inquirer)
            .submit_inquiry(ask_request(key, uan, provider, item))
            .await
            .map(|r| r.into_inner())
    }

    /// Stops the servers and hands back the data directory, so a test can inspect what was
    /// written to disk after every writer has flushed and closed.
    pub async fn stop(self) -> tempfile::TempDir {
        self.cluster.shutdown().await.unwrap();
        self.dir
    }
}

pub fn ask_request(key: &str, uan: &str, provider: &str, item: u32) -> SubmitInquiryRequest {
    SubmitInquiryRequest {
        idempotency_key: key.into(),
        unified_address_number: uan.into(),
        provider: provider.into(),
        procedure: "vaccination".into(),
        item,
        case_reference: String::new(),
        disclose_after_ms: 0,
    }
}

pub fn today() -> time::Date {
    population::today(&renkei_core::SystemClock)
}

/// A channel to the gateway at `addr` as 札幌市's back office, for a gateway started
/// without a [`TestCluster`] (or after its cluster's channels were made).
pub fn backoffice_at(addr: &str) -> Channel {
    let d = certs_dir();
    let creds = Credentials::load(
        &d.join("ca.pem"),
        &d.join("backoffice-011002.pem"),
        &d.join("backoffice-011002.key.pem"),
    )
    .unwrap();
    renkei_transport::channel(addr, GATEWAY_SERVER_NAME, &creds, &ClientOptions::default()).unwrap()
}

/// The gateway's gRPC health status (the whole server's, service "").
pub async fn health_status(addr: &str) -> i32 {
    HealthClient::new(backoffice_at(addr))
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

/// Polls until the health status is `want` (the background check runs every half second
/// at most); panics after five seconds.
pub async fn wait_for_health(addr: &str, want: ServingStatus) {
    for _ in 0..50 {
        if health_status(addr).await == want as i32 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("health never became {want:?}");
}

/// Every file under `dir`, read whole, for tests that search storage for what must not be there.
pub fn all_bytes_under(dir: &std::path::Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
