//! Auto-response-block flags (自動応答不可フラグ): set by hand or in bulk, cleared, read.

use renkei_core::{ItemNumber, UnifiedAddressNumber};
use renkei_proto::v1::{BulkSummary, Flag, FlagReason, SetFlagRequest};

use crate::GatewayError;
use crate::symbols::push_error;
use crate::tenant::Tenant;

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

    fn flag_of(&self, uan: String, req: &SetFlagRequest, set_by: &str) -> Flag {
        Flag {
            unified_address_number: uan,
            item: req.item,
            reason: req.reason,
            note: req.note.clone(),
            set_by: set_by.to_owned(),
            set_at_ms: self.clock.now_ms(),
        }
    }

    /// Sets (or replaces) a flag; item 0 blocks every item of the person.
    pub(crate) async fn set_flag(
        &self,
        req: &SetFlagRequest,
        set_by: &str,
    ) -> Result<Flag, GatewayError> {
        let uan = Self::check_flag(req).map_err(|(f, m)| GatewayError::invalid(f, m))?;
        let flag = self.flag_of(uan, req, set_by);
        self.exchange.put_flag(&flag).await?;
        self.commit().await?;
        Ok(flag)
    }

    /// Bulk form, checking only: bad records are listed with their position, good ones
    /// returned to be stored with [`Tenant::store_flags`] (and each audited).
    pub(crate) fn check_flags(
        &self,
        first_index: u64,
        reqs: &[SetFlagRequest],
        set_by: &str,
        summary: &mut BulkSummary,
    ) -> Vec<Flag> {
        let mut accepted = Vec::new();
        for (i, req) in reqs.iter().enumerate() {
            let index = first_index + i as u64;
            match Self::check_flag(req) {
                Ok(uan) => {
                    accepted.push(self.flag_of(uan, req, set_by));
                    summary.accepted += 1;
                }
                Err((field, reason)) => {
                    push_error(summary, index, &req.unified_address_number, field, reason)
                }
            }
        }
        accepted
    }

    /// Stores checked flags (committed by the caller).
    pub(crate) async fn store_flags(&self, flags: &[Flag]) -> Result<(), GatewayError> {
        for f in flags {
            self.exchange.put_flag(f).await?;
        }
        Ok(())
    }

    pub(crate) async fn clear_flag(&self, uan: &str, item: u32) -> Result<bool, GatewayError> {
        let uan = UnifiedAddressNumber::parse(uan)
            .map_err(|e| GatewayError::from_core("unified_address_number", e))?;
        let existed = self.exchange.remove_flag(uan.as_str(), item).await?;
        self.commit().await?;
        Ok(existed)
    }

    pub(crate) async fn list_flags(&self, uan: &str) -> Result<Vec<Flag>, GatewayError> {
        if uan.is_empty() {
            return Ok(self.exchange.flags("").await?);
        }
        let uan = UnifiedAddressNumber::parse(uan)
            .map_err(|e| GatewayError::from_core("unified_address_number", e))?;
        Ok(self.exchange.flags(uan.as_str()).await?)
    }

    /// The flag that blocks this person's item, if any: a whole-person flag first.
    pub(crate) async fn flag_for(
        &self,
        uan: &str,
        item: u32,
    ) -> Result<Option<Flag>, GatewayError> {
        Ok(self.exchange.flag_for(uan, item).await?)
    }
}
