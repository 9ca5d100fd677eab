//! 保管期限切れ情報の削除: completed inquiry results are deleted once their tenant's
//! retention period has passed, and the deletion is itself recorded.

use renkei_exchange::expiry;
use renkei_proto::v1::Outcome;

use crate::GatewayError;
use crate::inquiry::is_final;
use crate::tenant::Tenant;

impl Tenant {
    /// Deletes expired inquiry results and purges expired records; returns how many of
    /// each.
    pub(crate) async fn purge_expired(&self) -> Result<(u64, u64), GatewayError> {
        let now = self.clock.now_ms();
        let cutoff = expiry::retention_cutoff(now, self.retention.as_millis() as i64);
        let mut purged = 0u64;
        const BATCH: usize = 512;
        let mut after = String::new();
        loop {
            let batch = self.exchange.inquiries_after(&after, BATCH).await?;
            let last = batch.len() < BATCH;
            for inq in batch {
                after.clone_from(&inq.inquiry_id);
                if is_final(inq.state) && expiry::result_expired(inq.completed_at_ms, cutoff) {
                    self.exchange.delete_inquiry(&inq).await?;
                    purged += 1;
                }
            }
            if last {
                break;
            }
        }
        // A replay after the grace is refused as expired anyway.
        self.exchange
            .forget_permits(now.saturating_sub(expiry::SEEN_PERMIT_GRACE_MS))
            .await?;
        if purged > 0 {
            let note = format!(
                "deleted {purged} inquiry results completed before {} (retention {} s)",
                renkei_core::format_ms(cutoff),
                self.retention.as_secs()
            );
            let record = renkei_exchange::record::system_record(
                self.code.as_str(),
                Outcome::Purged,
                note,
                now,
            );
            let (stored, recorded) = tokio::join!(self.commit(), self.records.append(record));
            stored?;
            recorded?;
            tracing::info!(tenant = %self.code, purged, "expired inquiry results deleted");
        }
        let records = self.purge_records(now).await?;
        Ok((purged, records))
    }

    /// Purges 情報提供等記録 older than the tenant's record retention (the purge is itself
    /// recorded by the record book).
    pub(crate) async fn purge_records(&self, now: i64) -> Result<u64, GatewayError> {
        let days = self.record_retention_days;
        let cutoff = now.saturating_sub(i64::from(days) * 86_400_000);
        let records = self.records.clone();
        let keeper = self.code.to_string();
        tokio::task::spawn_blocking(move || {
            records.purge_recorded_before(cutoff, &keeper, now, days)
        })
        .await
        .map_err(|e| GatewayError::task("record purge", e))?
        .map_err(GatewayError::from)
    }
}
