//! 自動応答不可: auto-response-block flags, held provisions, their decisions and expiry, and
//! deferred (slow) answers.
//!
//! Indistinguishability (docs/decisions/0010-held-answers-look-like-slow-answers.md): a
//! held provision and an ordinary answer that is not ready within the tenant's answer
//! deadline leave the provider the same way. Both are answered `Pending` at exactly the
//! deadline, and both are completed later by a sealed, padded answer that travels through
//! the hub's `DeliverLateAnswer`. The inquirer cannot tell them apart by status, timing or size.

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use renkei_core::{ItemNumber, UnifiedAddressNumber};
use renkei_crypto::AnswerContext;
use renkei_master::MasterData;
use renkei_proto::v1::{
    AnswerPayload, BulkSummary, Confirmations, Content, Decision, DeliverLateAnswerRequest,
    ExchangeRecord, Flag, FlagReason, HeldInquiry, HeldState, HoldCause, Outcome, Permit,
    ProvisionCopy, SealedAnswer, SetFlagRequest, answer_payload,
};

use crate::GatewayError;
use crate::symbols::push_error;
use crate::tenant::Tenant;

/// A held or deferred provision as stored. Held ones wait for an operator; deferred ones
/// (ordinary answers past the deadline) are delivered automatically at `ready_at_ms`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StoredHeld {
    #[prost(message, optional, tag = "1")]
    pub(crate) held: Option<HeldInquiry>,
    #[prost(bool, tag = "2")]
    pub(crate) deferred: bool,
    #[prost(int64, tag = "3")]
    pub(crate) ready_at_ms: i64,
}

fn flag_key(uan: &str, item: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(uan.len() + 5);
    k.extend_from_slice(uan.as_bytes());
    k.push(b'/');
    k.extend_from_slice(&item.to_be_bytes());
    k
}

