//! 情報提供: the provider's side. An inquiry arrives from the hub with a permit; every
//! check below must pass before a copy is read, and each failure has its own refusal code
//! so operators (and tests) can tell forged, altered, expired, replayed and misaddressed
//! permits apart.

use prost::Message as _;
use renkei_crypto::PermitCheckError;
use renkei_master::{MasterData, WhitelistRefusal};
use renkei_proto::v1::{
    DeliverInquiryRequest, DeliverInquiryResponse, Direction, ExchangeRecord, HoldCause,
    InquiryEnvelope, Outcome, Pending, Permit, Refusal, RefusalCode, answer_payload,
    deliver_inquiry_response,
};

use std::sync::Arc;

use crate::GatewayError;
use crate::tenant::Tenant;
use renkei_store::exchange::HeldEntry;

/// How a provision that passed every check ends at this moment.
enum Provided {
    Answer(renkei_proto::v1::SealedAnswer),
    /// Held for an operator, or deferred (answer ready at the given time).
    Pending {
        deferred_until: Option<i64>,
    },
}

/// A refusal plus whatever is known about the exchange, for the record.
struct Refused {
    code: RefusalCode,
    message: String,
}

fn refused(code: RefusalCode, message: impl Into<String>) -> Refused {
    Refused {
        code,
        message: message.into(),
    }
}

/// Checks the permit and its envelope; returns the permit if the exchange may proceed.
fn check_permit(
    tenant: &Tenant,
    master: &MasterData,
    permit_key: &renkei_crypto::VerifyingKey,
    req: &DeliverInquiryRequest,
    now: i64,
) -> Result<Permit, Refused> {
    let signed = req
        .permit
        .as_ref()
        .ok_or_else(|| refused(RefusalCode::Malformed, "the inquiry carries no permit"))?;
    let permit = renkei_crypto::verify_permit(permit_key, signed).map_err(|e| match e {
        PermitCheckError::Forged(why) => refused(
            RefusalCode::PermitForged,
            format!("the permit was not signed by the hub's permit key: {why}"),
        ),
        PermitCheckError::Altered => refused(
            RefusalCode::PermitAltered,
            "the permit's signature does not match its contents: it was changed after the hub signed it",
        ),
        _ => refused(RefusalCode::Malformed, "the permit cannot be read"),
    })?;
    if renkei_crypto::sha256(&req.envelope).as_slice() != permit.envelope_sha256.as_slice() {
        return Err(refused(
            RefusalCode::PermitAltered,
            "the inquiry does not match the one the permit was issued for",
        ));
    }
    let env = InquiryEnvelope::decode(req.envelope.as_slice()).map_err(|_| {
        refused(
            RefusalCode::Malformed,
            "the inquiry envelope cannot be read",
        )
    })?;
    if env.inquiry_id != permit.inquiry_id
        || env.inquirer != permit.inquirer
        || env.provider != permit.provider
        || env.procedure != permit.procedure
        || env.item != permit.item
    {
        return Err(refused(
            RefusalCode::PermitAltered,
            "the inquiry's parties, procedure or item differ from the permit's",
        ));
    }
    if permit.provider != tenant.code.as_str() {
        return Err(refused(
            RefusalCode::PermitMisaddressed,
            format!(
                "the permit is addressed to {} ({}), not to {} ({})",
                master.name_of(&permit.provider),
                permit.provider,
                tenant.name,
                tenant.code
            ),
        ));
    }
    if now > permit.expires_at_ms {
        return Err(refused(
            RefusalCode::PermitExpired,
            format!(
                "the permit expired at {}",
                renkei_core::format_ms(permit.expires_at_ms)
            ),
        ));
    }
    if let Err(r) = master.check(
        &permit.inquirer,
        &permit.provider,
        &permit.procedure,
        permit.item,
    ) {
        let code = match r {
            WhitelistRefusal::UnknownAgency { .. } => RefusalCode::UnknownAgency,
            WhitelistRefusal::NotAllowed { .. } => RefusalCode::NotOnWhitelist,
        };
        return Err(refused(
            code,
            format!("re-check against the whitelist failed: {}", r.message()),
        ));
    }
    Ok(permit)
}

impl Tenant {
    /// Handles one delivered inquiry. Protocol refusals are answers, not errors; only a
    /// storage failure is an error (the hub then reports the provider as failed).
    #[tracing::instrument(skip_all, fields(tenant = %self.code, permit_id))]
    pub(crate) async fn provide(
        self: &Arc<Self>,
        master: &Arc<MasterData>,
        permit_key: &renkei_crypto::VerifyingKey,
        req: DeliverInquiryRequest,
    ) -> Result<DeliverInquiryResponse, GatewayError> {
        let now = self.clock.now_ms();
        let mut record = ExchangeRecord {
            recorded_at_ms: now,
            keeper: self.code.to_string(),
            direction: Direction::Provision as i32,
            provider: self.code.to_string(),
            envelope_sha256: hex::encode(renkei_crypto::sha256(&req.envelope)),
            ..Default::default()
        };
        let result = self
            .provide_checked(master, permit_key, &req, now, &mut record)
            .await;
        let mut pending = None;
        let response = match result {
            Ok(Provided::Answer(sealed)) => DeliverInquiryResponse {
                result: Some(deliver_inquiry_response::Result::Answer(sealed)),
            },
            Ok(Provided::Pending { deferred_until }) => {
                pending = Some(deferred_until);
                DeliverInquiryResponse {
                    result: Some(deliver_inquiry_response::Result::Pending(Pending {})),
                }
            }
            Err(r) => {
                tracing::info!(code = r.code as i32, "inquiry refused by the provider");
                record.outcome = Outcome::Refused as i32;
                record.reason = r.message.clone();
                DeliverInquiryResponse {
                    result: Some(deliver_inquiry_response::Result::Refused(Refusal {
                        code: r.code as i32,
                        message: r.message,
                        refused_by: self.code.to_string(),
                    })),
                }
            }
        };
        let permit_id = record.permit_id.clone();
        let (stored, recorded) = tokio::join!(self.commit(), self.records.append(record));
        stored?;
        recorded?;
        if let Some(deferred_until) = pending {
            if let Some(ready_at_ms) = deferred_until {
                self.schedule_deferred(master.clone(), permit_id, ready_at_ms);
            }
            // Every pending reply leaves at the deadline, whatever made it pending.
            let leave_at = now + self.held_policy.answer_deadline_ms as i64;
            let wait = (leave_at - self.clock.now_ms()).max(0) as u64;
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
        }
        Ok(response)
    }

