//! What approvers see of held inquiries; deferred answers are not operators' business.

use renkei_proto::v1::{HeldInquiry, HeldState};

use crate::GatewayError;
use crate::tenant::Tenant;

impl Tenant {
    /// A held inquiry as an operator sees it.
    pub(crate) async fn get_held(&self, permit_id: &str) -> Result<HeldInquiry, GatewayError> {
        match self.exchange.held(permit_id).await? {
            Some(e) if !e.deferred => Ok(e.held),
            _ => Err(GatewayError::HeldNotFound {
                permit_id: permit_id.to_owned(),
                tenant: self.name.clone(),
            }),
        }
    }

    /// Held inquiries in a state (default: waiting), optionally only some procedures.
    pub(crate) async fn list_held(
        &self,
        state: HeldState,
        procedures: Option<&[&str]>,
    ) -> Result<Vec<HeldInquiry>, GatewayError> {
        let state = if state == HeldState::Unspecified {
            HeldState::Waiting
        } else {
            state
        };
        Ok(self
            .exchange
            .all_held()
            .await?
            .into_iter()
            .filter(|e| !e.deferred && e.held.state == state as i32)
            .map(|e| e.held)
            .filter(|h| procedures.is_none_or(|ps| ps.contains(&h.procedure.as_str())))
            .collect())
    }
}
