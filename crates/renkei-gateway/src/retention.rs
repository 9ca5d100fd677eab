//! 保管期限切れ情報の削除: completed inquiry results are deleted once their tenant's
//! retention period has passed, and the deletion is itself recorded.

use std::time::Duration;

use prost::Message as _;
use renkei_proto::v1::{Inquiry, Outcome};

use crate::GatewayError;
use crate::inquiry::is_final;
use crate::tenant::Tenant;

/// Seen-permit entries are kept this long past the permit's expiry: a replay after that
/// is refused as expired anyway.
const SEEN_PERMIT_GRACE: Duration = Duration::from_secs(3600);

impl Tenant {
    /// Deletes expired inquiry results and purges expired records; returns how many of
    /// each.
    pub(crate) async fn purge_expired(&self) -> Result<(u64, u64), GatewayError> {
        let now = self.clock.now_ms();
        let cutoff = now - self.retention.as_millis() as i64;
        let mut purged = 0u64;
        for item in self.trees.inquiries.iter() {
            let (k, v) = item?;
            let inq = Inquiry::decode(v.as_ref())?;
            if is_final(inq.state) && inq.completed_at_ms > 0 && inq.completed_at_ms <= cutoff {
                self.trees.inquiries.remove(k)?;
                self.trees
                    .idempotency
                    .remove(inq.idempotency_key.as_bytes())?;
                purged += 1;
            }
        }
        let grace = SEEN_PERMIT_GRACE.as_millis() as i64;
        for item in self.trees.seen_permits.iter() {
            let (k, v) = item?;
            let expiry = <[u8; 8]>::try_from(v.as_ref())
                .map(i64::from_be_bytes)
                .unwrap_or(i64::MAX);
            if expiry.saturating_add(grace) < now {
                self.trees.seen_permits.remove(k)?;
            }
        }
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
