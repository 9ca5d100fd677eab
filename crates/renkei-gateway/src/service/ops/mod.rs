//! The operator edge: terminals (and, for flags, back-office systems) on the local side.
//!
//! Every call goes through one wrapper, [`Ops::call`]: it finds the caller's tenant and
//! terminal from the certificate, authenticates the session token, checks the right, runs
//! the handler, and writes one audit entry naming the operator, the terminal (name,
//! certificate fingerprint, peer address), the action, the person and procedure concerned,
//! and the outcome — allowed, denied or failed alike. The handlers, one file per concern,
//! hold only what is particular to them.

mod audit;
mod call;
mod flags;
mod held;
mod sessions;
mod users;

use std::sync::Arc;

use renkei_proto::v1::auto_response_block_server::AutoResponseBlock;
use renkei_proto::v1::operators_server::Operators;
use renkei_proto::v1::{
    AddUserRequest, AddUserResponse, BulkSummary, ChangePasswordRequest, ChangePasswordResponse,
    ClearFlagRequest, ClearFlagResponse, DecideRequest, DisableUserRequest, Flag, GetHeldRequest,
    HeldInquiry, ListFlagsRequest, ListFlagsResponse, ListHeldRequest, ListHeldResponse,
    ListUsersRequest, ListUsersResponse, LoginRequest, LoginResponse, LogoutRequest,
    LogoutResponse, OperatorAccount, QueryAuditRequest, QueryAuditResponse, ResetPasswordRequest,
    ResetPasswordResponse, SetFlagRequest, WhoAmIRequest,
};
use tonic::{Request, Response, Status, Streaming};

use crate::Inner;

pub(super) use call::{Audit, Caller, Gate, OpCall};

#[derive(Debug, Clone)]
pub(crate) struct Ops {
    pub(crate) gw: Arc<Inner>,
}

// The generated traits want every method in one impl block; each forwards to its concern.

#[tonic::async_trait]
impl Operators for Ops {
    async fn login(&self, req: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        sessions::login(self, req).await
    }

    async fn logout(
        &self,
        req: Request<LogoutRequest>,
    ) -> Result<Response<LogoutResponse>, Status> {
        sessions::logout(self, req).await
    }

    async fn change_password(
        &self,
        req: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        sessions::change_password(self, req).await
    }

    async fn who_am_i(
        &self,
        req: Request<WhoAmIRequest>,
    ) -> Result<Response<OperatorAccount>, Status> {
        sessions::who_am_i(self, req).await
    }

    async fn add_user(
        &self,
        req: Request<AddUserRequest>,
    ) -> Result<Response<AddUserResponse>, Status> {
        users::add_user(self, req).await
    }

    async fn disable_user(
        &self,
        req: Request<DisableUserRequest>,
    ) -> Result<Response<OperatorAccount>, Status> {
        users::disable_user(self, req).await
    }

    async fn reset_password(
        &self,
        req: Request<ResetPasswordRequest>,
    ) -> Result<Response<ResetPasswordResponse>, Status> {
        users::reset_password(self, req).await
    }

    async fn list_users(
        &self,
        req: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        users::list_users(self, req).await
    }

    async fn query_audit(
        &self,
        req: Request<QueryAuditRequest>,
    ) -> Result<Response<QueryAuditResponse>, Status> {
        audit::query_audit(self, req).await
    }
}

#[tonic::async_trait]
impl AutoResponseBlock for Ops {
    async fn set_flag(&self, req: Request<SetFlagRequest>) -> Result<Response<Flag>, Status> {
        flags::set_flag(self, req).await
    }

    async fn clear_flag(
        &self,
        req: Request<ClearFlagRequest>,
    ) -> Result<Response<ClearFlagResponse>, Status> {
        flags::clear_flag(self, req).await
    }

    async fn list_flags(
        &self,
        req: Request<ListFlagsRequest>,
    ) -> Result<Response<ListFlagsResponse>, Status> {
        flags::list_flags(self, req).await
    }

    async fn import_flags(
        &self,
        req: Request<Streaming<SetFlagRequest>>,
    ) -> Result<Response<BulkSummary>, Status> {
        flags::import_flags(self, req).await
    }

    async fn list_held(
        &self,
        req: Request<ListHeldRequest>,
    ) -> Result<Response<ListHeldResponse>, Status> {
        held::list_held(self, req).await
    }

    async fn get_held(
        &self,
        req: Request<GetHeldRequest>,
    ) -> Result<Response<HeldInquiry>, Status> {
        held::get_held(self, req).await
    }

    async fn decide(&self, req: Request<DecideRequest>) -> Result<Response<HeldInquiry>, Status> {
        held::decide(self, req).await
    }
}
