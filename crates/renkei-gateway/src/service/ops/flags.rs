//! Auto-response-block flags (自動応答不可フラグ): set by flag managers at a terminal or
//! by back-office systems, one at a time or in bulk.

use renkei_proto::v1::{
    AuditEntry, BulkSummary, ClearFlagRequest, ClearFlagResponse, Flag, JobKind, ListFlagsRequest,
    ListFlagsResponse, SetFlagRequest,
};
use tonic::{Request, Response, Status, Streaming};

use super::{Gate, Ops};
use crate::jobs::BulkJob;

/// A unified address number as the audit log may hold it (caller-supplied, so bounded).
fn person(uan: &str) -> String {
    uan.chars().take(15).collect()
}

pub(super) async fn set_flag(
    ops: &Ops,
    req: Request<SetFlagRequest>,
) -> Result<Response<Flag>, Status> {
    ops.call(req, "flag.set", Gate::FlagSetter, async |op, r| {
        op.audit.target = person(&r.unified_address_number);
        op.audit.detail = format!("item {} reason {}", r.item, r.reason);
        op.tenant().set_flag(&r, op.by()).await
    })
    .await
}

pub(super) async fn clear_flag(
    ops: &Ops,
    req: Request<ClearFlagRequest>,
) -> Result<Response<ClearFlagResponse>, Status> {
    ops.call(req, "flag.clear", Gate::FlagSetter, async |op, r| {
        op.audit.target = person(&r.unified_address_number);
        op.audit.detail = format!("item {}", r.item);
        let existed = op
            .tenant()
            .clear_flag(&r.unified_address_number, r.item)
            .await?;
        Ok(ClearFlagResponse { existed })
    })
    .await
}

pub(super) async fn list_flags(
    ops: &Ops,
    req: Request<ListFlagsRequest>,
) -> Result<Response<ListFlagsResponse>, Status> {
    ops.call(req, "flag.list", Gate::FlagSetter, async |op, r| {
        op.audit.target = person(&r.unified_address_number);
        let flags = op.tenant().list_flags(&r.unified_address_number).await?;
        Ok(ListFlagsResponse { flags })
    })
    .await
}

/// A bulk load: bad records are listed with their position, good ones kept, and each flag
/// set is on record by person, like a single SetFlag.
pub(super) async fn import_flags(
    ops: &Ops,
    req: Request<Streaming<SetFlagRequest>>,
) -> Result<Response<BulkSummary>, Status> {
    let mut op = ops.open(&req, "flag.import", Gate::FlagSetter).await?;
    let by = op.by().to_owned();
    let started_by = if op.caller.system.is_some() {
        by.clone()
    } else {
        format!("operator:{by}")
    };
    let tenant = op.tenant().clone();
    let job = match tenant.jobs.start(JobKind::ImportFlags, started_by) {
        Ok(j) => j,
        Err(e) => return op.finish(Err(e)).await,
    };
    let mut checked = Vec::new();
    let entry = |f: Flag| AuditEntry {
        operator: by.clone(),
        terminal: op.caller.terminal.name.clone(),
        terminal_cert_sha256: op.caller.terminal.cert_sha256.clone(),
        peer_address: op.caller.terminal.peer_address.clone(),
        action: "flag.set".into(),
        target: f.unified_address_number,
        outcome: "ok".into(),
        detail: format!("item {} reason {} (bulk import)", f.item, f.reason),
        ..Default::default()
    };
    let ran = BulkJob::new(job, req.into_inner())
        .run(|chunk, summary| {
            checked.extend(tenant.check_flags(chunk.first, &chunk.items, &by, summary));
            Ok(())
        })
        .await;
    let end = match ran {
        Ok(end) => end,
        Err(e) => return op.finish(Err(e)).await,
    };
    if let Err(e) = tenant.store_flags(&checked).await {
        return op.finish(Err(e)).await;
    }
    let per_person: Vec<AuditEntry> = checked.into_iter().map(&entry).collect();
    let committed = tenant.commit().await;
    if let Err(e) = tenant.ops.audit.append_all(per_person).await {
        tracing::error!(tenant = %tenant.code, error = %e, "audit entries not written");
    }
    op.audit.detail = format!(
        "{} accepted, {} rejected",
        end.summary.accepted, end.summary.rejected
    );
    match end.into_result("flag") {
        Ok(summary) => op.finish(committed.map(|()| summary)).await,
        Err(broken) => Err(op.end_with("stream-broken", broken).await),
    }
}
