//! System management (システム管理機能) for operator terminals: batch job status and
//! maintenance mode. Authorised and audited exactly like the other operator calls (module
//! `ops`): the tenant comes from the terminal's certificate, the operator from the session.

use renkei_ops::Right;
use renkei_proto::v1::system_management_server::SystemManagement;
use renkei_proto::v1::{
    GetJobRequest, GetMaintenanceRequest, Job, JobKind, JobState, ListJobsRequest,
    ListJobsResponse, MaintenanceState, SetMaintenanceRequest,
};
use tonic::{Request, Response, Status};

use super::ops::{Audit, Ops};
use crate::{Gateway, GatewayError};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Clone)]
pub(crate) struct System {
    pub(crate) ops: Ops,
}

fn filter<E: TryFrom<i32>>(field: &str, value: i32) -> Result<Option<E>, GatewayError> {
    if value == 0 {
        return Ok(None);
    }
    E::try_from(value)
        .map(Some)
        .map_err(|_| GatewayError::invalid(field, format!("unknown value {value}")))
}

#[tonic::async_trait]
impl SystemManagement for System {
    async fn list_jobs(
        &self,
        req: Request<ListJobsRequest>,
    ) -> Result<Response<ListJobsResponse>, Status> {
        let caller = self.ops.caller(&req, false)?;
        let mut audit = Audit::new("jobs.list");
        self.ops.operator(&req, &caller, &mut audit, None).await?;
        let r = req.get_ref();
        let result = (|| {
            let kind = filter::<JobKind>("kind", r.kind)?;
            let state = filter::<JobState>("state", r.state)?;
            let limit = match r.limit as usize {
                0 => DEFAULT_LIMIT,
                n => n.min(MAX_LIMIT),
            };
            let jobs = caller.tenant.jobs.list(kind, state, limit)?;
            Ok(ListJobsResponse { jobs })
        })();
        Ops::finish(&caller, &audit, result).await
    }

    async fn get_job(&self, req: Request<GetJobRequest>) -> Result<Response<Job>, Status> {
        let caller = self.ops.caller(&req, false)?;
        let mut audit = Audit::new("jobs.get");
        self.ops.operator(&req, &caller, &mut audit, None).await?;
        let id = &req.get_ref().job_id;
        // Job ids are "<agency code>-<number>": no personal data, safe in the audit log.
        audit.detail = id.chars().take(40).collect();
        let result = caller.tenant.jobs.get(id);
        Ops::finish(&caller, &audit, result).await
    }

    async fn set_maintenance(
        &self,
        req: Request<SetMaintenanceRequest>,
    ) -> Result<Response<MaintenanceState>, Status> {
        let caller = self.ops.caller(&req, false)?;
        let on = req.get_ref().on;
        let mut audit = Audit::new(if on {
            "maintenance.on"
        } else {
            "maintenance.off"
        });
        let actor = self
            .ops
            .operator(&req, &caller, &mut audit, Some(Right::Administer))
            .await?;
        let message = &req.get_ref().message;
        audit.detail = message.chars().take(200).collect();
        let gw = Gateway {
            inner: self.ops.gw.clone(),
        };
        let set_by = format!("{}/{}", caller.tenant.code, actor.user);
        let result = match gw.inner.maintenance.set(on, message, set_by) {
            Ok(state) => match gw.inner.store.commit().await {
                Ok(()) => {
                    // Health follows at once, not at the next background tick.
                    gw.update_health().await;
                    Ok(state)
                }
                Err(e) => Err(GatewayError::from(e)),
            },
            Err(e) => Err(e),
        };
        Ops::finish(&caller, &audit, result).await
    }

    async fn get_maintenance(
        &self,
        req: Request<GetMaintenanceRequest>,
    ) -> Result<Response<MaintenanceState>, Status> {
        let caller = self.ops.caller(&req, false)?;
        let mut audit = Audit::new("maintenance.status");
        self.ops.operator(&req, &caller, &mut audit, None).await?;
        let state = self.ops.gw.maintenance.get();
        Ops::finish(&caller, &audit, Ok(state)).await
    }
}
