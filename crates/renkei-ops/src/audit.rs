//! The operator audit log: append-only, kept for a retention period, then purged.
//!
//! The only write paths are [`AuditLog::append`] (and its bulk form) and
//! [`AuditLog::purge_expired`], which removes entries strictly older than the retention
//! period and nothing else: no API can change or delete an entry before its time. The
//! entries live in the tenant's [`OperatorStore`], which numbers them.

use std::sync::Arc;
use std::time::Duration;

use renkei_core::SharedClock;
use renkei_proto::v1::{AuditEntry, QueryAuditRequest};
use renkei_store::operators::OperatorStore;

use crate::OpsError;

/// Who did something and from where, as proven by the connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Terminal {
    /// Terminal name from the certificate, or the back-office system name.
    pub name: String,
    pub cert_sha256: String,
    pub peer_address: String,
}

#[derive(Debug)]
pub struct AuditLog {
    store: Arc<dyn OperatorStore>,
    clock: SharedClock,
    retention: Duration,
}

impl AuditLog {
    pub(crate) fn new(
        store: Arc<dyn OperatorStore>,
        clock: SharedClock,
        retention: Duration,
    ) -> AuditLog {
        AuditLog {
            store,
            clock,
            retention,
        }
    }

    /// Appends an entry and waits until it is on disk: an action is not reported done
    /// before its audit entry is durable.
    pub async fn append(&self, mut entry: AuditEntry) -> Result<AuditEntry, OpsError> {
        if entry.at_ms == 0 {
            entry.at_ms = self.clock.now_ms();
        }
        tracing::info!(
            operator = %entry.operator,
            terminal = %entry.terminal,
            action = %entry.action,
            procedure = %entry.procedure,
            outcome = %entry.outcome,
            "audit"
        );
        let mut stored = self.store.append_audit(vec![entry]).await?;
        stored
            .pop()
            .ok_or_else(|| OpsError::Corrupt("the store returned no audit entry".into()))
    }

    /// Appends several entries with one durable commit (a bulk import records each person).
    pub async fn append_all(&self, mut entries: Vec<AuditEntry>) -> Result<u64, OpsError> {
        let now = self.clock.now_ms();
        for e in &mut entries {
            if e.at_ms == 0 {
                e.at_ms = now;
            }
        }
        Ok(self.store.append_audit(entries).await?.len() as u64)
    }

    /// Entries matching every given filter, oldest first.
    pub async fn query(&self, q: &QueryAuditRequest) -> Result<Vec<AuditEntry>, OpsError> {
        Ok(self.store.query_audit(q).await?)
    }

    /// Removes entries whose retention period has ended; returns how many.
    pub async fn purge_expired(&self, now_ms: i64) -> Result<u64, OpsError> {
        let retention = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let removed = self
            .store
            .purge_audit_before(now_ms.saturating_sub(retention))
            .await?;
        if removed > 0 {
            self.store.commit().await?;
        }
        Ok(removed)
    }

    /// [`AuditLog::purge_expired`] as of the log's own clock.
    pub async fn purge_expired_now(&self) -> Result<u64, OpsError> {
        self.purge_expired(self.clock.now_ms()).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use renkei_core::{AgencyCode, FakeClock};
    use renkei_store::{Store, StoreOptions};

    #[tokio::test]
    async fn purge_removes_only_entries_past_retention_and_numbering_continues() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        let db = store.tenant(&AgencyCode::parse("141003").unwrap());
        let day = 24 * 3600 * 1000;
        let now = 1_800_000_000_000;
        let clock = FakeClock::at(now);
        let open = || {
            AuditLog::new(
                Arc::new(db.operators().unwrap()),
                clock.clone(),
                Duration::from_secs(5 * 365 * 24 * 3600),
            )
        };
        let log = open();
        for (i, age_days) in [2000, 1830, 1000, 1].into_iter().enumerate() {
            log.append(AuditEntry {
                at_ms: now - age_days * day,
                action: format!("a{i}"),
                ..Default::default()
            })
            .await
            .unwrap();
        }
        assert_eq!(log.purge_expired_now().await.unwrap(), 2);
        let left = log.query(&QueryAuditRequest::default()).await.unwrap();
        assert_eq!(
            left.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            ["a2", "a3"]
        );
        // Reopened, the log continues after the last sequence; nothing is reused.
        drop(log);
        let log = open();
        let e = log.append(AuditEntry::default()).await.unwrap();
        assert_eq!(e.sequence, 5);
        assert_eq!(e.at_ms, now, "an undated entry takes the clock's time");
    }
}
