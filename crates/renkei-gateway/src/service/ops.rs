//! The operator edge: terminals (and, for flags, back-office systems) on the local side.
//!
//! Every call is authorised here, in one place, and every call — allowed, denied or failed —
//! leaves one audit entry naming the operator, the terminal (name, certificate fingerprint,
//! peer address), the action, the person and procedure concerned, and the outcome.

use std::sync::Arc;

use futures::StreamExt as _;
use renkei_ops::{Actor, Right, Terminal};
use renkei_proto::v1::auto_response_block_server::AutoResponseBlock;
use renkei_proto::v1::operators_server::Operators;
use renkei_proto::v1::{
    AddUserRequest, AddUserResponse, AuditEntry, BulkSummary, ChangePasswordRequest,
    ChangePasswordResponse, ClearFlagRequest, ClearFlagResponse, DecideRequest, Decision,
    DisableUserRequest, Flag, GetHeldRequest, HeldInquiry, HeldState, JobKind, JobState,
    ListFlagsRequest, ListFlagsResponse, ListHeldRequest, ListHeldResponse, ListUsersRequest,
    ListUsersResponse, LoginRequest, LoginResponse, LogoutRequest, LogoutResponse, OperatorAccount,
    QueryAuditRequest, QueryAuditResponse, ResetPasswordRequest, ResetPasswordResponse,
    SetFlagRequest, WhoAmIRequest,
};
use renkei_transport::{Role, peer};
use tonic::{Request, Response, Status, Streaming};

use crate::held::DecisionInput;
use crate::tenant::Tenant;
use crate::{GatewayError, Inner};

const CHUNK: usize = 1000;

#[derive(Debug, Clone)]
pub(crate) struct Ops {
    pub(crate) gw: Arc<Inner>,
}

/// Who is calling, as far as the connection proves it.
pub(super) struct Caller {
    pub(super) tenant: Arc<Tenant>,
    terminal: Terminal,
    /// `Some(system)` for a back-office system (flags only), `None` for a terminal.
    system: Option<String>,
}

/// What one audit entry says about the call, filled in as the handler learns it.
#[derive(Default)]
pub(super) struct Audit {
    action: &'static str,
    pub(super) operator: String,
    pub(super) target: String,
    pub(super) procedure: String,
    pub(super) detail: String,
}

impl Audit {
    pub(super) fn new(action: &'static str) -> Audit {
        Audit {
            action,
            ..Default::default()
        }
    }
}

fn bearer<T>(req: &Request<T>) -> String {
    req.metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
        .unwrap_or_default()
}

fn outcome_of(e: &GatewayError) -> &'static str {
    match e {
        GatewayError::Ops(o) => o.audit_outcome(),
        GatewayError::PermissionDenied(_) => "denied",
        GatewayError::InvalidArgument { .. } => "invalid",
        GatewayError::NotFound(_) => "not-found",
        GatewayError::FailedPrecondition(_) => "refused",
        GatewayError::Unavailable(_) => "unavailable",
        _ => e.audit_outcome(),
    }
}

impl Ops {
    pub(super) fn caller<T>(
        &self,
        req: &Request<T>,
        flags_only_ok: bool,
    ) -> Result<Caller, Status> {
        let id = peer(req)?;
        let (agency, terminal, system) = match &id.role {
            Role::Terminal { agency, terminal } => (agency, terminal.clone(), None),
            Role::BackOffice { agency, system } if flags_only_ok => {
                (agency, system.clone(), Some(system.clone()))
            }
            other => {
                return Err(GatewayError::PermissionDenied(format!(
                    "this service serves operator terminals{}; your certificate is for {other}",
                    if flags_only_ok {
                        " and back-office systems"
                    } else {
                        ""
                    }
                ))
                .into_status());
            }
        };
        let tenant = self
            .gw
            .tenants
            .get(agency.as_str())
            .cloned()
            .ok_or_else(|| {
                GatewayError::PermissionDenied(format!(
                    "this gateway does not host agency {agency}"
                ))
                .into_status()
            })?;
        Ok(Caller {
            tenant,
            terminal: Terminal {
                name: terminal,
                cert_sha256: id.cert_fingerprint_hex(),
                peer_address: id.remote_addr.map(|a| a.to_string()).unwrap_or_default(),
            },
            system,
        })
    }

