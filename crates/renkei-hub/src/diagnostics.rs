//! Peer connection test at the hub: the standard health check of every connected agency's
//! gateway (network side), concurrently, each with a short deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use renkei_proto::v1::diagnostics_server::Diagnostics;
use renkei_proto::v1::{PeerResult, PeerStatus, TestPeersRequest, TestPeersResponse};
use renkei_transport::{ClientOptions, Role, peer};
use tonic::{Request, Response, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::HubError;
use crate::exchange::HubState;

const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug)]
pub(crate) struct HubDiagnostics {
    pub(crate) state: Arc<HubState>,
}

async fn probe(state: &HubState, endpoint: &str, server_name: &str) -> (PeerStatus, String) {
    let opts = ClientOptions {
        request_timeout: PROBE_TIMEOUT,
        ..ClientOptions::default()
    };
    let channel = match renkei_transport::channel(endpoint, server_name, &state.credentials, &opts)
    {
        Ok(c) => c,
        Err(e) => return (PeerStatus::Unreachable, e.to_string()),
    };
    let mut client = HealthClient::new(channel);
    let check = client.check(HealthCheckRequest {
        service: String::new(),
    });
    match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(Ok(r)) if r.get_ref().status == ServingStatus::Serving as i32 => {
            (PeerStatus::Serving, String::new())
        }
        Ok(Ok(_)) => (
            PeerStatus::NotServing,
            "the gateway reports it cannot serve".into(),
        ),
        Ok(Err(s)) => (PeerStatus::Unreachable, s.message().to_owned()),
        Err(_) => (
            PeerStatus::Unreachable,
            format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
        ),
    }
}

#[tonic::async_trait]
impl Diagnostics for HubDiagnostics {
    async fn test_peers(
        &self,
        req: Request<TestPeersRequest>,
    ) -> Result<Response<TestPeersResponse>, Status> {
        let id = peer(&req)?;
        if !matches!(id.role, Role::Tenant { .. }) {
            return Err(HubError::WrongRole {
                service: "the peer test",
                allowed: "gateways acting for a municipality",
                role: id.role.to_string(),
            }
            .into_status());
        }
        let published = self.state.published();
        let probes = published.data.bundle().agencies.iter().map(|a| {
            let state = self.state.clone();
            let agency = a.clone();
            async move {
                if agency.endpoint.is_empty() {
                    return PeerResult {
                        peer: agency.code,
                        name: agency.name,
                        status: PeerStatus::NotConnected as i32,
                        ..Default::default()
                    };
                }
                let started = Instant::now();
                let (status, detail) = probe(&state, &agency.endpoint, &agency.server_name).await;
                PeerResult {
                    peer: agency.code,
                    name: agency.name,
                    endpoint: agency.endpoint,
                    status: status as i32,
                    latency_ms: started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32,
                    detail,
                }
            }
        });
        let agencies = futures::future::join_all(probes).await;
        Ok(Response::new(TestPeersResponse {
            hub: None,
            agencies,
        }))
    }
}
