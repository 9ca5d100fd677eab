//! 符号管理: unified address numbers and symbol acquisition (符号取得).
//!
//! A My Number passes through here on its way to the hub and nowhere else: it is parsed
//! into a `MyNumber` (which cannot be displayed or serialised), sent, and dropped.

use prost::Message as _;
use renkei_core::{IdKind, MyNumber, UnifiedAddressNumber, new_id, now_ms};
use renkei_proto::v1::{
    AcquireSymbolRequest, Acquisition, AcquisitionState, BulkSummary, IssueSymbolsRequest,
    RecordError, symbol_result,
};
use renkei_store::Batch;

use crate::GatewayError;
use crate::tenant::Tenant;

/// Errors listed in a bulk summary; `rejected` still counts them all.
pub(crate) const MAX_LISTED_ERRORS: usize = 1000;

impl Tenant {
    pub(crate) fn is_registered(&self, uan: &UnifiedAddressNumber) -> Result<bool, GatewayError> {
        Ok(self.trees.uans.contains_key(uan.as_str())?)
    }

    fn register_one(&self, uan: &UnifiedAddressNumber) -> Result<bool, GatewayError> {
        let now = now_ms().to_be_bytes();
        let prev = self
            .trees
            .uans
            .compare_and_swap(uan.as_str(), None::<&[u8]>, Some(&now[..]))?;
        Ok(prev.is_ok())
    }

    pub(crate) async fn register(&self, uan: &str) -> Result<bool, GatewayError> {
        let uan = UnifiedAddressNumber::parse(uan)
            .map_err(|e| GatewayError::from_core("unified_address_number", e))?;
        let new = self.register_one(&uan)?;
        self.commit().await?;
        Ok(new)
    }

    /// Registers a batch; bad numbers are reported with their position, good ones kept.
    pub(crate) fn register_batch(
        &self,
        first_index: u64,
        uans: &[String],
        summary: &mut BulkSummary,
    ) -> Result<(), GatewayError> {
        let now = now_ms().to_be_bytes();
        let mut batch = Batch::default();
        for (i, raw) in uans.iter().enumerate() {
            match UnifiedAddressNumber::parse(raw) {
                Ok(uan) => {
                    batch.insert(uan.as_str(), &now[..]);
                    summary.accepted += 1;
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
        self.trees.uans.apply_batch(batch)?;
        Ok(())
    }

    fn save_acquisition(&self, a: &Acquisition) -> Result<(), GatewayError> {
        // A stream position means nothing once stored.
        let stored = Acquisition {
            index: 0,
            ..a.clone()
        };
        self.trees
            .acquisitions
            .insert(a.processing_serial.as_str(), stored.encode_to_vec())?;
        Ok(())
    }

    /// Checks one request before anything is issued or stored.
    fn validate_acquire(
        &self,
        req: &AcquireSymbolRequest,
    ) -> Result<(UnifiedAddressNumber, MyNumber), GatewayError> {
        let uan = UnifiedAddressNumber::parse(&req.unified_address_number)
            .map_err(|e| GatewayError::from_core("unified_address_number", e))?;
        let my =
            MyNumber::parse(&req.my_number).map_err(|e| GatewayError::from_core("my_number", e))?;
        if !self.is_registered(&uan)? {
            return Err(GatewayError::FailedPrecondition(format!(
                "unified address number {uan} is not registered; register it before acquiring its symbol"
            )));
        }
        Ok((uan, my))
    }

    /// Single form: invalid input is an error and nothing is stored.
    pub(crate) async fn acquire(
        &self,
        req: &AcquireSymbolRequest,
    ) -> Result<Acquisition, GatewayError> {
        let valid = self.validate_acquire(req)?;
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
            match self.validate_acquire(req) {
                Ok(v) => valid.push((i, v)),
                Err(
                    e
                    @ (GatewayError::InvalidArgument { .. } | GatewayError::FailedPrecondition(_)),
                ) => {
                    out[i] = Some(Acquisition {
                        unified_address_number: req.unified_address_number.clone(),
                        state: AcquisitionState::Failed as i32,
                        error: e.to_string(),
                        index,
                        updated_at_ms: now_ms(),
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
        let now = now_ms();
        let mut acquisitions = Vec::with_capacity(valid.len());
        let mut my_numbers = Vec::with_capacity(valid.len());
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
            self.save_acquisition(&a)?;
            acquisitions.push(a);
            // The digits exist only in this request body, which is dropped after the call.
            my_numbers.push(String::from_utf8_lossy(&my.expose_digits()).into_owned());
        }
        drop(valid);
        let response = self
            .hub
            .clone()
            .issue_symbols(IssueSymbolsRequest { my_numbers })
            .await;
        let now = now_ms();
        match response {
            Ok(resp) => {
                let results = resp.into_inner().results;
                for (a, r) in acquisitions
                    .iter_mut()
                    .zip(results.into_iter().map(Some).chain(std::iter::repeat(None)))
                {
                    a.updated_at_ms = now;
                    match r.and_then(|r| r.result) {
                        Some(symbol_result::Result::Symbol(symbol)) => {
                            self.store_symbol(&a.unified_address_number, &symbol)?;
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
                    self.save_acquisition(a)?;
                }
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), "symbol acquisition: hub call failed");
                for a in &mut acquisitions {
                    a.state = AcquisitionState::Failed as i32;
                    a.error = format!("the hub could not be reached: {}", status.message());
                    a.updated_at_ms = now;
                    self.save_acquisition(a)?;
                }
            }
        }
        self.commit().await?;
        Ok(acquisitions)
    }

    /// Maps uan ↔ symbol, dropping the index entry of a symbol the person had before.
    fn store_symbol(&self, uan: &str, symbol: &[u8]) -> Result<(), GatewayError> {
        if let Some(old) = self.trees.symbols.insert(uan, symbol)?
            && old.as_ref() != symbol
        {
            self.trees.symbol_index.remove(old)?;
        }
        self.trees.symbol_index.insert(symbol, uan)?;
        Ok(())
    }

    pub(crate) fn symbol_of(
        &self,
        uan: &UnifiedAddressNumber,
    ) -> Result<Option<Vec<u8>>, GatewayError> {
        Ok(self.trees.symbols.get(uan.as_str())?.map(|v| v.to_vec()))
    }

    pub(crate) fn person_of_symbol(&self, symbol: &[u8]) -> Result<Option<String>, GatewayError> {
        Ok(self
            .trees
            .symbol_index
            .get(symbol)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub(crate) fn get_acquisition(&self, serial: &str) -> Result<Acquisition, GatewayError> {
        let bytes = self.trees.acquisitions.get(serial)?.ok_or_else(|| {
            GatewayError::NotFound(format!(
                "no symbol acquisition with processing serial {serial:?}"
            ))
        })?;
        Acquisition::decode(bytes.as_ref()).map_err(|e| GatewayError::Corrupt(e.to_string()))
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
