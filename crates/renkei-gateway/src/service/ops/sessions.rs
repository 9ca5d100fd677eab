//! Logging in and out, changing one's password, asking who one is.

use renkei_proto::v1::{
    ChangePasswordRequest, ChangePasswordResponse, LoginRequest, LoginResponse, LogoutRequest,
    LogoutResponse, OperatorAccount, WhoAmIRequest,
};
use tonic::{Request, Response, Status};

use super::{Gate, Ops};

pub(super) async fn login(
    ops: &Ops,
    req: Request<LoginRequest>,
) -> Result<Response<LoginResponse>, Status> {
    ops.call(req, "login", Gate::Open, async |op, r| {
        // Only a well-formed user id goes into the log: the field is caller-controlled.
        op.audit.operator = match renkei_ops::check_user_id(&r.user) {
            Ok(()) => r.user.clone(),
            Err(_) => "(malformed user id)".into(),
        };
        let book = &op.tenant().ops;
        let li = book
            .login(&r.user, &r.password, &op.caller.terminal)
            .await?;
        Ok(LoginResponse {
            token: li.token,
            idle_timeout_secs: book.policy().idle_timeout.as_secs(),
            expires_at_ms: li.expires_at_ms,
            must_change_password: li.account.must_change_password,
            account: Some(li.account),
        })
    })
    .await
}

pub(super) async fn logout(
    ops: &Ops,
    req: Request<LogoutRequest>,
) -> Result<Response<LogoutResponse>, Status> {
    ops.call(req, "logout", Gate::Session, async |op, _| {
        op.tenant().ops.logout(op.actor()?).await?;
        Ok(LogoutResponse {})
    })
    .await
}

pub(super) async fn change_password(
    ops: &Ops,
    req: Request<ChangePasswordRequest>,
) -> Result<Response<ChangePasswordResponse>, Status> {
    ops.call(req, "password.change", Gate::Session, async |op, r| {
        op.tenant()
            .ops
            .change_password(op.actor()?, &r.current_password, &r.new_password)
            .await?;
        Ok(ChangePasswordResponse {})
    })
    .await
}

pub(super) async fn who_am_i(
    ops: &Ops,
    req: Request<WhoAmIRequest>,
) -> Result<Response<OperatorAccount>, Status> {
    ops.call(req, "whoami", Gate::Session, async |op, _| {
        Ok(op.tenant().ops.whoami(op.actor()?).await?)
    })
    .await
}
