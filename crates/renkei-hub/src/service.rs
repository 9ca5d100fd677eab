//! The gRPC edge of the hub: identity checks, then the work in `exchange`.

use std::sync::Arc;

use renkei_core::AgencyCode;
use renkei_proto::v1::hub_records_server::HubRecords;
use renkei_proto::v1::hub_server::Hub;
use renkei_proto::v1::{
    DeliverLateAnswerRequest, DeliverLateAnswerResponse, ExchangeRequest, ExchangeResponse,
    GetMasterDataRequest, GetMasterDataResponse, GetWitnessedHeadRequest, GetWitnessedHeadResponse,
    IssueSymbolsRequest, IssueSymbolsResponse, ListHubRecordsRequest, ListHubRecordsResponse,
    Outcome, WitnessTreeHeadRequest, WitnessedHead,
};
use renkei_records::RecordQuery;
use renkei_transport::{Role, peer};
use tonic::{Request, Response, Status};

use crate::HubError;
use crate::exchange::HubState;

/// Only a gateway acting for a tenant may use the hub; the tenant comes from its
/// certificate.
fn caller_tenant<T>(req: &Request<T>) -> Result<AgencyCode, Status> {
    let id = peer(req)?;
    match &id.role {
        Role::Tenant { agency } => Ok(agency.clone()),
        other => Err(HubError::WrongRole {
            service: "the hub",
            allowed: "gateways acting for a municipality",
            role: other.to_string(),
        }
        .into_status()),
    }
}

#[derive(Debug)]
pub(crate) struct HubService {
    pub(crate) state: Arc<HubState>,
}

#[tonic::async_trait]
impl Hub for HubService {
    async fn issue_symbols(
        &self,
        req: Request<IssueSymbolsRequest>,
    ) -> Result<Response<IssueSymbolsResponse>, Status> {
        let caller = caller_tenant(&req)?;
        let results = self
            .state
            .issue_symbols(&caller, &req.get_ref().my_numbers)
            .map_err(HubError::into_status)?;
        tracing::debug!(agency = %caller, count = results.len(), "symbols issued");
        Ok(Response::new(IssueSymbolsResponse { results }))
    }

    async fn get_master_data(
        &self,
        req: Request<GetMasterDataRequest>,
    ) -> Result<Response<GetMasterDataResponse>, Status> {
        caller_tenant(&req)?;
        let published = self.state.published();
        let bundle = (req.get_ref().known_version != published.data.version())
            .then(|| published.signed.clone());
        Ok(Response::new(GetMasterDataResponse { bundle }))
    }

    async fn exchange(
        &self,
        req: Request<ExchangeRequest>,
    ) -> Result<Response<ExchangeResponse>, Status> {
        let caller = caller_tenant(&req)?;
        self.state
            .exchange(&caller, req.into_inner())
            .await
            .map(Response::new)
            .map_err(HubError::into_status)
    }

    async fn deliver_late_answer(
        &self,
        req: Request<DeliverLateAnswerRequest>,
    ) -> Result<Response<DeliverLateAnswerResponse>, Status> {
        let caller = caller_tenant(&req)?;
        let req = req.into_inner();
        let outcome = Outcome::try_from(req.outcome).unwrap_or(Outcome::Unspecified);
        let answer = req
            .answer
            .ok_or_else(|| HubError::MissingField { field: "answer" }.into_status())?;
        self.state
            .deliver_late_answer(&caller, answer, outcome)
            .await
            .map_err(HubError::into_status)?;
        Ok(Response::new(DeliverLateAnswerResponse {}))
    }

    async fn witness_tree_head(
        &self,
        req: Request<WitnessTreeHeadRequest>,
    ) -> Result<Response<WitnessedHead>, Status> {
        let caller = caller_tenant(&req)?;
        self.state
            .witness(&caller, req.into_inner())
            .await
            .map(Response::new)
            .map_err(HubError::into_status)
    }

    /// A tenant reads its own log's witnessed head; an auditor any log's.
    async fn get_witnessed_head(
        &self,
        req: Request<GetWitnessedHeadRequest>,
    ) -> Result<Response<GetWitnessedHeadResponse>, Status> {
        let id = peer(&req)?;
        let asked = req.get_ref().log_id.clone();
        let log_id = match &id.role {
            Role::Tenant { agency } if asked.is_empty() || asked == agency.as_str() => {
                agency.to_string()
            }
            Role::Auditor { .. } if !asked.is_empty() => asked,
            other => {
                return Err(HubError::WrongRole {
                    service: "a log's witnessed head",
                    allowed: "its own tenant's gateway, and auditors (naming the log)",
                    role: other.to_string(),
                }
                .into_status());
            }
        };
        let witnessed = self
            .state
            .witnessed(&log_id)
            .await
            .map_err(HubError::into_status)?;
        Ok(Response::new(GetWitnessedHeadResponse { witnessed }))
    }
}

#[derive(Debug)]
pub(crate) struct HubRecordsService {
    pub(crate) state: Arc<HubState>,
}

#[tonic::async_trait]
impl HubRecords for HubRecordsService {
    async fn list_records(
        &self,
        req: Request<ListHubRecordsRequest>,
    ) -> Result<Response<ListHubRecordsResponse>, Status> {
        let id = peer(&req)?;
        if !matches!(id.role, Role::Auditor { .. }) {
            return Err(HubError::WrongRole {
                service: "the hub's records",
                allowed: "auditors",
                role: id.role.to_string(),
            }
            .into_status());
        }
        let r = req.into_inner();
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let q = RecordQuery {
            permit_id: non_empty(r.permit_id),
            inquiry_id: non_empty(r.inquiry_id),
            agency: non_empty(r.agency),
            since_ms: (r.since_ms != 0).then_some(r.since_ms),
            until_ms: (r.until_ms != 0).then_some(r.until_ms),
            limit: r.limit.min(10_000) as usize,
            ..Default::default()
        };
        let mut records = self.state.list_records(&q).map_err(HubError::into_status)?;
        // Symbols stay inside the hub, even for auditors.
        for r in &mut records {
            r.person_ref.clear();
        }
        Ok(Response::new(ListHubRecordsResponse { records }))
    }
}
