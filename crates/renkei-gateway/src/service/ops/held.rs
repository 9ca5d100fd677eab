//! Held answers (自動応答不可): approvers list, read and decide them, each only for the
//! procedures they hold the approval right of.

use renkei_proto::v1::{
    DecideRequest, Decision, GetHeldRequest, HeldInquiry, HeldState, ListHeldRequest,
    ListHeldResponse,
};
use tonic::{Request, Response, Status};

use super::{Gate, OpCall, Ops};
use crate::GatewayError;
use crate::held::DecisionInput;

pub(super) async fn list_held(
    ops: &Ops,
    req: Request<ListHeldRequest>,
) -> Result<Response<ListHeldResponse>, Status> {
    ops.call(req, "held.list", Gate::Session, async |op, r| {
        let procedures = op.actor()?.require_approver()?;
        let state = HeldState::try_from(r.state).unwrap_or(HeldState::Waiting);
        let held = op.tenant().list_held(state, Some(&procedures)).await?;
        Ok(ListHeldResponse { held })
    })
    .await
}

/// Loads a held inquiry for an approver of its procedure; the audit entry names the
/// person and procedure whether or not the operator may see it.
async fn load_for_approver(op: &mut OpCall, permit_id: &str) -> Result<HeldInquiry, GatewayError> {
    op.audit.detail = permit_id.chars().take(64).collect();
    let held = op.tenant().get_held(permit_id).await?;
    op.audit.target = held.unified_address_number.clone();
    op.audit.procedure = held.procedure.clone();
    op.actor()?.require_approver_of(&held.procedure)?;
    Ok(held)
}

pub(super) async fn get_held(
    ops: &Ops,
    req: Request<GetHeldRequest>,
) -> Result<Response<HeldInquiry>, Status> {
    ops.call(req, "held.show", Gate::Session, async |op, r| {
        load_for_approver(op, &r.permit_id).await
    })
    .await
}

pub(super) async fn decide(
    ops: &Ops,
    req: Request<DecideRequest>,
) -> Result<Response<HeldInquiry>, Status> {
    let decision = Decision::try_from(req.get_ref().decision).unwrap_or(Decision::Unspecified);
    let action = match decision {
        Decision::Approve => "held.approve",
        Decision::Refuse => "held.refuse",
        _ => "held.decide",
    };
    let gw = ops.gw.clone();
    ops.call(req, action, Gate::Session, async move |op, r| {
        op.audit.detail = r.permit_id.chars().take(64).collect();
        op.actor()?.require_approver()?;
        load_for_approver(op, &r.permit_id).await?;
        let master = gw.master.get()?;
        let operator = op.actor()?.user.clone();
        op.tenant()
            .decide(
                &master,
                DecisionInput {
                    permit_id: r.permit_id,
                    decision,
                    confirmations: r.confirmations,
                    manual_content: r.manual_content,
                    operator,
                },
            )
            .await
    })
    .await
}
