//! 符号管理: unified address numbers and symbol acquisition (符号取得).
//!
//! A My Number passes through here on its way to the hub and nowhere else: it is parsed
//! into a `MyNumber` (which cannot be displayed or serialised), sent, and dropped.

use renkei_core::{IdKind, MyNumber, UnifiedAddressNumber, new_id};
use renkei_proto::v1::{
    AcquireSymbolRequest, Acquisition, AcquisitionState, BulkSummary, IssueSymbolsRequest,
    RecordError, symbol_result,
};

use crate::GatewayError;
use crate::tenant::Tenant;

/// Errors listed in a bulk summary; `rejected` still counts them all.
pub(crate) const MAX_LISTED_ERRORS: usize = 1000;

impl Tenant {
    pub(crate) async fn register(&self, uan: &str) -> Result<bool, GatewayError> {
        let uan = UnifiedAddressNumber::parse(uan)
            .map_err(|e| GatewayError::from_core("unified_address_number", e))?;
        let new = self.registry.register(&uan, self.clock.now_ms()).await?;
        self.registry.commit().await?;
        Ok(new)
    }

    /// Registers a batch; bad numbers are reported with their position, good ones kept.
    /// The caller commits.
    pub(crate) async fn register_batch(
        &self,
        first_index: u64,
        uans: &[String],
        summary: &mut BulkSummary,
    ) -> Result<(), GatewayError> {
        let mut good = Vec::with_capacity(uans.len());
        let mut positions = Vec::with_capacity(uans.len());
        for (i, raw) in uans.iter().enumerate() {
            match UnifiedAddressNumber::parse(raw) {
                Ok(uan) => {
                    good.push(uan);
                    positions.push(i);
                }
                Err(e) => push_error(
                    summary,
                    first_index + i as u64,
                    raw,
                    "unified_address_number",
                    e.to_string(),
                ),
            }
        }
        let report = self
            .registry
            .register_many(&good, self.clock.now_ms())
            .await?;
        summary.accepted += report.accepted;
        // The sled store refuses no well-formed number; another engine may.
        for r in report.rejected {
            let i = positions.get(r.position).copied().unwrap_or_default();
            let raw = uans.get(i).map(String::as_str).unwrap_or_default();
            push_error(
                summary,
                first_index + i as u64,
                raw,
                "unified_address_number",
                r.reason.to_string(),
            );
        }
        Ok(())
    }

    /// Checks one request before anything is issued or stored.
    async fn validate_acquire(
        &self,
        req: &AcquireSymbolRequest,
    ) -> Result<(UnifiedAddressNumber, MyNumber), GatewayError> {
        let uan = UnifiedAddressNumber::parse(&req.unified_address_number)
            .map_err(|e| GatewayError::from_core("unified_address_number", e))?;
        let my =
            MyNumber::parse(&req.my_number).map_err(|e| GatewayError::from_core("my_number", e))?;
        if !self.registry.is_registered(&uan).await? {
            return Err(GatewayError::NotRegistered {
                uan: uan.to_string(),
            });
        }
        Ok((uan, my))
    }

    /// Single form: invalid input is an error and nothing is stored.
    pub(crate) async fn acquire(
        &self,
        req: &AcquireSymbolRequest,
    ) -> Result<Acquisition, GatewayError> {
        let valid = self.validate_acquire(req).await?;
        let mut out = self.acquire_valid(vec![(0, valid)]).await?;
        out.pop()
            .ok_or_else(|| GatewayError::Corrupt("acquisition result missing".into()))
    }

