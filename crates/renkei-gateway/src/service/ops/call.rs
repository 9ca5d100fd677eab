//! The operator-call wrapper: authenticate, authorise, run, audit — once, for every call.

use std::sync::Arc;

use renkei_ops::{Actor, OpsError, Right, Terminal};
use renkei_proto::v1::AuditEntry;
use renkei_transport::{Role, peer};
use tonic::{Request, Response, Status};

use super::Ops;
use crate::GatewayError;
use crate::tenant::Tenant;

/// Who is calling, as far as the connection proves it.
pub(crate) struct Caller {
    pub(crate) tenant: Arc<Tenant>,
    pub(crate) terminal: Terminal,
    /// `Some(system)` for a back-office system (flags only), `None` for a terminal.
    pub(crate) system: Option<String>,
}

/// What one audit entry says about the call, filled in as the handler learns it.
#[derive(Default)]
pub(crate) struct Audit {
    action: &'static str,
    pub(crate) operator: String,
    pub(crate) target: String,
    pub(crate) procedure: String,
    pub(crate) detail: String,
}

impl Audit {
    pub(crate) fn new(action: &'static str) -> Audit {
        Audit {
            action,
            ..Default::default()
        }
    }
}

/// What a call needs before its handler runs.
#[derive(Debug)]
pub(crate) enum Gate {
    /// No session (logging in).
    Open,
    /// Any logged-in operator; the handler checks rights on what it loads (a held
    /// inquiry's procedure).
    Session,
    /// A logged-in operator holding this right.
    Right(Right<'static>),
    /// Flags: an operator with the flag-manager right, or a back-office system.
    FlagSetter,
}

/// One operator call in progress: the caller, the operator once authenticated, and the
/// audit entry the wrapper writes when the call ends.
pub(crate) struct OpCall {
    pub(crate) caller: Caller,
    actor: Option<Actor>,
    pub(crate) audit: Audit,
}

impl OpCall {
    pub(crate) fn tenant(&self) -> &Arc<Tenant> {
        &self.caller.tenant
    }

    /// The authenticated operator. Gates other than [`Gate::Open`] (and a system at
    /// [`Gate::FlagSetter`]) guarantee one.
    pub(crate) fn actor(&self) -> Result<&Actor, GatewayError> {
        self.actor
            .as_ref()
            .ok_or(GatewayError::Ops(OpsError::NoSession))
    }

    /// Who acts, as the audit log names them (`backoffice:<system>` for a system).
    pub(crate) fn by(&self) -> &str {
        &self.audit.operator
    }

    /// Audits the handler's result and maps its error to a status.
    pub(crate) async fn finish<R>(
        &self,
        result: Result<R, GatewayError>,
    ) -> Result<Response<R>, Status> {
        Ops::finish(&self.caller, &self.audit, result).await
    }

    /// Audits an end that is neither success nor a [`GatewayError`] (a broken stream).
    pub(crate) async fn end_with(&self, outcome: &str, status: Status) -> Status {
        write_audit(&self.caller, &self.audit, outcome).await;
        status
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

/// Audits a failure and turns it into the caller's status.
async fn refuse(caller: &Caller, audit: &Audit, e: GatewayError) -> Status {
    let outcome = e.audit_outcome();
    let status = e.into_status();
    write_audit(caller, audit, outcome).await;
    status
}

impl Ops {
    /// Runs one operator call: `gate` is passed (failures audited), then `handler`, then
    /// the call's audit entry is written with its outcome.
    pub(crate) async fn call<Req, Res>(
        &self,
        req: Request<Req>,
        action: &'static str,
        gate: Gate,
        handler: impl AsyncFnOnce(&mut OpCall, Req) -> Result<Res, GatewayError>,
    ) -> Result<Response<Res>, Status> {
        let mut op = self.open(&req, action, gate).await?;
        let result = handler(&mut op, req.into_inner()).await;
        op.finish(result).await
    }

    /// The first half of [`Ops::call`], for handlers that end in their own way (a bulk
    /// stream that breaks mid-way).
    pub(crate) async fn open<T>(
        &self,
        req: &Request<T>,
        action: &'static str,
        gate: Gate,
    ) -> Result<OpCall, Status> {
        let caller = self.caller(req, matches!(gate, Gate::FlagSetter))?;
        let mut audit = Audit::new(action);
        let right = match gate {
            Gate::Open => {
                return Ok(OpCall {
                    caller,
                    actor: None,
                    audit,
                });
            }
            Gate::FlagSetter => {
                if let Some(system) = &caller.system {
                    audit.operator = format!("backoffice:{system}");
                    return Ok(OpCall {
                        caller,
                        actor: None,
                        audit,
                    });
                }
                Some(Right::ManageFlags)
            }
            Gate::Session => None,
            Gate::Right(r) => Some(r),
        };
        let actor = self.operator(req, &caller, &mut audit, right).await?;
        Ok(OpCall {
            caller,
            actor: Some(actor),
            audit,
        })
    }

    pub(crate) fn caller<T>(
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
                return Err(GatewayError::WrongRole {
                    message: format!(
                        "this service serves operator terminals{}; your certificate is for {other}",
                        if flags_only_ok {
                            " and back-office systems"
                        } else {
                            ""
                        }
                    ),
                }
                .into_status());
            }
        };
        let tenant = self
            .gw
            .tenants
            .get(agency.as_str())
            .cloned()
            .ok_or_else(|| {
                GatewayError::ForeignAgency {
                    agency: agency.to_string(),
                }
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

    /// Audits the result of a handler body and maps its error to a status.
    pub(crate) async fn finish<R>(
        caller: &Caller,
        audit: &Audit,
        result: Result<R, GatewayError>,
    ) -> Result<Response<R>, Status> {
        match result {
            Ok(r) => {
                write_audit(caller, audit, "ok").await;
                Ok(Response::new(r))
            }
            Err(e) => Err(refuse(caller, audit, e).await),
        }
    }

    /// The logged-in operator behind the call, with `right` checked if given. Failures are
    /// audited here; the caller audits the action itself once it ran.
    pub(crate) async fn operator<T>(
        &self,
        req: &Request<T>,
        caller: &Caller,
        audit: &mut Audit,
        right: Option<Right<'_>>,
    ) -> Result<Actor, Status> {
        if caller.system.is_some() {
            return Err(GatewayError::Ops(OpsError::SystemNotOperator).into_status());
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
                    write_audit(caller, &ended, "ok").await;
                    audit.operator = user;
                }
                // A session of another municipality: say so, instead of "not logged in".
                let mut elsewhere = false;
                if !token.is_empty() {
                    for t in self.gw.tenants.values() {
                        if t.code != caller.tenant.code
                            && t.ops.has_session(&token).await.unwrap_or(false)
                        {
                            elsewhere = true;
                            break;
                        }
                    }
                }
                let e = if elsewhere {
                    OpsError::ForeignSession {
                        tenant: caller.tenant.code.to_string(),
                    }
                } else {
                    e
                };
                return Err(refuse(caller, audit, GatewayError::Ops(e)).await);
            }
        };
        audit.operator = actor.user.clone();
        if let Err(e) = actor.authorize(caller.tenant.code.as_str(), audit.action, right.as_ref()) {
            return Err(refuse(caller, audit, GatewayError::Ops(e)).await);
        }
        Ok(actor)
    }

    /// Refuses a call the handler found the operator may not make, and audits it.
    pub(crate) async fn deny(caller: &Caller, audit: &Audit, message: String) -> Status {
        refuse(caller, audit, GatewayError::PermissionDenied(message)).await
    }
}
