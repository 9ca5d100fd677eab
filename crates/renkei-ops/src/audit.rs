//! The operator audit log: append-only, kept for a retention period, then purged.
//!
//! Entries are keyed by a sequence number. The only write paths are [`AuditLog::append`]
//! and [`AuditLog::purge_expired`], which removes entries strictly older than the retention
//! period and nothing else: no API can change or delete an entry before its time.

use std::sync::Mutex;
use std::time::Duration;

use prost::Message as _;
use renkei_proto::v1::{AuditEntry, QueryAuditRequest};
use renkei_store::{TenantStore, Tree};

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
    tree: Tree,
    db: TenantStore,
    next: Mutex<u64>,
    retention: Duration,
}

impl AuditLog {
    pub(crate) fn open(
        tree: Tree,
        db: TenantStore,
        retention: Duration,
    ) -> Result<AuditLog, OpsError> {
        let next = match tree.last()? {
            Some((k, _)) => <[u8; 8]>::try_from(k.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| OpsError::Corrupt("audit key is not 8 bytes".into()))?
                .saturating_add(1),
            None => 1,
        };
        Ok(AuditLog {
            tree,
            db,
            next: Mutex::new(next),
            retention,
        })
    }

    /// Appends an entry and waits until it is on disk: an action is not reported done
    /// before its audit entry is durable.
    pub async fn append(&self, mut entry: AuditEntry) -> Result<AuditEntry, OpsError> {
        if entry.at_ms == 0 {
            entry.at_ms = renkei_core::now_ms();
        }
        {
            let mut next = match self.next.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            entry.sequence = *next;
            self.tree
                .insert(entry.sequence.to_be_bytes(), entry.encode_to_vec())?;
            *next += 1;
        }
        tracing::info!(
            operator = %entry.operator,
            terminal = %entry.terminal,
            action = %entry.action,
            procedure = %entry.procedure,
            outcome = %entry.outcome,
            "audit"
        );
        self.db.commit().await?;
        Ok(entry)
    }

    /// Appends several entries with one durable commit (a bulk import records each person).
    pub async fn append_all(&self, entries: Vec<AuditEntry>) -> Result<u64, OpsError> {
        let now = renkei_core::now_ms();
        let n = entries.len() as u64;
        {
            let mut next = match self.next.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let mut batch = renkei_store::Batch::default();
            for mut e in entries {
                if e.at_ms == 0 {
                    e.at_ms = now;
                }
                e.sequence = *next;
                batch.insert(&e.sequence.to_be_bytes(), e.encode_to_vec());
                *next += 1;
            }
            self.tree.apply_batch(batch)?;
        }
        self.db.commit().await?;
        Ok(n)
    }

    /// Entries matching every given filter, oldest first.
    pub fn query(&self, q: &QueryAuditRequest) -> Result<Vec<AuditEntry>, OpsError> {
        let limit = match q.limit {
            0 => 1000,
            n => n.min(10_000) as usize,
        };
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (_, v) = item?;
            let e = AuditEntry::decode(v.as_ref()).map_err(|e| OpsError::Corrupt(e.to_string()))?;
            let keep = (q.operator.is_empty() || e.operator == q.operator)
                && (q.action.is_empty() || e.action.starts_with(&q.action))
                && (q.target.is_empty() || e.target == q.target)
                && (q.since_ms == 0 || e.at_ms >= q.since_ms)
                && (q.until_ms == 0 || e.at_ms < q.until_ms);
            if keep {
                out.push(e);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Removes entries whose retention period has ended; returns how many.
    pub async fn purge_expired(&self, now_ms: i64) -> Result<u64, OpsError> {
        let cutoff = now_ms.saturating_sub(self.retention.as_millis() as i64);
        let mut removed = 0;
        for item in self.tree.iter() {
            let (k, v) = item?;
            let e = AuditEntry::decode(v.as_ref()).map_err(|e| OpsError::Corrupt(e.to_string()))?;
            if e.at_ms >= cutoff {
                break;
            }
            self.tree.remove(k)?;
            removed += 1;
        }
        if removed > 0 {
            self.db.commit().await?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use renkei_core::AgencyCode;
    use renkei_store::{Store, StoreOptions, TreeKind};

    #[tokio::test]
    async fn purge_removes_only_entries_past_retention_and_numbering_continues() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        let db = store.tenant(&AgencyCode::parse("141003").unwrap());
        let day = 24 * 3600 * 1000;
        let log = AuditLog::open(
            db.tree(TreeKind::Audit).unwrap(),
            db.clone(),
            Duration::from_secs(5 * 365 * 24 * 3600),
        )
        .unwrap();
        let now = renkei_core::now_ms();
        for (i, age_days) in [2000, 1830, 1000, 1].into_iter().enumerate() {
            log.append(AuditEntry {
                at_ms: now - age_days * day,
                action: format!("a{i}"),
                ..Default::default()
            })
            .await
            .unwrap();
        }
        assert_eq!(log.purge_expired(now).await.unwrap(), 2);
        let left = log.query(&QueryAuditRequest::default()).unwrap();
        assert_eq!(
            left.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            ["a2", "a3"]
        );
        // Reopened, the log continues after the last sequence; nothing is reused.
        drop(log);
        let log = AuditLog::open(
            db.tree(TreeKind::Audit).unwrap(),
            db.clone(),
            Duration::from_secs(5 * 365 * 24 * 3600),
        )
        .unwrap();
        let e = log.append(AuditEntry::default()).await.unwrap();
        assert_eq!(e.sequence, 5);
    }
}
