//! Account management (administrators only).

use renkei_ops::Right;
use renkei_proto::v1::{
    AddUserRequest, AddUserResponse, DisableUserRequest, ListUsersRequest, ListUsersResponse,
    OperatorAccount, ResetPasswordRequest, ResetPasswordResponse,
};
use tonic::{Request, Response, Status};

use super::{Gate, Ops};

const ADMIN: Gate = Gate::Right(Right::Administer);

/// A user id as the audit log may hold it: bounded, since the field is caller-supplied.
fn named(user: &str) -> String {
    user.chars().take(64).collect()
}

pub(super) async fn add_user(
    ops: &Ops,
    req: Request<AddUserRequest>,
) -> Result<Response<AddUserResponse>, Status> {
    ops.call(req, "user.add", ADMIN, async |op, r| {
        op.audit.detail = named(&r.user);
        let (account, one_time_password) = op
            .tenant()
            .ops
            .add_user(&r.user, &r.display_name, r.grants)
            .await?;
        Ok(AddUserResponse {
            account: Some(account),
            one_time_password,
        })
    })
    .await
}

pub(super) async fn disable_user(
    ops: &Ops,
    req: Request<DisableUserRequest>,
) -> Result<Response<OperatorAccount>, Status> {
    ops.call(req, "user.disable", ADMIN, async |op, r| {
        op.audit.detail = named(&r.user);
        Ok(op.tenant().ops.disable_user(&r.user).await?)
    })
    .await
}

pub(super) async fn reset_password(
    ops: &Ops,
    req: Request<ResetPasswordRequest>,
) -> Result<Response<ResetPasswordResponse>, Status> {
    ops.call(req, "user.reset-password", ADMIN, async |op, r| {
        op.audit.detail = named(&r.user);
        let one_time_password = op.tenant().ops.reset_password(&r.user).await?;
        Ok(ResetPasswordResponse { one_time_password })
    })
    .await
}

pub(super) async fn list_users(
    ops: &Ops,
    req: Request<ListUsersRequest>,
) -> Result<Response<ListUsersResponse>, Status> {
    ops.call(req, "user.list", ADMIN, async |op, _| {
        let accounts = op.tenant().ops.list_users().await?;
        Ok(ListUsersResponse { accounts })
    })
    .await
}
