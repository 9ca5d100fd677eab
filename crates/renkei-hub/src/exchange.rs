//! The hub's shell: it reads the clock, the symbol secret, master data and storage, hands
//! them to the pure rules of `renkei_exchange::hub`, and carries out what they decide
//! (sign and send a permit, keep a pending exchange, append a record).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use renkei_core::{AgencyCode, IdKind, MyNumber, SharedClock, new_id};
use renkei_crypto::{SigningKey, SymbolKey};
use renkei_exchange::hub::{
    self as rules, Authorization, Authorize, AwaitingAnswer, LateAnswer, ProviderReply, Translation,
};
use renkei_exchange::record::HUB_KEEPER;
use renkei_ledger::{HeadSigner, Ledger, LedgerOptions};
use renkei_proto::v1::{
    DeliverAnswerRequest, DeliverInquiryRequest, ExchangeRecord, ExchangeRequest, ExchangeResponse,
    Outcome, SealedAnswer, SymbolResult, deliver_inquiry_response, exchange_response,
    symbol_result,
};
use renkei_records::{RecordBook, RecordQuery};
use renkei_store::hub::{PendingAnswer, SharedHubStore, SledHubStore};
use renkei_store::{Store, StoreOptions};
use renkei_transport::{ClientOptions, Credentials};

use crate::master::{Published, publish};
use crate::routes::Routes;
use crate::{HubConfig, HubError};

#[derive(Debug)]
pub(crate) struct HubState {
    pub(crate) config: HubConfig,
    pub(crate) credentials: Credentials,
    pub(crate) signing: SigningKey,
    pub(crate) symbols: SymbolKey,
    master: RwLock<Arc<Published>>,
    pub(crate) records: RecordBook,
    /// Pending exchanges and the master version: all the hub keeps besides its log.
    pub(crate) store: SharedHubStore,
    pub(crate) clock: SharedClock,
    routes: Routes,
}

/// Runs a storage call from the hub's few synchronous paths (opening, master renewal).
/// They run at startup or on a blocking thread, never on a runtime worker in a hot path.
fn blocking<T>(f: impl std::future::Future<Output = T>) -> T {
    futures::executor::block_on(f)
}

