//! An operator's decision on a held inquiry.
//!
//! Store before send (docs/decisions/0080): the decision, its sealed answer and its record
//! are made durable under the tenant's decide lock, the lock is released, and only then is
//! the answer handed to the hub. A hub that is down, or a crash between the two, leaves the
//! answer stored as unsent; the sweep sends it again, so an approval is never lost and a
//! slow hub never blocks the other decisions of the tenant.

use renkei_exchange::held::{Event, TransitionError};
use renkei_master::MasterData;
use renkei_proto::v1::{Confirmations, Content, Decision, HeldInquiry, HoldCause, ProvisionCopy};

use super::to_entry;
use crate::GatewayError;
use crate::tenant::Tenant;

/// What an operator decided, with who and how it was confirmed.
#[derive(Debug)]
pub(crate) struct DecisionInput {
    pub(crate) permit_id: String,
    pub(crate) decision: Decision,
    pub(crate) confirmations: Option<Confirmations>,
    pub(crate) manual_content: Option<Content>,
    pub(crate) operator: String,
}

impl Tenant {
    fn refused_move(&self, permit_id: &str, e: TransitionError) -> GatewayError {
        match e {
            TransitionError::AlreadyDecided { permit_id, state } => {
                GatewayError::AlreadyDecided { permit_id, state }
            }
            TransitionError::Expired {
                permit_id,
                expired_at,
            } => GatewayError::HeldExpired {
                permit_id,
                expired_at,
            },
            other => match other.field() {
                Some(field) => GatewayError::invalid(field, other.to_string()),
                // A deferred answer: not an operator's, so it looks like no held inquiry.
                None => GatewayError::HeldNotFound {
                    permit_id: permit_id.to_owned(),
                    tenant: self.name.clone(),
                },
            },
        }
    }

    /// A hand-made answer must pass the checks a provision copy passes.
    fn check_manual(&self, h: &HeldInquiry, content: &Content) -> Result<(), GatewayError> {
        if h.cause != HoldCause::NoCopy as i32 {
            return Ok(()); // refused by the state machine, with its own message
        }
        let copy = ProvisionCopy {
            unified_address_number: h.unified_address_number.clone(),
            item: h.item,
            content: Some(content.clone()),
            ..Default::default()
        };
        self.check_copy(&copy, &[h.item]).map_err(|p| {
            GatewayError::invalid(
                p.field.replacen("copy.content", "manual_content", 1),
                p.reason,
            )
        })?;
        Ok(())
    }

    /// An operator's decision on a held inquiry. Approval needs the three confirmations;
    /// the answer is read from the copy at this moment (or attached by hand for an inquiry
    /// held for lack of a copy), sealed, stored with its record, and then sent through the
    /// hub. If the hub does not take it, the decision stands and the sweep sends it again.
    pub(crate) async fn decide(
        &self,
        master: &MasterData,
        input: DecisionInput,
    ) -> Result<HeldInquiry, GatewayError> {
        let stored = {
            let _guard = self.decide_lock.lock().await;
            let entry = match self.exchange.held(&input.permit_id).await? {
                Some(e) if !e.deferred => e,
                _ => {
                    return Err(GatewayError::HeldNotFound {
                        permit_id: input.permit_id,
                        tenant: self.name.clone(),
                    });
                }
            };
            let copy = match (input.decision, &input.manual_content) {
                (Decision::Approve, None) => Some(self.copy_now(&entry.held).await?),
                _ => None,
            };
            let completion = renkei_exchange::held::transition(
                &to_entry(&entry),
                Event::Operator {
                    decision: input.decision,
                    confirmations: input.confirmations,
                    manual: input.manual_content.clone(),
                    copy,
                    operator: input.operator,
                },
                self.code.as_str(),
                self.clock.now_ms(),
            )
            .map_err(|e| self.refused_move(&input.permit_id, e))?;
            if let Some(content) = &input.manual_content {
                self.check_manual(&entry.held, content)?;
            }
            self.store_completion(master, &entry, completion).await?
        };
        let h = stored.held.clone();
        tracing::info!(tenant = %self.code, permit_id = %h.permit_id, state = h.state, "held inquiry decided");
        if let Err(e) = self.deliver_unsent(&stored).await {
            tracing::warn!(tenant = %self.code, permit_id = %h.permit_id, error = %e, "decided answer stored but not yet sent; the sweep will send it");
        }
        Ok(h)
    }
}