fn corrupt(e: prost::DecodeError) -> GatewayError {
    GatewayError::Corrupt(e.to_string())
}

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
    /// Validates a flag request; `Err((field, reason))` for the caller to report.
    fn check_flag(req: &SetFlagRequest) -> Result<String, (&'static str, String)> {
        let uan = UnifiedAddressNumber::parse(&req.unified_address_number)
            .map_err(|e| ("unified_address_number", e.to_string()))?;
        if req.item != 0 {
            ItemNumber::new(req.item).map_err(|e| ("item", e.to_string()))?;
        }
        if matches!(
            FlagReason::try_from(req.reason),
            Ok(FlagReason::Unspecified) | Err(_)
        ) {
            return Err((
                "reason",
                "is required: support measure, master error, sensitive or other".into(),
            ));
        }
        if req.note.chars().count() > 200 {
            return Err(("note", "is longer than 200 characters".into()));
        }
        Ok(uan.to_string())
    }

    fn put_flag(
        &self,
        uan: &str,
        req: &SetFlagRequest,
        set_by: &str,
    ) -> Result<Flag, GatewayError> {
        let flag = Flag {
            unified_address_number: uan.to_owned(),
            item: req.item,
            reason: req.reason,
            note: req.note.clone(),
            set_by: set_by.to_owned(),
            set_at_ms: self.clock.now_ms(),
        };
        self.trees
            .flags
            .insert(flag_key(uan, req.item), flag.encode_to_vec())?;
        Ok(flag)
    }

    /// Sets (or replaces) a flag; item 0 blocks every item of the person.
    pub(crate) async fn set_flag(
        &self,
        req: &SetFlagRequest,
        set_by: &str,
    ) -> Result<Flag, GatewayError> {
        let uan = Self::check_flag(req).map_err(|(f, m)| GatewayError::invalid(f, m))?;
        let flag = self.put_flag(&uan, req, set_by)?;
        self.commit().await?;
        Ok(flag)
    }

    /// Bulk form: bad records are listed with their position, good ones kept. Returns the
    /// accepted flags, so that each can be audited.
    pub(crate) fn import_flags(
        &self,
        first_index: u64,
        reqs: &[SetFlagRequest],
        set_by: &str,
        summary: &mut BulkSummary,
    ) -> Result<Vec<Flag>, GatewayError> {
        let mut accepted = Vec::new();
        for (i, req) in reqs.iter().enumerate() {
            let index = first_index + i as u64;
            match Self::check_flag(req) {
                Ok(uan) => {
                    accepted.push(self.put_flag(&uan, req, set_by)?);
                    summary.accepted += 1;
                }
                Err((field, reason)) => {
                    push_error(summary, index, &req.unified_address_number, field, reason)
                }
            }
        }
        Ok(accepted)
    }

    pub(crate) async fn clear_flag(&self, uan: &str, item: u32) -> Result<bool, GatewayError> {
        let uan = UnifiedAddressNumber::parse(uan)
            .map_err(|e| GatewayError::from_core("unified_address_number", e))?;
        let existed = self
            .trees
            .flags
            .remove(flag_key(uan.as_str(), item))?
            .is_some();
        self.commit().await?;
        Ok(existed)
    }

    pub(crate) fn list_flags(&self, uan: &str) -> Result<Vec<Flag>, GatewayError> {
        let iter = if uan.is_empty() {
            self.trees.flags.iter()
        } else {
            let uan = UnifiedAddressNumber::parse(uan)
                .map_err(|e| GatewayError::from_core("unified_address_number", e))?;
            let mut prefix = uan.as_str().as_bytes().to_vec();
            prefix.push(b'/');
            self.trees.flags.scan_prefix(prefix)
        };
        iter.map(|r| {
            let (_, v) = r?;
            Flag::decode(v.as_ref()).map_err(corrupt)
        })
        .collect()
    }

    /// The flag that blocks this person's item, if any: a whole-person flag first.
    pub(crate) fn flag_for(&self, uan: &str, item: u32) -> Result<Option<Flag>, GatewayError> {
        for key in [flag_key(uan, 0), flag_key(uan, item)] {
            if let Some(v) = self.trees.flags.get(key)? {
                return Ok(Some(Flag::decode(v.as_ref()).map_err(corrupt)?));
            }
        }
        Ok(None)
    }

    /// Stores a held or deferred provision (committed by the caller with its record).
    pub(crate) fn store_held(&self, stored: &StoredHeld) -> Result<(), GatewayError> {
        let id = stored
            .held
            .as_ref()
            .map(|h| h.permit_id.clone())
            .unwrap_or_default();
        self.trees
            .held
            .insert(id.as_bytes(), stored.encode_to_vec())?;
        Ok(())
    }

    fn load_held(&self, permit_id: &str) -> Result<Option<StoredHeld>, GatewayError> {
        self.trees
            .held
            .get(permit_id.as_bytes())?
            .map(|v| StoredHeld::decode(v.as_ref()).map_err(corrupt))
            .transpose()
    }

    /// A held inquiry as an operator sees it; deferred answers are not operators' business.
    pub(crate) fn get_held(&self, permit_id: &str) -> Result<HeldInquiry, GatewayError> {
        match self.load_held(permit_id)? {
            Some(StoredHeld {
                held: Some(h),
                deferred: false,
                ..
            }) => Ok(h),
            _ => Err(GatewayError::HeldNotFound {
                permit_id: permit_id.to_owned(),
                tenant: self.name.clone(),
            }),
        }
    }

    /// Held inquiries in a state (default: waiting), optionally only some procedures.
    pub(crate) fn list_held(
        &self,
        state: HeldState,
        procedures: Option<&[&str]>,
    ) -> Result<Vec<HeldInquiry>, GatewayError> {
        let state = if state == HeldState::Unspecified {
            HeldState::Waiting
        } else {
            state
        };
        let mut out = Vec::new();
        for item in self.trees.held.iter() {
            let (_, v) = item?;
            let s = StoredHeld::decode(v.as_ref()).map_err(corrupt)?;
            let Some(h) = s.held else { continue };
            if s.deferred || h.state != state as i32 {
                continue;
            }
            if procedures.is_some_and(|ps| !ps.contains(&h.procedure.as_str())) {
                continue;
            }
            out.push(h);
        }
        Ok(out)
    }

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
            &payload.encode_to_vec(),
            &ctx,
            &inquirer_key,
            &self.signing,
        )?)
    }

    /// Hands a late answer to the hub, which relays it to the inquirer's gateway.
    async fn send_late(&self, answer: SealedAnswer, outcome: Outcome) -> Result<(), GatewayError> {
        self.hub
            .clone()
            .deliver_late_answer(DeliverLateAnswerRequest {
                answer: Some(answer),
                outcome: outcome as i32,
            })
            .await
            .map_err(|s| GatewayError::HubDidNotTakeAnswer {
                message: s.message().to_owned(),
            })?;
        Ok(())
    }

    /// The provision record of a completed held or deferred provision.
    fn completion_record(
        h: &HeldInquiry,
        me: &str,
        outcome: Outcome,
        at_ms: i64,
    ) -> ExchangeRecord {
        let exchange = renkei_exchange::record::Exchange {
            inquirer: h.inquirer.clone(),
            provider: me.to_owned(),
            procedure: h.procedure.clone(),
            item: h.item,
            inquiry_id: h.inquiry_id.clone(),
        };
        ExchangeRecord {
            permit_id: h.permit_id.clone(),
            outcome: outcome as i32,
            unified_address_number: h.unified_address_number.clone(),
            ..exchange.provision_record(at_ms)
        }
    }

    /// The copy's answer for a held inquiry: found, or no data.
    async fn current_answer(
        &self,
        h: &HeldInquiry,
    ) -> Result<(answer_payload::Status, Option<Content>, Outcome), GatewayError> {
        let copy = self.get_copy(h.item, &h.unified_address_number).await?;
        Ok(match copy {
            Some(c) => (answer_payload::Status::Found, c.content, Outcome::Provided),
            None => (answer_payload::Status::NoData, None, Outcome::NoData),
        })
    }

    /// An operator's decision on a held inquiry. Approval needs the three confirmations;
    /// the answer is read from the copy at this moment (or attached by hand for an inquiry
    /// held for lack of a copy), sealed, and sent through the hub. If the hub does not take
    /// it, nothing changes and the operator can try again.
    pub(crate) async fn decide(
        &self,
        master: &MasterData,
        input: DecisionInput,
    ) -> Result<HeldInquiry, GatewayError> {
        let _guard = self.decide_lock.lock().await;
        let mut stored = match self.load_held(&input.permit_id)? {
            Some(s) if !s.deferred && s.held.is_some() => s,
            _ => {
                return Err(GatewayError::HeldNotFound {
                    permit_id: input.permit_id,
                    tenant: self.name.clone(),
                });
            }
        };
        let mut h = stored.held.clone().unwrap_or_default();
        if h.state != HeldState::Waiting as i32 {
            return Err(GatewayError::AlreadyDecided {
                permit_id: h.permit_id,
                state: HeldState::try_from(h.state)
                    .map(|s| s.as_str_name())
                    .unwrap_or("unknown")
                    .to_owned(),
            });
        }
        if h.expires_at_ms <= self.clock.now_ms() {
            return Err(GatewayError::HeldExpired {
                permit_id: h.permit_id,
                expired_at: renkei_core::format_ms(h.expires_at_ms),
            });
        }
        let (status, content, outcome, state) = match input.decision {
            Decision::Approve => {
                let c = input.confirmations.clone().unwrap_or_default();
                if !(c.legal_basis && c.necessity && c.careful_handling) {
                    return Err(GatewayError::invalid(
                        "confirmations",
                        "approval needs all three confirmations: legal basis under 番号法第19条, \
                         necessity, and careful handling",
                    ));
                }
                let (status, content, outcome) = match (&input.manual_content, h.cause) {
                    (Some(content), cause) if cause == HoldCause::NoCopy as i32 => {
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
                        (
                            answer_payload::Status::Found,
                            Some(content.clone()),
                            Outcome::Provided,
                        )
                    }
                    (Some(_), _) => {
                        return Err(GatewayError::invalid(
                            "manual_content",
                            "only an inquiry held for lack of a provision copy takes a hand-made answer; \
                             this one is answered from its copy",
                        ));
                    }
                    (None, _) => self.current_answer(&h).await?,
                };
                (status, content, outcome, HeldState::Approved)
            }
            Decision::Refuse => (
                answer_payload::Status::NotProvided,
                None,
                Outcome::NotProvided,
                HeldState::Refused,
            ),
            Decision::Unspecified => {
                return Err(GatewayError::invalid(
                    "decision",
                    "is required: approve or refuse",
                ));
            }
        };
        let sealed = self.seal_for(
            master,
            &h.permit_id,
            &h.inquiry_id,
            &h.inquirer,
            status,
            content,
        )?;
        let sealed_hash = hex::encode(renkei_crypto::sha256(&sealed.ciphertext));
        let hub_outcome = match outcome {
            Outcome::NotProvided => Outcome::NotProvided,
            _ => Outcome::Relayed,
        };
        self.send_late(sealed, hub_outcome).await?;
        h.state = state as i32;
        h.decided_by = input.operator.clone();
        h.decided_at_ms = self.clock.now_ms();
        h.confirmations = input.confirmations;
        stored.held = Some(h.clone());
        self.store_held(&stored)?;
        let mut record =
            Self::completion_record(&h, self.code.as_str(), outcome, self.clock.now_ms());
        record.operator = input.operator;
        record.sealed_answer_sha256 = sealed_hash;
        record.note = match state {
            HeldState::Approved => "held answer approved by an operator".into(),
            _ => "held answer refused by an operator".into(),
        };
        let (stored, recorded) = tokio::join!(self.commit(), self.records.append(record));
        stored?;
        recorded?;
        tracing::info!(tenant = %self.code, permit_id = %h.permit_id, state = ?state, "held inquiry decided");
        Ok(h)
    }

    /// Expires undecided held inquiries and delivers deferred answers that are due.
    /// Failures (hub unreachable) leave the entry for the next sweep.
    pub(crate) async fn sweep_held(&self, master: &MasterData) -> Result<u64, GatewayError> {
        let now = self.clock.now_ms();
        let mut due = Vec::new();
        for item in self.trees.held.iter() {
            let (k, v) = item?;
            let s = StoredHeld::decode(v.as_ref()).map_err(corrupt)?;
            let Some(h) = &s.held else { continue };
            let waiting = h.state == HeldState::Waiting as i32;
            if waiting
                && ((s.deferred && s.ready_at_ms <= now) || (!s.deferred && h.expires_at_ms <= now))
            {
                due.push(String::from_utf8_lossy(&k).into_owned());
            }
        }
        let mut done = 0;
        for permit_id in due {
            match self.complete_automatically(master, &permit_id).await {
                Ok(true) => done += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(tenant = %self.code, permit_id = %permit_id, error = %e, "late answer not delivered; will retry")
                }
            }
        }
        Ok(done)
    }

    /// Delivers a due deferred answer, or expires a held inquiry past its expiry.
    /// Returns false if there was nothing (left) to do.
    pub(crate) async fn complete_automatically(
        &self,
        master: &MasterData,
        permit_id: &str,
    ) -> Result<bool, GatewayError> {
        let _guard = self.decide_lock.lock().await;
        let Some(mut stored) = self.load_held(permit_id)? else {
            return Ok(false);
        };
        let Some(mut h) = stored.held.clone() else {
            return Ok(false);
        };
        let now = self.clock.now_ms();
        if h.state != HeldState::Waiting as i32 {
            return Ok(false);
        }
        let (status, content, outcome, hub_outcome, state) = if stored.deferred {
            if stored.ready_at_ms > now {
                return Ok(false);
            }
            let (status, content, outcome) = self.current_answer(&h).await?;
            (
                status,
                content,
                outcome,
                Outcome::Relayed,
                HeldState::Approved,
            )
        } else {
            if h.expires_at_ms > now {
                return Ok(false);
            }
            (
                answer_payload::Status::Expired,
                None,
                Outcome::Expired,
                Outcome::Expired,
                HeldState::Expired,
            )
        };
        let sealed = self.seal_for(
            master,
            &h.permit_id,
            &h.inquiry_id,
            &h.inquirer,
            status,
            content,
        )?;
        let sealed_hash = hex::encode(renkei_crypto::sha256(&sealed.ciphertext));
        self.send_late(sealed, hub_outcome).await?;
        let mut record =
            Self::completion_record(&h, self.code.as_str(), outcome, self.clock.now_ms());
        record.sealed_answer_sha256 = sealed_hash;
        if stored.deferred {
            // A delivered deferred answer leaves nothing to keep but its record.
            self.trees.held.remove(permit_id.as_bytes())?;
            record.note = "late answer delivered".into();
        } else {
            h.state = state as i32;
            h.decided_at_ms = now;
            stored.held = Some(h);
            self.store_held(&stored)?;
            record.reason = "the held inquiry expired without a decision".into();
        }
        let (stored, recorded) = tokio::join!(self.commit(), self.records.append(record));
        stored?;
        recorded?;
        Ok(true)
    }

    /// Forgets decided held inquiries whose decision is older than the result retention;
    /// their records stay in the record log.
    pub(crate) async fn purge_decided_held(&self, now: i64) -> Result<u64, GatewayError> {
        let cutoff = now - self.retention.as_millis() as i64;
        let mut removed = 0;
        for item in self.trees.held.iter() {
            let (k, v) = item?;
            let s = StoredHeld::decode(v.as_ref()).map_err(corrupt)?;
            if let Some(h) = s.held
                && h.state != HeldState::Waiting as i32
                && h.decided_at_ms > 0
                && h.decided_at_ms <= cutoff
            {
                self.trees.held.remove(k)?;
                removed += 1;
            }
        }
        if removed > 0 {
            self.commit().await?;
        }
        Ok(removed)
    }

    /// The held inquiry to store for a permit the provider will not answer automatically.
    pub(crate) fn new_held(
        &self,
        master: &MasterData,
        permit: &Permit,
        uan: &str,
        cause: HoldCause,
        flag: Option<&Flag>,
        received_at_ms: i64,
    ) -> HeldInquiry {
        let legal_basis = master
            .check(
                &permit.inquirer,
                &permit.provider,
                &permit.procedure,
                permit.item,
            )
            .map(|e| e.legal_basis.clone())
            .unwrap_or_default();
        HeldInquiry {
            permit_id: permit.permit_id.clone(),
            inquiry_id: permit.inquiry_id.clone(),
            inquirer: permit.inquirer.clone(),
            inquirer_name: master.name_of(&permit.inquirer),
            procedure: permit.procedure.clone(),
            item: permit.item,
            legal_basis,
            unified_address_number: uan.to_owned(),
            received_at_ms,
            expires_at_ms: received_at_ms + (self.held_policy.expiry_secs * 1000) as i64,
            state: HeldState::Waiting as i32,
            cause: cause as i32,
            flag_reason: flag.map(|f| f.reason).unwrap_or_default(),
            ..Default::default()
        }
    }

    /// Delivers a deferred answer when it is due (the sweep is the fallback after a restart).
    pub(crate) fn schedule_deferred(
        self: &Arc<Self>,
        master: Arc<MasterData>,
        permit_id: String,
        ready_at_ms: i64,
    ) {
        let t = self.clone();
        tokio::spawn(async move {
            let wait = renkei_exchange::expiry::wait_ms(ready_at_ms, t.clock.now_ms());
            tokio::time::sleep(Duration::from_millis(wait)).await;
            if let Err(e) = t.complete_automatically(&master, &permit_id).await {
                tracing::warn!(tenant = %t.code, permit_id = %permit_id, error = %e, "deferred answer not delivered; the sweep will retry");
            }
        });
    }
}
