//! 情報提供: the provider's side. An inquiry arrives from the hub with a permit; every
//! check below must pass before a copy is read, and each failure has its own refusal code
//! so operators (and tests) can tell forged, altered, expired, replayed and misaddressed
//! permits apart.

use prost::Message as _;
use renkei_core::now_ms;
use renkei_crypto::{AnswerContext, PermitCheckError};
use renkei_master::{MasterData, WhitelistRefusal};
use renkei_proto::v1::{
    AnswerPayload, DeliverInquiryRequest, DeliverInquiryResponse, Direction, ExchangeRecord,
    InquiryEnvelope, Outcome, Permit, Refusal, RefusalCode, answer_payload,
    deliver_inquiry_response,
};

use crate::GatewayError;
use crate::tenant::Tenant;

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
        &self,
        master: &MasterData,
        permit_key: &renkei_crypto::VerifyingKey,
        req: DeliverInquiryRequest,
    ) -> Result<DeliverInquiryResponse, GatewayError> {
        let now = now_ms();
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
        let response = match result {
            Ok(resp) => resp,
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
        let (stored, recorded) = tokio::join!(self.commit(), self.records.append(record));
        stored?;
        recorded?;
        Ok(response)
    }

    async fn provide_checked(
        &self,
        master: &MasterData,
        permit_key: &renkei_crypto::VerifyingKey,
        req: &DeliverInquiryRequest,
        now: i64,
        record: &mut ExchangeRecord,
    ) -> Result<DeliverInquiryResponse, Refused> {
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
        let claimed = self
            .trees
            .seen_permits
            .compare_and_swap(
                permit.permit_id.as_bytes(),
                None::<&[u8]>,
                Some(&permit.expires_at_ms.to_be_bytes()[..]),
            )
            .map_err(|e| refused(RefusalCode::Unavailable, format!("storage error: {e}")))?;
        if claimed.is_err() {
            return Err(refused(
                RefusalCode::PermitReplayed,
                format!("permit {} has already been used", permit.permit_id),
            ));
        }

        let Some(uan) = self
            .person_of_symbol(&permit.provider_symbol)
            .map_err(|e| refused(RefusalCode::Unavailable, e.to_string()))?
        else {
            return Err(refused(
                RefusalCode::UnknownPerson,
                format!("no such person at {} ({})", self.name, self.code),
            ));
        };
        record.unified_address_number = uan.clone();

        let copy = self
            .get_copy(permit.item, &uan)
            .map_err(|e| refused(RefusalCode::Unavailable, e.to_string()))?;
        let (status, content, outcome) = match copy {
            Some(c) => (answer_payload::Status::Found, c.content, Outcome::Provided),
            None => (answer_payload::Status::NoData, None, Outcome::NoData),
        };
        let mut payload = AnswerPayload {
            permit_id: permit.permit_id.clone(),
            inquiry_id: permit.inquiry_id.clone(),
            status: status as i32,
            content,
            padding: Vec::new(),
        };
        renkei_crypto::pad_answer_payload(&mut payload);
        let inquirer_key = master
            .agency(&permit.inquirer)
            .map(|a| a.encryption_public_key.as_slice())
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| {
                refused(
                    RefusalCode::UnknownAgency,
                    "the inquirer has no encryption key in the master data",
                )
            })?;
        let ctx = AnswerContext {
            permit_id: permit.permit_id.clone(),
            inquirer: permit.inquirer.clone(),
            provider: permit.provider.clone(),
        };
        let sealed = renkei_crypto::seal_answer(
            &payload.encode_to_vec(),
            &ctx,
            &inquirer_key,
            &self.signing,
        )
        .map_err(|e| refused(RefusalCode::Unavailable, format!("sealing failed: {e}")))?;
        record.outcome = outcome as i32;
        record.sealed_answer_sha256 = hex::encode(renkei_crypto::sha256(&sealed.ciphertext));
        Ok(DeliverInquiryResponse {
            result: Some(deliver_inquiry_response::Result::Answer(sealed)),
        })
    }
}