    /// Bulk form: every request gets an Acquisition in order; invalid ones are FAILED
    /// without a processing serial, and the rest go to the hub in one call.
    pub(crate) async fn acquire_many(
        &self,
        first_index: u64,
        reqs: &[AcquireSymbolRequest],
    ) -> Result<Vec<Acquisition>, GatewayError> {
        let mut out: Vec<Option<Acquisition>> = vec![None; reqs.len()];
        let mut valid = Vec::with_capacity(reqs.len());
        for (i, req) in reqs.iter().enumerate() {
            let index = first_index + i as u64;
            match self.validate_acquire(req).await {
                Ok(v) => valid.push((i, v)),
                Err(
                    e @ (GatewayError::InvalidArgument { .. } | GatewayError::NotRegistered { .. }),
                ) => {
                    out[i] = Some(Acquisition {
                        unified_address_number: req.unified_address_number.clone(),
                        state: AcquisitionState::Failed as i32,
                        error: e.to_string(),
                        index,
                        updated_at_ms: self.clock.now_ms(),
                        ..Default::default()
                    });
                }
                Err(e) => return Err(e),
            }
        }
        for mut a in self.acquire_valid(valid).await? {
            let slot = a.index as usize;
            a.index += first_index;
            if let Some(s) = out.get_mut(slot) {
                *s = Some(a);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Issues serials, asks the hub once for the whole batch, stores symbols, commits once.
    /// Each result's `index` is the position within the slice the caller validated.
    async fn acquire_valid(
        &self,
        valid: Vec<(usize, (UnifiedAddressNumber, MyNumber))>,
    ) -> Result<Vec<Acquisition>, GatewayError> {
        if valid.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now_ms();
        let mut acquisitions = Vec::with_capacity(valid.len());
        let mut my_numbers = Vec::with_capacity(valid.len());
        let mut persons = Vec::with_capacity(valid.len());
        for (i, (uan, my)) in &valid {
            let a = Acquisition {
                processing_serial: new_id(
                    IdKind::ProcessingSerial,
                    now,
                    renkei_crypto::random_bytes::<8>()?,
                ),
                unified_address_number: uan.to_string(),
                state: AcquisitionState::Requested as i32,
                index: *i as u64,
                updated_at_ms: now,
                ..Default::default()
            };
            acquisitions.push(a);
            persons.push(uan.clone());
            // The digits exist only in this request body, which is dropped after the call.
            my_numbers.push(String::from_utf8_lossy(&my.expose_digits()).into_owned());
        }
        drop(valid);
        self.registry.save_acquisitions(&acquisitions).await?;
        let response = self
            .hub
            .clone()
            .issue_symbols(IssueSymbolsRequest { my_numbers })
            .await;
        let now = self.clock.now_ms();
        match response {
            Ok(resp) => {
                let results = resp.into_inner().results;
                let mut links = Vec::with_capacity(acquisitions.len());
                for ((a, uan), r) in acquisitions
                    .iter_mut()
                    .zip(persons)
                    .zip(results.into_iter().map(Some).chain(std::iter::repeat(None)))
                {
                    a.updated_at_ms = now;
                    match r.and_then(|r| r.result) {
                        Some(symbol_result::Result::Symbol(symbol)) => {
                            links.push((uan, symbol));
                            a.state = AcquisitionState::Acquired as i32;
                        }
                        Some(symbol_result::Result::Error(e)) => {
                            a.state = AcquisitionState::Failed as i32;
                            a.error = format!("the hub refused: {e}");
                        }
                        None => {
                            a.state = AcquisitionState::Failed as i32;
                            a.error = "the hub returned no result for this request".into();
                        }
                    }
                }
                self.registry.link(&links).await?;
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), "symbol acquisition: hub call failed");
                for a in &mut acquisitions {
                    a.state = AcquisitionState::Failed as i32;
                    a.error = format!("the hub could not be reached: {}", status.message());
                    a.updated_at_ms = now;
                }
            }
        }
        self.registry.save_acquisitions(&acquisitions).await?;
        self.registry.commit().await?;
        Ok(acquisitions)
    }

    pub(crate) async fn symbol_of(
        &self,
        uan: &UnifiedAddressNumber,
    ) -> Result<Option<Vec<u8>>, GatewayError> {
        Ok(self.registry.symbol_of(uan).await?)
    }

    pub(crate) async fn person_of_symbol(
        &self,
        symbol: &[u8],
    ) -> Result<Option<String>, GatewayError> {
        Ok(self
            .registry
            .person_of(symbol)
            .await?
            .map(|u| u.as_str().to_owned()))
    }

    pub(crate) async fn get_acquisition(&self, serial: &str) -> Result<Acquisition, GatewayError> {
        self.registry
            .acquisition(serial)
            .await?
            .ok_or_else(|| GatewayError::AcquisitionNotFound {
                processing_serial: serial.chars().take(64).collect(),
            })
    }
}

pub(crate) fn push_error(
    summary: &mut BulkSummary,
    index: u64,
    key: &str,
    field: &str,
    reason: String,
) {
    summary.rejected += 1;
    if summary.errors.len() < MAX_LISTED_ERRORS {
        let key: String = key.chars().take(40).collect();
        summary.errors.push(RecordError {
            index,
            key,
            field: field.into(),
            reason,
        });
    }
}