    async fn write_audit(caller: &Caller, audit: &Audit, outcome: &str) {
        let entry = AuditEntry {
            operator: audit.operator.clone(),
            terminal: caller.terminal.name.clone(),
            terminal_cert_sha256: caller.terminal.cert_sha256.clone(),
            peer_address: caller.terminal.peer_address.clone(),
            action: audit.action.into(),
            target: audit.target.clone(),
            procedure: audit.procedure.clone(),
            outcome: outcome.into(),
            detail: audit.detail.clone(),
            ..Default::default()
        };
        if let Err(e) = caller.tenant.ops.audit.append(entry).await {
            tracing::error!(tenant = %caller.tenant.code, error = %e, "audit entry not written");
        }
    }

    /// Audits the result of a handler body and maps its error to a status.
    pub(super) async fn finish<R>(
        caller: &Caller,
        audit: &Audit,
        result: Result<R, GatewayError>,
    ) -> Result<Response<R>, Status> {
        match result {
            Ok(r) => {
                Self::write_audit(caller, audit, "ok").await;
                Ok(Response::new(r))
            }
            Err(e) => {
                Self::write_audit(caller, audit, outcome_of(&e)).await;
                Err(e.into_status())
            }
        }
    }

    /// The logged-in operator behind the call, with `right` checked if given. Failures are
    /// audited here; the caller audits the action itself once it ran.
    pub(super) async fn operator<T>(
        &self,
        req: &Request<T>,
        caller: &Caller,
        audit: &mut Audit,
        right: Option<Right<'_>>,
    ) -> Result<Actor, Status> {
        if caller.system.is_some() {
            return Err(GatewayError::PermissionDenied(
                "a back-office system may only manage flags; operator calls come from a terminal"
                    .into(),
            )
            .into_status());
        }
        let token = bearer(req);
        let actor = match caller
            .tenant
            .ops
            .authenticate(&token, &caller.terminal)
            .await
        {
            Ok(a) => a,
            Err((e, ended_user)) => {
                if let Some(user) = ended_user {
                    let ended = Audit {
                        action: "logout.automatic",
                        operator: user.clone(),
                        detail: e.to_string(),
                        ..Default::default()
                    };
                    Self::write_audit(caller, &ended, "ok").await;
                    audit.operator = user;
                }
                // A session of another municipality: say so, instead of "not logged in".
                let elsewhere = !token.is_empty()
                    && self.gw.tenants.values().any(|t| {
                        t.code != caller.tenant.code && t.ops.has_session(&token).unwrap_or(false)
                    });
                let err = if elsewhere {
                    GatewayError::PermissionDenied(format!(
                        "this session belongs to another municipality's operator; operators act only \
                         within their own municipality ({} here)",
                        caller.tenant.code
                    ))
                } else {
                    GatewayError::Ops(e)
                };
                Self::write_audit(caller, audit, outcome_of(&err)).await;
                return Err(err.into_status());
            }
        };
        audit.operator = actor.user.clone();
        if actor.must_change_password
            && !matches!(audit.action, "password.change" | "logout" | "whoami")
        {
            let err = GatewayError::FailedPrecondition(
                "the password is a one-time password: change it first (ChangePassword)".into(),
            );
            Self::write_audit(caller, audit, outcome_of(&err)).await;
            return Err(err.into_status());
        }
        if let Some(right) = right
            && !actor.has(&right)
        {
            let err = GatewayError::PermissionDenied(format!(
                "operator {} of {} lacks the right {right:?}",
                actor.user, caller.tenant.code
            ));
            Self::write_audit(caller, audit, outcome_of(&err)).await;
            return Err(err.into_status());
        }
        Ok(actor)
    }

