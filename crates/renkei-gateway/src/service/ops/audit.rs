//! Reading the audit log (administrators and records reviewers).

use renkei_proto::v1::{QueryAuditRequest, QueryAuditResponse};
use tonic::{Request, Response, Status};

use super::{Gate, Ops};

pub(super) async fn query_audit(
    ops: &Ops,
    req: Request<QueryAuditRequest>,
) -> Result<Response<QueryAuditResponse>, Status> {
    ops.call(req, "audit.query", Gate::Session, async |op, q| {
        op.actor()?.require_audit_reader()?;
        let entries = op.tenant().ops.audit.query(&q).await?;
        Ok(QueryAuditResponse { entries })
    })
    .await
}
