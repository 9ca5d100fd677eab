//! 情報照会: the inquirer's side of an exchange.

use std::sync::Arc;

use prost::Message as _;
use renkei_core::{AgencyCode, IdKind, ItemNumber, ProcedureCode, UnifiedAddressNumber, new_id};
use renkei_crypto::{AnswerContext, VerifyingKey};
use renkei_master::MasterData;
use renkei_proto::v1::{
    AnswerPayload, Direction, ExchangeRecord, ExchangeRequest, Inquiry, InquiryEnvelope,
    InquiryState, ListInquiriesRequest, Outcome, Refusal, RefusalCode, SealedAnswer,
    SubmitInquiryRequest, answer_payload, exchange_response,
};

use renkei_store::exchange::Claim;

use crate::GatewayError;
use crate::tenant::Tenant;

pub(crate) fn is_final(state: i32) -> bool {
    !matches!(
        InquiryState::try_from(state).unwrap_or(InquiryState::Unspecified),
        InquiryState::Pending | InquiryState::Unspecified
    )
}

/// How an inquiry's state reads in the record log.
fn outcome_of(state: i32) -> Outcome {
    match InquiryState::try_from(state).unwrap_or(InquiryState::Unspecified) {
        InquiryState::Answered => Outcome::Provided,
        InquiryState::NoData => Outcome::NoData,
        InquiryState::Refused => Outcome::Refused,
        InquiryState::NotProvided => Outcome::NotProvided,
        InquiryState::Expired => Outcome::Expired,
        InquiryState::Failed => Outcome::Failed,
        InquiryState::Pending | InquiryState::Unspecified => Outcome::Pending,
    }
}

fn failed(inquiry: &mut Inquiry, code: RefusalCode, message: String, by: &str, now: i64) {
    inquiry.state = InquiryState::Failed as i32;
    inquiry.refusal = Some(Refusal {
        code: code as i32,
        message,
        refused_by: by.into(),
    });
    inquiry.completed_at_ms = now;
}

/// Parameters that must match for a retried submit to count as the same inquiry.
fn same_request(a: &Inquiry, r: &SubmitInquiryRequest) -> bool {
    a.unified_address_number == r.unified_address_number
        && a.provider == r.provider
        && a.procedure == r.procedure
        && a.item == r.item
}

impl Tenant {
    pub(crate) async fn get_inquiry(&self, id: &str) -> Result<Inquiry, GatewayError> {
        self.exchange
            .inquiry(id)
            .await?
            .ok_or_else(|| GatewayError::InquiryNotFound {
                inquiry_id: id.to_owned(),
                tenant: self.name.clone(),
            })
    }

    fn notify(&self, inquiry: &Inquiry) {
        // No receivers is normal; a lagging watcher re-reads from storage.
        let _ = self.updates.send(Arc::new(inquiry.clone()));
    }

    fn validate_submit(
        &self,
        master: &MasterData,
        req: &SubmitInquiryRequest,
    ) -> Result<UnifiedAddressNumber, GatewayError> {
        let uan = UnifiedAddressNumber::parse(&req.unified_address_number)
            .map_err(|e| GatewayError::from_core("unified_address_number", e))?;
        let provider =
            AgencyCode::parse(&req.provider).map_err(|e| GatewayError::from_core("provider", e))?;
        ProcedureCode::parse(&req.procedure)
            .map_err(|e| GatewayError::from_core("procedure", e))?;
        ItemNumber::new(req.item).map_err(|e| GatewayError::from_core("item", e))?;
        if req.disclose_after_ms < 0 {
            return Err(GatewayError::invalid(
                "disclose_after_ms",
                "must be 0 (visible to the resident now) or a time in Unix milliseconds",
            ));
        }
        if req.idempotency_key.is_empty()
            || req.idempotency_key.len() > 128
            || req.idempotency_key.chars().any(char::is_control)
        {
            return Err(GatewayError::invalid(
                "idempotency_key",
                "is required: 1 to 128 printable characters, the same on every retry",
            ));
        }
        if req.case_reference.chars().count() > 200 {
            return Err(GatewayError::invalid(
                "case_reference",
                "is longer than 200 characters",
            ));
        }
        if master.agency(provider.as_str()).is_none() {
            return Err(GatewayError::invalid(
                "provider",
                format!(
                    "agency {provider} is not in the agency directory (master data version {})",
                    master.version()
                ),
            ));
        }
        if provider == self.code {
            return Err(GatewayError::invalid(
                "provider",
                "an agency cannot send an inquiry to itself",
            ));
        }
        Ok(uan)
    }

