//! The hub's record log over gRPC (`RecordLog`), for auditors, and its periodic heads.
//!
//! Auditors get heads and proofs but never the entries themselves: the hub's records
//! carry the person's symbol at the provider, which stays inside the hub.

use std::sync::Arc;
use std::time::Duration;

use renkei_exchange::record::HUB_KEEPER;
use renkei_proto::v1::record_log_server::RecordLog;
use renkei_proto::v1::{
    ConsistencyProof, GetConsistencyProofRequest, GetInclusionProofRequest, GetTreeHeadRequest,
    GetTreeHeadResponse, InclusionProof,
};
use renkei_records::RecordBook;
use renkei_transport::{Role, peer};
use tonic::{Request, Response, Status};

use crate::HubError;
use crate::exchange::HubState;

#[derive(Debug)]
pub(crate) struct HubLog {
    pub(crate) state: Arc<HubState>,
}

fn auditor<T>(req: &Request<T>) -> Result<(), Status> {
    let id = peer(req)?;
    if matches!(id.role, Role::Auditor { .. }) {
        Ok(())
    } else {
        Err(HubError::WrongRole {
            service: "the hub's record log",
            allowed: "auditors",
            role: id.role.to_string(),
        }
        .into_status())
    }
}

async fn blocking<T: Send + 'static>(
    records: &RecordBook,
    f: impl FnOnce(&RecordBook) -> Result<T, renkei_records::RecordError> + Send + 'static,
) -> Result<T, Status> {
    let records = records.clone();
    tokio::task::spawn_blocking(move || f(&records))
        .await
        .map_err(|e| HubError::task("record log", e).into_status())?
        .map_err(|e| HubError::from(e).into_status())
}

#[tonic::async_trait]
impl RecordLog for HubLog {
    async fn get_tree_head(
        &self,
        req: Request<GetTreeHeadRequest>,
    ) -> Result<Response<GetTreeHeadResponse>, Status> {
        auditor(&req)?;
        let fresh = req.get_ref().fresh;
        let head = blocking(&self.state.records, move |r| r.tree_head(fresh)).await?;
        Ok(Response::new(GetTreeHeadResponse { head: Some(head) }))
    }

    async fn get_inclusion_proof(
        &self,
        req: Request<GetInclusionProofRequest>,
    ) -> Result<Response<InclusionProof>, Status> {
        auditor(&req)?;
        let r = req.into_inner();
        let proof = blocking(&self.state.records, move |b| {
            b.inclusion_proof(r.leaf_index, r.tree_size, false)
        })
        .await?;
        Ok(Response::new(proof))
    }

    async fn get_consistency_proof(
        &self,
        req: Request<GetConsistencyProofRequest>,
    ) -> Result<Response<ConsistencyProof>, Status> {
        auditor(&req)?;
        let r = req.into_inner();
        let proof = blocking(&self.state.records, move |b| {
            b.consistency_proof(r.first, r.second)
        })
        .await?;
        Ok(Response::new(proof))
    }
}

/// Every `every` while the hub serves: purges records past retention and signs a head
/// (only when the log grew).
/// Runs until `stop`, which is only looked at between rounds: a round's blocking work
/// always finishes, so once this returns nothing of it holds the hub's storage.
pub(crate) async fn publish_heads(
    state: Arc<HubState>,
    every: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(every);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {}
        }
        let records = state.records.clone();
        let days = state.config.limits.record_retention_days;
        let now = state.clock.now_ms();
        let work = move || {
            let cutoff = now.saturating_sub(i64::from(days) * 86_400_000);
            records.purge_recorded_before(cutoff, HUB_KEEPER, now, days)?;
            records.publish_tree_head()
        };
        match state.expire_pending().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "pending exchanges past retention forgotten"),
            Err(e) => tracing::error!(error = %e, "expiring pending exchanges failed"),
        }
        match tokio::task::spawn_blocking(work).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "signing the hub's tree head failed"),
            Err(e) => tracing::error!(error = %e, "tree head task failed"),
        }
    }
}