    /// For flag calls: an operator with the flag-manager right, or a back-office system.
    async fn flag_setter<T>(
        &self,
        req: &Request<T>,
        caller: &Caller,
        audit: &mut Audit,
    ) -> Result<String, Status> {
        match &caller.system {
            Some(system) => {
                audit.operator = format!("backoffice:{system}");
                Ok(audit.operator.clone())
            }
            None => Ok(self
                .operator(req, caller, audit, Some(Right::ManageFlags))
                .await?
                .user),
        }
    }

    pub(super) async fn deny(caller: &Caller, audit: &Audit, message: String) -> Status {
        let err = GatewayError::PermissionDenied(message);
        Self::write_audit(caller, audit, outcome_of(&err)).await;
        err.into_status()
    }
}

#[tonic::async_trait]
impl Operators for Ops {
    async fn login(&self, req: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        let caller = self.caller(&req, false)?;
        let r = req.into_inner();
        let mut audit = Audit::new("login");
        // Only a well-formed user id goes into the log: the field is caller-controlled.
        audit.operator = match renkei_ops::check_user_id(&r.user) {
            Ok(()) => r.user.clone(),
            Err(_) => "(malformed user id)".into(),
        };
        let result = caller
            .tenant
            .ops
            .login(&r.user, &r.password, &caller.terminal)
            .await
            .map(|li| LoginResponse {
                token: li.token,
                idle_timeout_secs: caller.tenant.ops.policy().idle_timeout.as_secs(),
                expires_at_ms: li.expires_at_ms,
                must_change_password: li.account.must_change_password,
                account: Some(li.account),
            })
            .map_err(GatewayError::from);
        Self::finish(&caller, &audit, result).await
    }

    async fn logout(
        &self,
        req: Request<LogoutRequest>,
    ) -> Result<Response<LogoutResponse>, Status> {
        let caller = self.caller(&req, false)?;
        let mut audit = Audit::new("logout");
        let actor = self.operator(&req, &caller, &mut audit, None).await?;
        let result = caller
            .tenant
            .ops
            .logout(&actor)
            .await
            .map(|()| LogoutResponse {});
        Self::finish(&caller, &audit, result.map_err(GatewayError::from)).await
    }

    async fn change_password(
        &self,
        req: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        let caller = self.caller(&req, false)?;
        let mut audit = Audit::new("password.change");
        let actor = self.operator(&req, &caller, &mut audit, None).await?;
        let r = req.into_inner();
        let result = caller
            .tenant
            .ops
            .change_password(&actor, &r.current_password, &r.new_password)
            .await
            .map(|()| ChangePasswordResponse {});
        Self::finish(&caller, &audit, result.map_err(GatewayError::from)).await
    }

    async fn who_am_i(
        &self,
        req: Request<WhoAmIRequest>,
    ) -> Result<Response<OperatorAccount>, Status> {
        let caller = self.caller(&req, false)?;
        let mut audit = Audit::new("whoami");
        let actor = self.operator(&req, &caller, &mut audit, None).await?;
        let result = caller.tenant.ops.whoami(&actor);
        Self::finish(&caller, &audit, result.map_err(GatewayError::from)).await
    }

    async fn add_user(
        &self,
        req: Request<AddUserRequest>,
    ) -> Result<Response<AddUserResponse>, Status> {
        let caller = self.caller(&req, false)?;
        let mut audit = Audit::new("user.add");
        self.operator(&req, &caller, &mut audit, Some(Right::Administer))
            .await?;
        let r = req.into_inner();
        audit.detail = r.user.chars().take(64).collect();
        let result = caller
            .tenant
            .ops
            .add_user(&r.user, &r.display_name, r.grants)
            .await
            .map(|(account, one_time_password)| AddUserResponse {
                account: Some(account),
                one_time_password,
            });
        Self::finish(&caller, &audit, result.map_err(GatewayError::from)).await
    }