    /// Submits an inquiry and carries it as far as it goes in one round trip: answered,
    /// refused, failed, or pending (the answer arrives later through the hub).
    #[tracing::instrument(skip_all, fields(tenant = %self.code, provider = %req.provider, item = req.item, inquiry_id))]
    pub(crate) async fn submit(
        &self,
        master: &MasterData,
        req: SubmitInquiryRequest,
    ) -> Result<Inquiry, GatewayError> {
        let uan = self.validate_submit(master, &req)?;
        if let Some(id) = self.exchange.claimed_by(&req.idempotency_key).await? {
            let inquiry = self.get_inquiry(&id).await?;
            if !same_request(&inquiry, &req) {
                return Err(GatewayError::IdempotencyConflict {
                    key: req.idempotency_key,
                    inquiry_id: id,
                });
            }
            return Ok(inquiry);
        }
        let Some(symbol) = self.symbol_of(&uan).await? else {
            return Err(GatewayError::NoSymbol {
                uan: uan.to_string(),
            });
        };
        let now = self.clock.now_ms();
        let inquiry_id = new_id(IdKind::Inquiry, now, renkei_crypto::random_bytes::<8>()?);
        tracing::Span::current().record("inquiry_id", inquiry_id.as_str());
        let envelope = InquiryEnvelope {
            inquiry_id: inquiry_id.clone(),
            inquirer: self.code.to_string(),
            provider: req.provider.clone(),
            procedure: req.procedure.clone(),
            item: req.item,
            created_at_ms: now,
            nonce: renkei_crypto::random_bytes::<16>()?.to_vec(),
            disclose_after_ms: req.disclose_after_ms,
        }
        .encode_to_vec();
        let mut inquiry = Inquiry {
            inquiry_id: inquiry_id.clone(),
            idempotency_key: req.idempotency_key.clone(),
            unified_address_number: uan.to_string(),
            provider: req.provider,
            procedure: req.procedure,
            item: req.item,
            case_reference: req.case_reference,
            state: InquiryState::Pending as i32,
            submitted_at_ms: now,
            ..Default::default()
        };
        // Claim the key and store the PENDING inquiry at once; if a concurrent submit won,
        // answer with its inquiry instead.
        if let Claim::Existing(other) = self.exchange.claim(&inquiry).await? {
            return self.get_inquiry(&other).await;
        }

        let envelope_sha256 = hex::encode(renkei_crypto::sha256(&envelope));
        let response = self
            .hub
            .clone()
            .exchange(ExchangeRequest {
                envelope,
                inquirer_symbol: symbol,
            })
            .await;
        let mut sealed_hash = String::new();
        match response.map(|r| r.into_inner()) {
            Ok(resp) => {
                inquiry.permit_id = resp.permit_id.clone();
                match resp.result {
                    Some(exchange_response::Result::Answer(sealed)) => {
                        sealed_hash = hex::encode(renkei_crypto::sha256(&sealed.ciphertext));
                        self.apply_answer(master, &mut inquiry, &sealed);
                    }
                    Some(exchange_response::Result::Pending(_)) => {
                        self.exchange
                            .await_answer(&resp.permit_id, &inquiry_id)
                            .await?;
                    }
                    Some(exchange_response::Result::Refused(r)) => {
                        inquiry.state = InquiryState::Refused as i32;
                        inquiry.refusal = Some(r);
                        inquiry.completed_at_ms = self.clock.now_ms();
                    }
                    None => failed(
                        &mut inquiry,
                        RefusalCode::Malformed,
                        "the hub sent an empty response".into(),
                        "gateway",
                        self.clock.now_ms(),
                    ),
                }
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), "hub exchange failed");
                failed(
                    &mut inquiry,
                    RefusalCode::Unavailable,
                    format!("the hub could not be reached: {}", status.message()),
                    "gateway",
                    self.clock.now_ms(),
                );
            }
        }
        self.finish(&inquiry, envelope_sha256, sealed_hash).await?;
        Ok(inquiry)
    }

    /// Verifies the provider's signature, opens the answer and sets the final state.
    /// A bad answer makes the inquiry FAILED; it never reaches the back office.
    fn apply_answer(&self, master: &MasterData, inquiry: &mut Inquiry, sealed: &SealedAnswer) {
        let opened = (|| {
            let agency = master
                .agency(&inquiry.provider)
                .ok_or("the provider is not in the agency directory")?;
            let key = VerifyingKey::from_bytes(&agency.signing_public_key)
                .map_err(|_| "the provider has no valid signing key in the master data")?;
            let ctx = AnswerContext {
                permit_id: inquiry.permit_id.clone(),
                inquirer: self.code.to_string(),
                provider: inquiry.provider.clone(),
            };
            let bytes = renkei_crypto::open_answer(sealed, &ctx, &self.encryption, &key)
                .map_err(|_| "the answer's signature or encryption did not verify")?;
            let payload = AnswerPayload::decode(bytes.as_slice())
                .map_err(|_| "the opened answer is not readable")?;
            if payload.inquiry_id != inquiry.inquiry_id || payload.permit_id != inquiry.permit_id {
                return Err("the answer is for another inquiry");
            }
            Ok::<_, &str>(payload)
        })();
        inquiry.completed_at_ms = self.clock.now_ms();
        match opened {
            Ok(payload) => match answer_payload::Status::try_from(payload.status) {
                Ok(answer_payload::Status::Found) => {
                    inquiry.state = InquiryState::Answered as i32;
                    inquiry.content = payload.content;
                }
                Ok(answer_payload::Status::NoData) => inquiry.state = InquiryState::NoData as i32,
                Ok(answer_payload::Status::NotProvided) => {
                    inquiry.state = InquiryState::NotProvided as i32
                }
                Ok(answer_payload::Status::Expired) => inquiry.state = InquiryState::Expired as i32,
                _ => failed(
                    inquiry,
                    RefusalCode::Malformed,
                    "the answer has no status".into(),
                    "gateway",
                    self.clock.now_ms(),
                ),
            },
            Err(why) => {
                tracing::warn!(reason = why, "answer rejected");
                failed(
                    inquiry,
                    RefusalCode::Malformed,
                    why.into(),
                    "gateway",
                    self.clock.now_ms(),
                );
            }
        }
    }

    /// Stores the inquiry, writes the record, waits for both to be durable, notifies.
    async fn finish(
        &self,
        inquiry: &Inquiry,
        envelope_sha256: String,
        sealed_answer_sha256: String,
    ) -> Result<(), GatewayError> {
        self.exchange.save_inquiry(inquiry).await?;
        let record = ExchangeRecord {
            recorded_at_ms: self.clock.now_ms(),
            keeper: self.code.to_string(),
            direction: Direction::Inquiry as i32,
            counterparty: inquiry.provider.clone(),
            inquirer: self.code.to_string(),
            provider: inquiry.provider.clone(),
            procedure: inquiry.procedure.clone(),
            item: inquiry.item,
            inquiry_id: inquiry.inquiry_id.clone(),
            permit_id: inquiry.permit_id.clone(),
            outcome: outcome_of(inquiry.state) as i32,
            reason: inquiry
                .refusal
                .as_ref()
                .map(|r| r.message.clone())
                .unwrap_or_default(),
            unified_address_number: inquiry.unified_address_number.clone(),
            envelope_sha256,
            sealed_answer_sha256,
            ..Default::default()
        };
        let (stored, recorded) = tokio::join!(self.commit(), self.records.append(record));
        stored?;
        recorded?;
        self.notify(inquiry);
        Ok(())
    }

    /// A late answer delivered by the hub (after the provider's operator decided).
    pub(crate) async fn complete_late(
        &self,
        master: &MasterData,
        sealed: &SealedAnswer,
    ) -> Result<(), GatewayError> {
        let Some(id) = self.exchange.awaiting(&sealed.permit_id).await? else {
            return Err(GatewayError::NoPendingInquiry {
                permit_id: sealed.permit_id.clone(),
                tenant: self.name.clone(),
            });
        };
        let mut inquiry = self.get_inquiry(&id).await?;
        if is_final(inquiry.state) {
            return Ok(());
        }
        self.apply_answer(master, &mut inquiry, sealed);
        self.exchange.answered(&sealed.permit_id).await?;
        let sealed_hash = hex::encode(renkei_crypto::sha256(&sealed.ciphertext));
        self.finish(&inquiry, String::new(), sealed_hash).await
    }

    /// Inquiries in id (= submission time) order, filtered, paged.
    pub(crate) async fn list_inquiries(
        &self,
        req: &ListInquiriesRequest,
    ) -> Result<(Vec<Inquiry>, String), GatewayError> {
        let page = match req.page_size {
            0 => 100,
            n => n.min(1000) as usize,
        };
        // Read in batches past the filter until a page is full or the inquiries end.
        const BATCH: usize = 256;
        let mut out = Vec::new();
        let mut after = req.page_token.clone();
        'pages: loop {
            let batch = self.exchange.inquiries_after(&after, BATCH).await?;
            let last = batch.len() < BATCH;
            for inq in batch {
                after.clone_from(&inq.inquiry_id);
                if (req.state == 0 || inq.state == req.state)
                    && (req.unified_address_number.is_empty()
                        || inq.unified_address_number == req.unified_address_number)
                {
                    out.push(inq);
                    if out.len() == page {
                        break 'pages;
                    }
                }
            }
            if last {
                break;
            }
        }
        let next = if out.len() == page {
            out.last().map(|i| i.inquiry_id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok((out, next))
    }
}
