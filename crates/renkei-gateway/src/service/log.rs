//! A tenant's record log over gRPC (`RecordLog`): its back office gets signed tree heads
//! and RFC 9162 proofs, with the entries (its own records) so it can recompute leaves.

use renkei_proto::v1::record_log_server::RecordLog;
use renkei_proto::v1::{
    ConsistencyProof, GetConsistencyProofRequest, GetInclusionProofRequest, GetTreeHeadRequest,
    GetTreeHeadResponse, InclusionProof,
};
use renkei_records::{RecordBook, RecordError};
use tonic::{Request, Response, Status};

use super::local::Local;
use crate::GatewayError;

async fn blocking<T: Send + 'static>(
    records: &RecordBook,
    f: impl FnOnce(&RecordBook) -> Result<T, RecordError> + Send + 'static,
) -> Result<T, Status> {
    let records = records.clone();
    tokio::task::spawn_blocking(move || f(&records))
        .await
        .map_err(|e| GatewayError::task("record log", e).into_status())?
        .map_err(|e| GatewayError::from(e).into_status())
}

#[tonic::async_trait]
impl RecordLog for Local {
    async fn get_tree_head(
        &self,
        req: Request<GetTreeHeadRequest>,
    ) -> Result<Response<GetTreeHeadResponse>, Status> {
        let t = self.tenant(&req)?;
        let fresh = req.get_ref().fresh;
        let head = blocking(&t.records, move |r| r.tree_head(fresh)).await?;
        Ok(Response::new(GetTreeHeadResponse { head: Some(head) }))
    }

    async fn get_inclusion_proof(
        &self,
        req: Request<GetInclusionProofRequest>,
    ) -> Result<Response<InclusionProof>, Status> {
        let t = self.tenant(&req)?;
        let r = req.into_inner();
        let proof = blocking(&t.records, move |b| {
            b.inclusion_proof(r.leaf_index, r.tree_size, true)
        })
        .await?;
        Ok(Response::new(proof))
    }

    async fn get_consistency_proof(
        &self,
        req: Request<GetConsistencyProofRequest>,
    ) -> Result<Response<ConsistencyProof>, Status> {
        let t = self.tenant(&req)?;
        let r = req.into_inner();
        let proof = blocking(&t.records, move |b| b.consistency_proof(r.first, r.second)).await?;
        Ok(Response::new(proof))
    }
}