impl HubState {
    pub(crate) fn open(config: HubConfig, clock: SharedClock) -> Result<HubState, HubError> {
        let credentials = Credentials::load(&config.tls.ca, &config.tls.cert, &config.tls.key)?;
        let signing = renkei_crypto::read_signing_key(&config.keys.signing)?;
        let symbols = renkei_crypto::read_symbol_key(&config.keys.symbols)?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            HubError::Config(format!("cannot create {}: {e}", config.data_dir.display()))
        })?;
        let db = Store::open(&config.data_dir.join("db"), &StoreOptions::default())?;
        let ledger = Ledger::open_signed(
            &config.data_dir.join("records"),
            LedgerOptions::default(),
            HeadSigner {
                log_id: HUB_KEEPER.into(),
                key: renkei_crypto::read_signing_key(&config.keys.signing)?,
            },
        )?;
        let records = RecordBook::open(ledger, db.global("record-index")?)?;
        let store = SledHubStore::shared(&db)?;
        let previous = blocking(store.master_version())?;
        let published = publish(&config.master, &signing, previous, clock.now_ms())?;
        blocking(store.set_master_version(published.data.version()))?;
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
            clock,
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

    /// Blocking: call from a blocking thread (or outside a runtime).
    pub(crate) fn reload_master(&self) -> Result<u64, HubError> {
        let previous = self.master_version();
        let published = publish(
            &self.config.master,
            &self.signing,
            previous,
            self.clock.now_ms(),
        )?;
        let version = published.data.version();
        blocking(self.store.set_master_version(version))?;
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
        let max = self.config.limits.max_symbol_batch;
        if my_numbers.len() > max {
            return Err(HubError::TooManyNumbers {
                count: my_numbers.len(),
                max,
            });
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

    /// 情報照会 through the hub: check, translate, permit, route, record.
    #[tracing::instrument(skip_all, fields(inquirer = %caller, provider, item, permit_id))]
    pub(crate) async fn exchange(
        &self,
        caller: &AgencyCode,
        req: ExchangeRequest,
    ) -> Result<ExchangeResponse, HubError> {
        let envelope = rules::parse_envelope(caller, &req.envelope)?;
        let span = tracing::Span::current();
        span.record("provider", envelope.exchange.provider.as_str());
        span.record("item", envelope.exchange.item);
        let published = self.published();
        let now = self.clock.now_ms();
        let translation = match self.symbols.open_symbol(caller, &req.inquirer_symbol) {
            Ok(person) => Translation::Found {
                provider_symbol: self.symbols.symbol(&envelope.provider, &person),
            },
            Err(_) => Translation::NotIssuedToCaller,
        };
        let decision = rules::authorize(Authorize {
            caller,
            envelope: &envelope,
            translation,
            master: &published.data,
            now_ms: now,
            permit_id: new_id(IdKind::Permit, now, renkei_crypto::random_bytes::<8>()?),
            permit_ttl_ms: i64::try_from(self.config.limits.permit_ttl_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
        });
        let permitted = match decision {
            Authorization::Refused { refusal, record } => {
                self.records.append(record).await?;
                tracing::info!(code = refusal.code, "exchange refused by the hub");
                return Ok(ExchangeResponse {
                    permit_id: String::new(),
                    result: Some(exchange_response::Result::Refused(refusal)),
                });
            }
            Authorization::Permit(p) => p,
        };
        span.record("permit_id", permitted.permit.permit_id.as_str());
        let signed = renkei_crypto::sign_permit(&self.signing, &permitted.permit);

        let mut client = self
            .routes
            .client(&permitted.route.endpoint, &permitted.route.server_name)?;
        let delivered = client
            .deliver_inquiry(DeliverInquiryRequest {
                to: envelope.exchange.provider.clone(),
                envelope: req.envelope,
                permit: Some(signed),
            })
            .await;
        let reply = match delivered.map(|r| r.into_inner().result) {
            Ok(Some(deliver_inquiry_response::Result::Answer(a))) => ProviderReply::Answer(a),
            Ok(Some(deliver_inquiry_response::Result::Pending(p))) => ProviderReply::Pending(p),
            Ok(Some(deliver_inquiry_response::Result::Refused(r))) => ProviderReply::Refused(r),
            Ok(None) => ProviderReply::Empty,
            Err(status) => {
                tracing::warn!(code = ?status.code(), "provider gateway unreachable");
                ProviderReply::Unreachable {
                    message: status.message().to_owned(),
                }
            }
        };
        let relay = rules::relay(&permitted, reply);
        if relay.await_answer {
            // The late answer may come days later: remember where to send it, durably,
            // before the inquirer hears `Pending`.
            self.store
                .put_pending(PendingAnswer {
                    permit_id: permitted.permit.permit_id.clone(),
                    keep_until_ms: rules::keep_pending_until(
                        relay.record.recorded_at_ms,
                        self.config.limits.record_retention_days,
                    ),
                    record: relay.record.clone(),
                })
                .await?;
        }
        self.records.append(relay.record).await?;
        Ok(ExchangeResponse {
            permit_id: permitted.permit.permit_id,
            result: Some(relay.result),
        })
    }

    /// A provider's answer after an operator's decision: forward it to the inquirer.
    #[tracing::instrument(skip_all, fields(provider = %caller, permit_id))]
    pub(crate) async fn deliver_late_answer(
        &self,
        caller: &AgencyCode,
        answer: SealedAnswer,
        claimed: Outcome,
    ) -> Result<(), HubError> {
        tracing::Span::current().record("permit_id", answer.permit_id.as_str());
        let awaiting = self
            .store
            .pending(&answer.permit_id)
            .await?
            .map(|p| AwaitingAnswer {
                record: p.record,
                keep_until_ms: p.keep_until_ms,
            });
        let published = self.published();
        let late = rules::late_answer(LateAnswer {
            caller,
            answer: &answer,
            claimed,
            awaiting,
            master: &published.data,
            now_ms: self.clock.now_ms(),
        })?;
        let permit_id = answer.permit_id.clone();
        let mut client = self
            .routes
            .client(&late.route.endpoint, &late.route.server_name)?;
        // Sent before the pending exchange is let go: if the inquirer does not take it, the
        // provider sends it again and finds the exchange still waiting.
        client
            .deliver_answer(DeliverAnswerRequest {
                answer: Some(answer),
            })
            .await
            .map_err(|s| HubError::InquirerUnreachable {
                message: s.message().to_owned(),
            })?;
        // Of two deliveries of one answer, only the one that takes the exchange records it.
        if self.store.take_pending(&permit_id).await?.is_some() {
            self.records.append(late.record).await?;
        }
        Ok(())
    }

    /// Forgets pending exchanges kept past record retention (their provider never answered).
    pub(crate) async fn expire_pending(&self) -> Result<u64, HubError> {
        Ok(self.store.expire_pending(self.clock.now_ms()).await?)
    }

    pub(crate) fn list_records(&self, q: &RecordQuery) -> Result<Vec<ExchangeRecord>, HubError> {
        Ok(self.records.query(q)?)
    }
}

#[cfg(test)]
#[path = "exchange_tests.rs"]
mod tests;
