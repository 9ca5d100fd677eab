//! Retention of the records themselves: 情報提供等記録 are kept 7 years by default
//! (configurable per tenant), then purged a whole segment at a time. The purge is itself
//! recorded («削除記録を残す»), and the log stays verifiable (renkei-ledger `purge`).

use renkei_proto::v1::{Direction, ExchangeRecord, Outcome};
use renkei_store::Batch;

use crate::stats::{COUNTED, COUNTER_TAG};
use crate::{RecordBook, RecordError, UPTO, check, decode};

/// 7 years and the leap days they may hold.
pub const DEFAULT_RETENTION_DAYS: u32 = 7 * 365 + 2;

impl RecordBook {
    /// Purges the records recorded before `cutoff_ms`, as far as whole segments allow
    /// (records are appended in time order, so a segment is expired when its last record
    /// is). Appends a system record of the purge, signed in by `keeper`. Returns how many
    /// records were purged. Blocking.
    pub fn purge_recorded_before(
        &self,
        cutoff_ms: i64,
        keeper: &str,
        now_ms: i64,
        retention_days: u32,
    ) -> Result<u64, RecordError> {
        let ledger = self.ledger();
        let base = ledger.first_kept();
        let mut upto = None;
        for start in ledger.segment_starts()? {
            if start <= base {
                continue;
            }
            match ledger.get(start - 1)? {
                Some(bytes) if decode(start - 1, &bytes)?.recorded_at_ms < cutoff_ms => {
                    upto = Some(start);
                }
                _ => break,
            }
        }
        let Some(upto) = upto else {
            return Ok(0);
        };
        let kept = ledger.purge_before(upto)?;
        // The index is derived data: drop what points at purged records.
        let mut batch = Batch::default();
        for item in self.index.iter() {
            let (k, _) = item.map_err(renkei_store::StoreError::from)?;
            // Marks and statistics counters are not per record: they stay.
            if k.as_ref() == UPTO || k.as_ref() == COUNTED || k.first() == Some(&COUNTER_TAG) {
                continue;
            }
            let Some(seq) = k
                .get(k.len().saturating_sub(8)..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
            else {
                continue;
            };
            if seq < kept {
                batch.remove(k);
            }
        }
        self.index
            .apply_batch(batch)
            .map_err(renkei_store::StoreError::from)?;
        let purged = kept - base;
        let record = ExchangeRecord {
            recorded_at_ms: now_ms,
            keeper: keeper.into(),
            direction: Direction::System as i32,
            outcome: Outcome::Purged as i32,
            note: format!(
                "purged records {base}..{kept} ({purged} records, all recorded before {}; retention {retention_days} days)",
                renkei_core::format_ms(cutoff_ms)
            ),
            ..Default::default()
        };
        check::check(&record)?;
        let seq = ledger.append_blocking(prost::Message::encode_to_vec(&record))?;
        self.index_one(&record, seq)?;
        tracing::info!(
            keeper,
            purged,
            first_kept = kept,
            "records purged after retention"
        );
        Ok(purged)
    }
}