    async fn provide_checked(
        &self,
        master: &MasterData,
        permit_key: &renkei_crypto::VerifyingKey,
        req: &DeliverInquiryRequest,
        now: i64,
        record: &mut ExchangeRecord,
    ) -> Result<Provided, Refused> {
        let permit = check_permit(self, master, permit_key, req, now)?;
        tracing::Span::current().record("permit_id", permit.permit_id.as_str());
        record.counterparty = permit.inquirer.clone();
        record.inquirer = permit.inquirer.clone();
        record.procedure = permit.procedure.clone();
        record.item = permit.item;
        record.inquiry_id = permit.inquiry_id.clone();
        record.permit_id = permit.permit_id.clone();

        // Single use: the first delivery claims the permit id, durably (committed below
        // together with the record). Checked last so a bad permit cannot burn a good id.
        let first = self
            .exchange
            .claim_permit(&permit.permit_id, permit.expires_at_ms)
            .await
            .map_err(|e| refused(RefusalCode::Unavailable, format!("storage error: {e}")))?;
        if !first {
            return Err(refused(
                RefusalCode::PermitReplayed,
                format!("permit {} has already been used", permit.permit_id),
            ));
        }

        let Some(uan) = self
            .person_of_symbol(&permit.provider_symbol)
            .await
            .map_err(|e| refused(RefusalCode::Unavailable, e.to_string()))?
        else {
            return Err(refused(
                RefusalCode::UnknownPerson,
                format!("no such person at {} ({})", self.name, self.code),
            ));
        };
        record.unified_address_number = uan.clone();

        let unavailable = |e: GatewayError| refused(RefusalCode::Unavailable, e.to_string());
        let copy = self
            .get_copy(permit.item, &uan)
            .await
            .map_err(unavailable)?;
        let flag = self
            .flag_for(&uan, permit.item)
            .await
            .map_err(unavailable)?;
        let cause = if flag.is_some() {
            Some(HoldCause::Flagged)
        } else if copy.is_none()
            && self
                .held_policy
                .hold_without_copy
                .contains(&permit.procedure)
        {
            Some(HoldCause::NoCopy)
        } else {
            None
        };
        if let Some(cause) = cause {
            // 自動応答不可: held for an operator. The inquirer is told only "pending".
            let held = self.new_held(master, &permit, &uan, cause, flag.as_ref(), now);
            self.exchange
                .put_held(&HeldEntry {
                    held,
                    deferred: false,
                    ready_at_ms: 0,
                    unsent: None,
                })
                .await
                .map_err(|e| unavailable(e.into()))?;
            record.outcome = Outcome::Held as i32;
            record.reason = match cause {
                HoldCause::NoCopy => "held for a manual answer: no provision copy".into(),
                _ => "held for an operator's decision (自動応答不可)".into(),
            };
            return Ok(Provided::Pending {
                deferred_until: None,
            });
        }
        let latency = self.held_policy.simulated_answer_latency_ms as i64;
        if latency >= self.held_policy.answer_deadline_ms as i64 {
            // Not ready within the deadline: answered later, like a held answer.
            let ready_at_ms = now + latency;
            let mut deferred =
                self.new_held(master, &permit, &uan, HoldCause::Unspecified, None, now);
            deferred.expires_at_ms = 0;
            self.exchange
                .put_held(&HeldEntry {
                    held: deferred,
                    deferred: true,
                    ready_at_ms,
                    unsent: None,
                })
                .await
                .map_err(|e| unavailable(e.into()))?;
            record.outcome = Outcome::Pending as i32;
            record.reason = "answer not ready within the deadline; delivered later".into();
            return Ok(Provided::Pending {
                deferred_until: Some(ready_at_ms),
            });
        }
        if latency > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(latency as u64)).await;
        }
        let (status, content, outcome) = match copy {
            Some(c) => (answer_payload::Status::Found, c.content, Outcome::Provided),
            None => (answer_payload::Status::NoData, None, Outcome::NoData),
        };
        let sealed = self
            .seal_for(
                master,
                &permit.permit_id,
                &permit.inquiry_id,
                &permit.inquirer,
                status,
                content,
            )
            .map_err(|e| match e.refusal_code() {
                RefusalCode::Unavailable => {
                    refused(RefusalCode::Unavailable, format!("sealing failed: {e}"))
                }
                code => refused(code, e.to_string()),
            })?;
        record.outcome = outcome as i32;
        record.sealed_answer_sha256 = hex::encode(renkei_crypto::sha256(&sealed.ciphertext));
        Ok(Provided::Answer(sealed))
    }
}