    async fn disable_user(
        &self,
        req: Request<DisableUserRequest>,
    ) -> Result<Response<OperatorAccount>, Status> {
        let caller = self.caller(&req, false)?;
        let mut audit = Audit::new("user.disable");
        self.operator(&req, &caller, &mut audit, Some(Right::Administer))
            .await?;
        let user = req.into_inner().user;
        audit.detail = user.chars().take(64).collect();
        let result = caller.tenant.ops.disable_user(&user).await;
        Self::finish(&caller, &audit, result.map_err(GatewayError::from)).await
    }

    async fn reset_password(
        &self,
        req: Request<ResetPasswordRequest>,
    ) -> Result<Response<ResetPasswordResponse>, Status> {
        let caller = self.caller(&req, false)?;
        let mut audit = Audit::new("user.reset-password");
        self.operator(&req, &caller, &mut audit, Some(Right::Administer))
            .await?;
        let user = req.into_inner().user;
        audit.detail = user.chars().take(64).collect();
        let result = caller
            .tenant
            .ops
            .reset_password(&user)
            .await
            .map(|one_time_password| ResetPasswordResponse { one_time_password });
        Self::finish(&caller, &audit, result.map_err(GatewayError::from)).await
    }

    async fn list_users(
        &self,
        req: Request<ListUsersRequest>,
    ) -> Result<Response<ListUsersResponse>, Status> {
        let caller = self.caller(&req, false)?;
        let mut audit = Audit::new("user.list");
        self.operator(&req, &caller, &mut audit, Some(Right::Administer))
            .await?;
        let result = caller
            .tenant
            .ops
            .list_users()
            .map(|accounts| ListUsersResponse { accounts });
        Self::finish(&caller, &audit, result.map_err(GatewayError::from)).await
    }

    async fn query_audit(
        &self,
        req: Request<QueryAuditRequest>,
    ) -> Result<Response<QueryAuditResponse>, Status> {
        let caller = self.caller(&req, false)?;
        let mut audit = Audit::new("audit.query");
        let actor = self.operator(&req, &caller, &mut audit, None).await?;
        if !(actor.has(&Right::Administer) || actor.has(&Right::ReviewRecords)) {
            return Err(Self::deny(
                &caller,
                &audit,
                format!(
                    "operator {} may not read the audit log: administrators and records reviewers only",
                    actor.user
                ),
            )
            .await);
        }
        let result = caller
            .tenant
            .ops
            .audit
            .query(req.get_ref())
            .map(|entries| QueryAuditResponse { entries });
        Self::finish(&caller, &audit, result.map_err(GatewayError::from)).await
    }
}

#[tonic::async_trait]
impl AutoResponseBlock for Ops {
    async fn set_flag(&self, req: Request<SetFlagRequest>) -> Result<Response<Flag>, Status> {
        let caller = self.caller(&req, true)?;
        let mut audit = Audit::new("flag.set");
        let by = self.flag_setter(&req, &caller, &mut audit).await?;
        let r = req.into_inner();
        audit.target = r.unified_address_number.chars().take(15).collect();
        audit.detail = format!("item {} reason {}", r.item, r.reason);
        let result = caller.tenant.set_flag(&r, &by).await;
        Self::finish(&caller, &audit, result).await
    }

    async fn clear_flag(
        &self,
        req: Request<ClearFlagRequest>,
    ) -> Result<Response<ClearFlagResponse>, Status> {
        let caller = self.caller(&req, true)?;
        let mut audit = Audit::new("flag.clear");
        self.flag_setter(&req, &caller, &mut audit).await?;
        let r = req.into_inner();
        audit.target = r.unified_address_number.chars().take(15).collect();
        audit.detail = format!("item {}", r.item);
        let result = caller
            .tenant
            .clear_flag(&r.unified_address_number, r.item)
            .await
            .map(|existed| ClearFlagResponse { existed });
        Self::finish(&caller, &audit, result).await
    }

