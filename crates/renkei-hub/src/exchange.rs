//! The hub's work: symbols, permits, routing and its own records.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use prost::Message as _;
use renkei_core::{AgencyCode, IdKind, ItemNumber, MyNumber, ProcedureCode, new_id, now_ms};
use renkei_crypto::{SigningKey, SymbolKey};
use renkei_ledger::{HeadSigner, Ledger, LedgerOptions};
use renkei_master::WhitelistRefusal;
use renkei_proto::v1::{
    DeliverAnswerRequest, DeliverInquiryRequest, Direction, ExchangeRecord, ExchangeRequest,
    ExchangeResponse, InquiryEnvelope, Outcome, Permit, Refusal, RefusalCode, SealedAnswer,
    SymbolResult, deliver_inquiry_response, exchange_response, symbol_result,
};
use renkei_records::{RecordBook, RecordQuery};
use renkei_store::{Store, StoreOptions, Tree};
use renkei_transport::{ClientOptions, Credentials};

use crate::master::{Published, publish};
use crate::routes::Routes;
use crate::{HubConfig, HubError};

/// The label the hub uses as `keeper` in its own records.
pub(crate) const HUB_KEEPER: &str = "hub";

#[derive(Debug)]
pub(crate) struct HubState {
    pub(crate) config: HubConfig,
    pub(crate) credentials: Credentials,
    signing: SigningKey,
    pub(crate) symbols: SymbolKey,
    master: RwLock<Arc<Published>>,
    pub(crate) records: RecordBook,
    store: Store,
    /// permit id → the exchange whose answer is still to come (held at the provider).
    pending: Tree,
    routes: Routes,
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

impl HubState {
    pub(crate) fn open(config: HubConfig) -> Result<HubState, HubError> {
        let credentials = Credentials::load(&config.tls.ca, &config.tls.cert, &config.tls.key)?;
        let signing = renkei_crypto::read_signing_key(&config.keys.signing)?;
        let symbols = renkei_crypto::read_symbol_key(&config.keys.symbols)?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            HubError::Config(format!("cannot create {}: {e}", config.data_dir.display()))
        })?;
        let store = Store::open(&config.data_dir.join("db"), &StoreOptions::default())?;
        let ledger = Ledger::open_signed(
            &config.data_dir.join("records"),
            LedgerOptions::default(),
            HeadSigner {
                log_id: HUB_KEEPER.into(),
                key: renkei_crypto::read_signing_key(&config.keys.signing)?,
            },
        )?;
        let records = RecordBook::open(ledger, store.global("record-index")?)?;
        let meta = store.global("meta")?;
        let previous = meta
            .get(b"master-version")?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        let published = publish(&config.master, &signing, previous)?;
        meta.insert(b"master-version", &published.data.version().to_be_bytes())?;
        let pending = store.global("pending")?;
        let client_options = ClientOptions {
            request_timeout: Duration::from_secs(config.limits.provider_timeout_secs),
            ..ClientOptions::default()
        };
        let routes = Routes::new(
            credentials.clone(),
            client_options,
            config.limits.max_message_bytes,
        );
        Ok(HubState {
            config,
            credentials,
            signing,
            symbols,
            master: RwLock::new(Arc::new(published)),
            records,
            store,
            pending,
            routes,
        })
    }

    pub(crate) fn published(&self) -> Arc<Published> {
        match self.master.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn master_version(&self) -> u64 {
        self.published().data.version()
    }

    pub(crate) fn reload_master(&self) -> Result<u64, HubError> {
        let previous = self.master_version();
        let published = publish(&self.config.master, &self.signing, previous)?;
        let version = published.data.version();
        self.store
            .global("meta")?
            .insert(b"master-version", &version.to_be_bytes())?;
        match self.master.write() {
            Ok(mut g) => *g = Arc::new(published),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(published),
        }
        Ok(version)
    }

    /// 符号取得: one result per My Number, in order. A bad number gets an error result
    /// (which never repeats the number); the others are still issued.
    pub(crate) fn issue_symbols(
        &self,
        caller: &AgencyCode,
        my_numbers: &[String],
    ) -> Result<Vec<SymbolResult>, HubError> {
        if my_numbers.len() > self.config.limits.max_symbol_batch {
            return Err(HubError::invalid(
                "my_numbers",
                format!(
                    "{} numbers in one request; at most {} are allowed",
                    my_numbers.len(),
                    self.config.limits.max_symbol_batch
                ),
            ));
        }
        Ok(my_numbers
            .iter()
            .map(|n| SymbolResult {
                result: Some(match MyNumber::parse(n) {
                    Ok(m) => symbol_result::Result::Symbol(self.symbols.symbol_for(caller, &m)),
                    Err(e) => symbol_result::Result::Error(e.to_string()),
                }),
            })
            .collect())
    }

    fn refusal(code: RefusalCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code: code as i32,
            message: message.into(),
            refused_by: HUB_KEEPER.into(),
        }
    }

    /// Validates the envelope against the caller's identity and the identifier rules.
    fn parse_envelope(
        caller: &AgencyCode,
        bytes: &[u8],
    ) -> Result<(InquiryEnvelope, AgencyCode), HubError> {
        let env = InquiryEnvelope::decode(bytes).map_err(|e| {
            HubError::invalid("envelope", format!("not a valid InquiryEnvelope: {e}"))
        })?;
        if env.inquirer != caller.as_str() {
            return Err(HubError::PermissionDenied(format!(
                "the envelope names inquirer {:?} but your certificate is for {caller}",
                env.inquirer
            )));
        }
        let provider = AgencyCode::parse(&env.provider)
            .map_err(|e| HubError::invalid("envelope.provider", e.to_string()))?;
        ProcedureCode::parse(&env.procedure)
            .map_err(|e| HubError::invalid("envelope.procedure", e.to_string()))?;
        ItemNumber::new(env.item).map_err(|e| HubError::invalid("envelope.item", e.to_string()))?;
        if env.inquiry_id.is_empty() || env.inquiry_id.len() > 64 {
            return Err(HubError::invalid(
                "envelope.inquiry_id",
                "must be 1 to 64 characters",
            ));
        }
        Ok((env, provider))
    }

    /// 情報照会 through the hub: check, translate, permit, route, record.
    #[tracing::instrument(skip_all, fields(inquirer = %caller, provider, item, permit_id))]
    pub(crate) async fn exchange(
        &self,
        caller: &AgencyCode,
        req: ExchangeRequest,
    ) -> Result<ExchangeResponse, HubError> {
        let (env, provider) = Self::parse_envelope(caller, &req.envelope)?;
        let span = tracing::Span::current();
        span.record("provider", env.provider.as_str());
        span.record("item", env.item);
        let published = self.published();
        let master = &published.data;
        let mut record = ExchangeRecord {
            recorded_at_ms: now_ms(),
            keeper: HUB_KEEPER.into(),
            direction: Direction::Relay as i32,
            inquirer: env.inquirer.clone(),
            provider: env.provider.clone(),
            procedure: env.procedure.clone(),
            item: env.item,
            inquiry_id: env.inquiry_id.clone(),
            envelope_sha256: hex(&renkei_crypto::sha256(&req.envelope)),
            disclose_after_ms: env.disclose_after_ms.max(0),
            ..Default::default()
        };

        let refused = |record: ExchangeRecord, refusal: Refusal| async move {
            let mut record = record;
            record.outcome = Outcome::Refused as i32;
            record.reason = refusal.message.clone();
            self.records.append(record).await?;
            tracing::info!(code = refusal.code, "exchange refused by the hub");
            Ok::<_, HubError>(ExchangeResponse {
                permit_id: String::new(),
                result: Some(exchange_response::Result::Refused(refusal)),
            })
        };

        if let Err(r) = master.check(&env.inquirer, &env.provider, &env.procedure, env.item) {
            let code = match r {
                WhitelistRefusal::UnknownAgency { .. } => RefusalCode::UnknownAgency,
                WhitelistRefusal::NotAllowed { .. } => RefusalCode::NotOnWhitelist,
            };
            return refused(record, Self::refusal(code, r.message())).await;
        }
        let person = match self.symbols.open_symbol(caller, &req.inquirer_symbol) {
            Ok(p) => p,
            Err(_) => {
                let msg = format!(
                    "the symbol was not issued by this hub to {} ({caller}); acquire the person's symbol again",
                    master.name_of(caller.as_str())
                );
                return refused(record, Self::refusal(RefusalCode::SymbolInvalid, msg)).await;
            }
        };
        let Some(agency) = master
            .agency(&env.provider)
            .filter(|a| !a.endpoint.is_empty())
        else {
            let msg = format!(
                "{} ({}) is not connected to the network",
                master.name_of(&env.provider),
                env.provider
            );
            return refused(record, Self::refusal(RefusalCode::ProviderUnreachable, msg)).await;
        };

        let provider_symbol = self.symbols.symbol(&provider, &person);
        let now = now_ms();
        let permit = Permit {
            permit_id: new_id(IdKind::Permit, now, renkei_crypto::random_bytes::<8>()?),
            inquiry_id: env.inquiry_id.clone(),
            inquirer: env.inquirer.clone(),
            provider: env.provider.clone(),
            procedure: env.procedure.clone(),
            item: env.item,
            provider_symbol: provider_symbol.clone(),
            envelope_sha256: renkei_crypto::sha256(&req.envelope).to_vec(),
            issued_at_ms: now,
            expires_at_ms: now + (self.config.limits.permit_ttl_secs * 1000) as i64,
            master_version: master.version(),
        };
        span.record("permit_id", permit.permit_id.as_str());
        record.permit_id = permit.permit_id.clone();
        record.person_ref = person_ref(&provider_symbol);
        let signed = renkei_crypto::sign_permit(&self.signing, &permit);

        let mut client = self.routes.client(&agency.endpoint, &agency.server_name)?;
        let delivered = client
            .deliver_inquiry(DeliverInquiryRequest {
                to: env.provider.clone(),
                envelope: req.envelope,
                permit: Some(signed),
            })
            .await;
        let result = match delivered.map(|r| r.into_inner().result) {
            Ok(Some(deliver_inquiry_response::Result::Answer(answer))) => {
                if let Err(why) = check_answer_header(&answer, &permit) {
                    record.outcome = Outcome::Failed as i32;
                    record.reason = why.clone();
                    exchange_response::Result::Refused(Self::refusal(RefusalCode::Malformed, why))
                } else {
                    record.outcome = Outcome::Relayed as i32;
                    record.sealed_answer_sha256 = hex(&renkei_crypto::sha256(&answer.ciphertext));
                    exchange_response::Result::Answer(answer)
                }
            }
            Ok(Some(deliver_inquiry_response::Result::Pending(p))) => {
                record.outcome = Outcome::Pending as i32;
                // The late answer may come days later: remember where to send it, durably.
                self.pending
                    .insert(permit.permit_id.as_bytes(), record.encode_to_vec())?;
                self.store.commit().await?;
                exchange_response::Result::Pending(p)
            }
            Ok(Some(deliver_inquiry_response::Result::Refused(r))) => {
                record.outcome = Outcome::Refused as i32;
                record.reason = r.message.clone();
                exchange_response::Result::Refused(r)
            }
            Ok(None) => {
                let why = "the provider's gateway sent an empty response".to_owned();
                record.outcome = Outcome::Failed as i32;
                record.reason = why.clone();
                exchange_response::Result::Refused(Self::refusal(RefusalCode::Malformed, why))
            }
            Err(status) => {
                let why = format!(
                    "{}'s gateway could not be reached: {}",
                    master.name_of(&env.provider),
                    status.message()
                );
                tracing::warn!(code = ?status.code(), "provider gateway unreachable");
                record.outcome = Outcome::Failed as i32;
                record.reason = why.clone();
                exchange_response::Result::Refused(Self::refusal(
                    RefusalCode::ProviderUnreachable,
                    why,
                ))
            }
        };
        self.records.append(record).await?;
        Ok(ExchangeResponse {
            permit_id: permit.permit_id,
            result: Some(result),
        })
    }

    /// A provider's answer after an operator's decision: forward it to the inquirer.
    #[tracing::instrument(skip_all, fields(provider = %caller, permit_id))]
    pub(crate) async fn deliver_late_answer(
        &self,
        caller: &AgencyCode,
        answer: SealedAnswer,
        outcome: Outcome,
    ) -> Result<(), HubError> {
        // The provider says what it decided; the hub records it but cannot check it (the
        // answer is sealed): the inquirer's gateway reads the same status inside.
        let (outcome, note) = match outcome {
            Outcome::NotProvided => (outcome, "late answer relayed: not provided"),
            Outcome::Expired => (outcome, "late answer relayed: expired"),
            _ => (Outcome::Relayed, "late answer relayed"),
        };
        tracing::Span::current().record("permit_id", answer.permit_id.as_str());
        let Some(bytes) = self.pending.get(answer.permit_id.as_bytes())? else {
            return Err(HubError::NotFound(format!(
                "no exchange with permit {} is waiting for an answer",
                answer.permit_id
            )));
        };
        let pending = ExchangeRecord::decode(bytes.as_ref()).map_err(|e| {
            HubError::FailedPrecondition(format!("pending exchange unreadable: {e}"))
        })?;
        if pending.provider != caller.as_str() || answer.provider != caller.as_str() {
            return Err(HubError::PermissionDenied(format!(
                "permit {} was issued for provider {}, not {caller}",
                answer.permit_id, pending.provider
            )));
        }
        if answer.inquirer != pending.inquirer {
            return Err(HubError::invalid(
                "answer.inquirer",
                format!("the permit's inquirer is {}", pending.inquirer),
            ));
        }
        let published = self.published();
        let Some(agency) = published
            .data
            .agency(&pending.inquirer)
            .filter(|a| !a.endpoint.is_empty())
        else {
            return Err(HubError::FailedPrecondition(format!(
                "inquirer {} is not connected to the network",
                pending.inquirer
            )));
        };
        let sealed_hash = hex(&renkei_crypto::sha256(&answer.ciphertext));
        let mut client = self.routes.client(&agency.endpoint, &agency.server_name)?;
        client
            .deliver_answer(DeliverAnswerRequest {
                answer: Some(answer),
            })
            .await
            .map_err(|s| {
                HubError::FailedPrecondition(format!(
                    "the inquirer's gateway did not take the answer ({}); try again",
                    s.message()
                ))
            })?;
        self.pending.remove(pending.permit_id.as_bytes())?;
        let record = ExchangeRecord {
            recorded_at_ms: now_ms(),
            outcome: outcome as i32,
            sealed_answer_sha256: sealed_hash,
            note: note.into(),
            ..pending
        };
        self.records.append(record).await?;
        self.store.commit().await?;
        Ok(())
    }

    pub(crate) fn list_records(&self, q: &RecordQuery) -> Result<Vec<ExchangeRecord>, HubError> {
        Ok(self.records.query(q)?)
    }
}

/// The key under which the hub's records about one person are joined for disclosure: a
/// one-way digest of the person's symbol at the provider, so a record can be shown whole
/// (and its leaf hash checked) without handing anyone a symbol.
pub(crate) fn person_ref(provider_symbol: &[u8]) -> Vec<u8> {
    let mut m = b"renkei/v1/person-ref\0".to_vec();
    m.extend_from_slice(provider_symbol);
    renkei_crypto::sha256(&m).to_vec()
}

/// The hub cannot open an answer, but it can refuse to relay one that is not for this
/// permit, so a confused provider cannot misdeliver.
fn check_answer_header(answer: &SealedAnswer, permit: &Permit) -> Result<(), String> {
    if answer.permit_id != permit.permit_id
        || answer.inquirer != permit.inquirer
        || answer.provider != permit.provider
    {
        return Err("the provider's answer does not name this permit and these agencies".into());
    }
    Ok(())
}
