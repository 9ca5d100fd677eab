//! 自動応答不可: auto-response-block flags, held provisions, their decisions and expiry, and
//! deferred (slow) answers. The decisions are `renkei_exchange::held`'s; this module only
//! loads, seals, stores and sends what the state machine says.
//!
//! Indistinguishability (docs/decisions/0010-held-answers-look-like-slow-answers.md): a
//! held provision and an ordinary answer that is not ready within the tenant's answer
//! deadline leave the provider the same way. Both are answered `Pending` at exactly the
//! deadline, and both are completed later by a sealed, padded answer that travels through
//! the hub's `DeliverLateAnswer`. The inquirer cannot tell them apart by status, timing or size.
//!
//! - [`flags`]: setting, importing, clearing and reading flags;
//! - [`listing`]: what approvers see;
//! - [`decide`]: an operator's decision, stored before it is sent (docs/decisions/0080);
//! - [`sweep`]: expiry, due deferred answers, redelivery of stored-but-unsent answers and
//!   the purge of decided ones.

mod decide;
mod flags;
mod listing;
mod sweep;

pub(crate) use decide::DecisionInput;

use renkei_crypto::AnswerContext;
use renkei_exchange::held::{Completion, Entry};
use renkei_master::MasterData;
use renkei_proto::v1::{
    AnswerPayload, Content, DeliverLateAnswerRequest, Flag, HeldInquiry, HeldState, HoldCause,
    Permit, SealedAnswer, answer_payload,
};
use renkei_store::exchange::HeldEntry;

use crate::GatewayError;
use crate::tenant::Tenant;

fn to_entry(e: &HeldEntry) -> Entry {
    Entry {
        held: e.held.clone(),
        deferred: e.deferred,
        ready_at_ms: e.ready_at_ms,
    }
}

impl Tenant {
    /// Seals an answer for a permit, exactly as an automatic answer is sealed and padded.
    pub(crate) fn seal_for(
        &self,
        master: &MasterData,
        permit_id: &str,
        inquiry_id: &str,
        inquirer: &str,
        status: answer_payload::Status,
        content: Option<Content>,
    ) -> Result<SealedAnswer, GatewayError> {
        let mut payload = AnswerPayload {
            permit_id: permit_id.to_owned(),
            inquiry_id: inquiry_id.to_owned(),
            status: status as i32,
            content,
            padding: Vec::new(),
        };
        renkei_crypto::pad_answer_payload(&mut payload);
        let inquirer_key = master
            .agency(inquirer)
            .map(|a| a.encryption_public_key.as_slice())
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| GatewayError::NoEncryptionKey {
                agency: inquirer.to_owned(),
            })?;
        let ctx = AnswerContext {
            permit_id: permit_id.to_owned(),
            inquirer: inquirer.to_owned(),
            provider: self.code.to_string(),
        };
        Ok(renkei_crypto::seal_answer(
            &prost::Message::encode_to_vec(&payload),
            &ctx,
            &inquirer_key,
            &self.signing,
        )?)
    }

    /// The person's copy of the held item at this moment, for the state machine.
    async fn copy_now(&self, h: &HeldInquiry) -> Result<Option<Content>, GatewayError> {
        Ok(self
            .get_copy(h.item, &h.unified_address_number)
            .await?
            .and_then(|c| c.content))
    }

    /// Carries out a completion up to the send: seals its answer, stores the entry with
    /// the answer marked unsent, appends the record, and waits until both are durable.
    /// Returns what is to be sent; the caller sends it after releasing the decide lock.
    async fn store_completion(
        &self,
        master: &MasterData,
        entry: &HeldEntry,
        c: Completion,
    ) -> Result<HeldEntry, GatewayError> {
        let h = &entry.held;
        let sealed = self.seal_for(
            master,
            &h.permit_id,
            &h.inquiry_id,
            &h.inquirer,
            c.status,
            c.content,
        )?;
        let mut record = c.record;
        record.sealed_answer_sha256 = hex::encode(renkei_crypto::sha256(&sealed.ciphertext));
        // A delivered deferred answer is deleted once sent; until then it is kept, marked
        // approved, so neither the sweep nor a second timer seals it again.
        let done = match c.store {
            Some(e) => e,
            None => {
                let mut e = to_entry(entry);
                e.held.state = HeldState::Approved as i32;
                e
            }
        };
        let stored = HeldEntry {
            held: done.held,
            deferred: done.deferred,
            ready_at_ms: done.ready_at_ms,
            unsent: Some(DeliverLateAnswerRequest {
                answer: Some(sealed),
                outcome: c.hub_outcome as i32,
            }),
        };
        self.exchange.put_held(&stored).await?;
        let (committed, recorded) = tokio::join!(self.commit(), self.records.append(record));
        committed?;
        recorded?;
        Ok(stored)
    }

    /// Sends a stored, unsent answer through the hub and then forgets that it was unsent
    /// (or the whole entry, for a deferred answer). Called without the decide lock, from
    /// the decision itself and from the sweep, which may hold an older copy of the entry:
    /// so one send per permit at a time, and only while the stored entry is still unsent.
    /// Without that, a sweep running beside a decision sent the same answer twice.
    async fn deliver_unsent(&self, entry: &HeldEntry) -> Result<(), GatewayError> {
        let permit_id = &entry.held.permit_id;
        let Some(_sending) = Sending::claim(&self.sending, permit_id) else {
            return Ok(());
        };
        let Some(current) = self.exchange.held(permit_id).await? else {
            return Ok(());
        };
        let Some(request) = current.unsent.clone() else {
            return Ok(());
        };
        let entry = &current;
        self.hub
            .clone()
            .deliver_late_answer(request)
            .await
            .map_err(|s| GatewayError::HubDidNotTakeAnswer {
                message: s.message().to_owned(),
            })?;
        let _guard = self.decide_lock.lock().await;
        match self.exchange.held(permit_id).await? {
            Some(current) if current.unsent == entry.unsent => {
                if current.deferred {
                    self.exchange.delete_held(permit_id).await?;
                } else {
                    self.exchange
                        .put_held(&HeldEntry {
                            unsent: None,
                            ..current
                        })
                        .await?;
                }
                self.commit().await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The held inquiry to store for a permit the provider will not answer automatically,
    /// as the exchange core builds it, with this tenant's held expiry.
    pub(crate) fn new_held(
        &self,
        master: &MasterData,
        permit: &Permit,
        uan: &str,
        cause: HoldCause,
        flag: Option<&Flag>,
        received_at_ms: i64,
    ) -> HeldInquiry {
        renkei_exchange::provider::new_held(
            master,
            permit,
            uan,
            cause,
            flag,
            received_at_ms,
            (self.held_policy.expiry_secs * 1000) as i64,
        )
    }
}

/// A permit whose answer this process is sending now; released when dropped, on every path.
struct Sending<'a> {
    set: &'a std::sync::Mutex<std::collections::HashSet<String>>,
    permit_id: String,
}

impl<'a> Sending<'a> {
    /// None if another task is already sending this permit's answer.
    fn claim(
        set: &'a std::sync::Mutex<std::collections::HashSet<String>>,
        permit_id: &str,
    ) -> Option<Sending<'a>> {
        let mut ids = set
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ids.insert(permit_id.to_owned()).then(|| Sending {
            set,
            permit_id: permit_id.to_owned(),
        })
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.permit_id);
    }
}