    async fn list_flags(
        &self,
        req: Request<ListFlagsRequest>,
    ) -> Result<Response<ListFlagsResponse>, Status> {
        let caller = self.caller(&req, true)?;
        let mut audit = Audit::new("flag.list");
        self.flag_setter(&req, &caller, &mut audit).await?;
        let uan = req.into_inner().unified_address_number;
        audit.target = uan.chars().take(15).collect();
        let result = caller
            .tenant
            .list_flags(&uan)
            .map(|flags| ListFlagsResponse { flags });
        Self::finish(&caller, &audit, result).await
    }

    async fn import_flags(
        &self,
        req: Request<Streaming<SetFlagRequest>>,
    ) -> Result<Response<BulkSummary>, Status> {
        let caller = self.caller(&req, true)?;
        let mut audit = Audit::new("flag.import");
        let by = self.flag_setter(&req, &caller, &mut audit).await?;
        let started_by = if caller.system.is_some() {
            by.clone()
        } else {
            format!("operator:{by}")
        };
        let job = match caller.tenant.jobs.start(JobKind::ImportFlags, started_by) {
            Ok(j) => j,
            Err(e) => return Self::finish(&caller, &audit, Err(e)).await,
        };
        let mut chunks = req.into_inner().ready_chunks(CHUNK);
        let mut summary = BulkSummary::default();
        let mut index = 0u64;
        let mut broke = None;
        let mut per_person = Vec::new();
        while let Some(chunk) = chunks.next().await {
            let mut reqs = Vec::with_capacity(chunk.len());
            for item in chunk {
                match item {
                    Ok(r) => reqs.push(r),
                    Err(s) => {
                        broke = Some(s);
                        break;
                    }
                }
            }
            match caller.tenant.import_flags(index, &reqs, &by, &mut summary) {
                Ok(flags) => per_person.extend(flags.into_iter().map(|f| AuditEntry {
                    operator: audit.operator.clone(),
                    terminal: caller.terminal.name.clone(),
                    terminal_cert_sha256: caller.terminal.cert_sha256.clone(),
                    peer_address: caller.terminal.peer_address.clone(),
                    action: "flag.set".into(),
                    target: f.unified_address_number,
                    outcome: "ok".into(),
                    detail: format!("item {} reason {} (bulk import)", f.item, f.reason),
                    ..Default::default()
                })),
                Err(e) => {
                    job.finish(JobState::Failed, &e.to_string());
                    return Self::finish(&caller, &audit, Err(e)).await;
                }
            }
            index += reqs.len() as u64;
            job.progress(summary.accepted + summary.rejected, summary.rejected);
            if broke.is_some() {
                break;
            }
        }
        match &broke {
            Some(s) => job.finish(JobState::Cancelled, s.message()),
            None => job.finish(JobState::Succeeded, ""),
        }
        let committed = caller.tenant.commit().await;
        // Each flag set is on record by person, like a single SetFlag.
        if let Err(e) = caller.tenant.ops.audit.append_all(per_person).await {
            tracing::error!(tenant = %caller.tenant.code, error = %e, "audit entries not written");
        }
        audit.detail = format!(
            "{} accepted, {} rejected",
            summary.accepted, summary.rejected
        );
        if let Some(s) = broke {
            Self::write_audit(&caller, &audit, "stream-broken").await;
            return Err(Status::new(
                s.code(),
                format!(
                    "the flag stream failed after {} accepted and {} rejected records (those are kept): {}",
                    summary.accepted,
                    summary.rejected,
                    s.message()
                ),
            ));
        }
        Self::finish(&caller, &audit, committed.map(|()| summary)).await
    }

