//! Peer connection test for a tenant's back office: gateway → hub (timed here), then the
//! hub's check of every connected agency's gateway.

use std::time::Instant;

use renkei_proto::v1::diagnostics_server::Diagnostics;
use renkei_proto::v1::{PeerResult, PeerStatus, TestPeersRequest, TestPeersResponse};
use tonic::{Request, Response, Status};

use super::local::Local;

#[tonic::async_trait]
impl Diagnostics for Local {
    async fn test_peers(
        &self,
        req: Request<TestPeersRequest>,
    ) -> Result<Response<TestPeersResponse>, Status> {
        let t = self.tenant(&req)?;
        let link = &self.gw.config.hub;
        let started = Instant::now();
        let answer = t.diagnostics.clone().test_peers(TestPeersRequest {}).await;
        let latency_ms = started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
        let mut hub = PeerResult {
            peer: "hub".into(),
            name: "情報提供ネットワークシステム".into(),
            endpoint: link.endpoint.clone(),
            latency_ms,
            ..Default::default()
        };
        let agencies = match answer {
            Ok(r) => {
                hub.status = PeerStatus::Serving as i32;
                r.into_inner().agencies
            }
            Err(s) => {
                hub.status = PeerStatus::Unreachable as i32;
                hub.detail = s.message().to_owned();
                Vec::new()
            }
        };
        tracing::info!(tenant = %t.code, hub = hub.status, agencies = agencies.len(), "peer test");
        Ok(Response::new(TestPeersResponse {
            hub: Some(hub),
            agencies,
        }))
    }
}
