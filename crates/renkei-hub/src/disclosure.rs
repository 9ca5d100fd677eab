//! Resident disclosure (情報提供等記録開示): the hub joins the agencies' exchanges about one
//! person through its symbol translation and proves each one in its record log.
//!
//! The person is named by My Number, which the portal has from the resident's card. The
//! hub derives the person's symbol at every agency in master data, looks its records up
//! by the digest of that symbol, and forgets the number. Records under an embargo are
//! left out without a trace: a count or a gap would tell the person what is hidden.

use std::sync::Arc;

use prost::Message as _;
use renkei_core::{AgencyCode, MyNumber};
use renkei_exchange::hub::person_ref;
use renkei_proto::v1::disclosure_server::Disclosure;
use renkei_proto::v1::{
    DiscloseExchangesRequest, DiscloseExchangesResponse, DisclosedExchange, ExchangeRecord,
    TreeHead,
};
use renkei_records::RecordQuery;
use renkei_transport::{Role, peer};
use tonic::{Request, Response, Status};

use crate::HubError;
use crate::exchange::HubState;

/// More than any one person's exchanges over the 7-year retention; a bound, not a page.
const MAX_PER_AGENCY: usize = 10_000;

#[derive(Debug)]
pub(crate) struct HubDisclosure {
    pub(crate) state: Arc<HubState>,
}

#[tonic::async_trait]
impl Disclosure for HubDisclosure {
    async fn disclose_exchanges(
        &self,
        req: Request<DiscloseExchangesRequest>,
    ) -> Result<Response<DiscloseExchangesResponse>, Status> {
        let id = peer(&req)?;
        if !matches!(id.role, Role::Portal { .. }) {
            return Err(HubError::WrongRole {
                service: "disclosure",
                allowed: "the resident portal",
                role: id.role.to_string(),
            }
            .into_status());
        }
        let my_number = MyNumber::parse(&req.get_ref().my_number).map_err(|e| {
            HubError::InvalidMyNumber {
                message: e.to_string(),
            }
            .into_status()
        })?;
        let state = self.state.clone();
        let resp = tokio::task::spawn_blocking(move || disclose(&state, &my_number))
            .await
            .map_err(|e| HubError::task("disclosure", e).into_status())?
            .map_err(HubError::into_status)?;
        tracing::info!(exchanges = resp.exchanges.len(), "disclosure answered");
        Ok(Response::new(resp))
    }
}

fn disclose(state: &HubState, my_number: &MyNumber) -> Result<DiscloseExchangesResponse, HubError> {
    let published = state.published();
    let mut found: Vec<ExchangeRecord> = Vec::new();
    for agency in &published.data.bundle().agencies {
        let Ok(code) = AgencyCode::parse(&agency.code) else {
            continue;
        };
        let q = RecordQuery {
            person_ref: Some(person_ref(&state.symbols.symbol_for(&code, my_number))),
            limit: MAX_PER_AGENCY,
            ..Default::default()
        };
        found.extend(state.records.query(&q)?);
    }
    // A head over everything found, signed now if the log grew.
    let head = state.records.tree_head(true)?;
    let size = TreeHead::decode(head.tree_head.as_slice())
        .map_err(|e| HubError::UnreadableTreeHead(e.to_string()))?
        .tree_size;
    let now = state.clock.now_ms();
    found.sort_by_key(|r| r.sequence);
    found.dedup_by_key(|r| r.sequence);
    let mut exchanges = Vec::with_capacity(found.len());
    for record in found {
        if record.sequence >= size
            || (record.disclose_after_ms > 0 && record.disclose_after_ms > now)
        {
            continue;
        }
        let proof = state.records.inclusion_proof(record.sequence, size, true)?;
        exchanges.push(DisclosedExchange {
            entry: proof.entry.clone(),
            record: Some(record),
            proof: Some(proof),
        });
    }
    Ok(DiscloseExchangesResponse {
        head: Some(head),
        exchanges,
    })
}