    async fn list_held(
        &self,
        req: Request<ListHeldRequest>,
    ) -> Result<Response<ListHeldResponse>, Status> {
        let caller = self.caller(&req, false)?;
        let mut audit = Audit::new("held.list");
        let actor = self.operator(&req, &caller, &mut audit, None).await?;
        let procedures = actor.approvable();
        if procedures.is_empty() {
            return Err(Self::deny(
                &caller,
                &audit,
                format!(
                    "operator {} holds no approval right (情報提供の許可権限) for any procedure",
                    actor.user
                ),
            )
            .await);
        }
        let state = HeldState::try_from(req.get_ref().state).unwrap_or(HeldState::Waiting);
        let result = caller
            .tenant
            .list_held(state, Some(&procedures))
            .map(|held| ListHeldResponse { held });
        Self::finish(&caller, &audit, result).await
    }

    async fn get_held(
        &self,
        req: Request<GetHeldRequest>,
    ) -> Result<Response<HeldInquiry>, Status> {
        let caller = self.caller(&req, false)?;
        let mut audit = Audit::new("held.show");
        let actor = self.operator(&req, &caller, &mut audit, None).await?;
        let permit_id = req.into_inner().permit_id;
        audit.detail = permit_id.chars().take(64).collect();
        let held = match caller.tenant.get_held(&permit_id) {
            Ok(h) => h,
            Err(e) => return Self::finish(&caller, &audit, Err(e)).await,
        };
        audit.target = held.unified_address_number.clone();
        audit.procedure = held.procedure.clone();
        if !actor.has(&Right::Approve(&held.procedure)) {
            return Err(Self::deny(
                &caller,
                &audit,
                format!(
                    "operator {} may not see held inquiries of procedure {:?}",
                    actor.user, held.procedure
                ),
            )
            .await);
        }
        Self::finish(&caller, &audit, Ok(held)).await
    }

    async fn decide(&self, req: Request<DecideRequest>) -> Result<Response<HeldInquiry>, Status> {
        let caller = self.caller(&req, false)?;
        let action = match Decision::try_from(req.get_ref().decision) {
            Ok(Decision::Approve) => "held.approve",
            Ok(Decision::Refuse) => "held.refuse",
            _ => "held.decide",
        };
        let mut audit = Audit::new(action);
        let actor = self.operator(&req, &caller, &mut audit, None).await?;
        let r = req.into_inner();
        audit.detail = r.permit_id.chars().take(64).collect();
        if actor.approvable().is_empty() {
            return Err(Self::deny(
                &caller,
                &audit,
                format!(
                    "operator {} holds no approval right (情報提供の許可権限)",
                    actor.user
                ),
            )
            .await);
        }
        let held = match caller.tenant.get_held(&r.permit_id) {
            Ok(h) => h,
            Err(e) => return Self::finish(&caller, &audit, Err(e)).await,
        };
        audit.target = held.unified_address_number.clone();
        audit.procedure = held.procedure.clone();
        if !actor.has(&Right::Approve(&held.procedure)) {
            return Err(Self::deny(
                &caller,
                &audit,
                format!(
                    "operator {} may approve only {:?}, not procedure {:?}",
                    actor.user,
                    actor.approvable(),
                    held.procedure
                ),
            )
            .await);
        }
        let master = match self.gw.master.get() {
            Ok(m) => m,
            Err(e) => return Self::finish(&caller, &audit, Err(e)).await,
        };
        let result = caller
            .tenant
            .decide(
                &master,
                DecisionInput {
                    permit_id: r.permit_id,
                    decision: Decision::try_from(r.decision).unwrap_or(Decision::Unspecified),
                    confirmations: r.confirmations,
                    manual_content: r.manual_content,
                    operator: actor.user.clone(),
                },
            )
            .await;
        Self::finish(&caller, &audit, result).await
    }
}
