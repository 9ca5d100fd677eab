//! What the gateway keeps about its operators (職員認証・権限管理): accounts with their
//! password hashes, sessions found by the SHA-256 of their token, the append-only audit
//! log, and the bounded history of batch jobs.
//!
//! The trait says what `renkei-ops` and the gateway's job book need and nothing of sled,
//! so a second engine (PostgreSQL, issue 14) implements it and passes
//! [`crate::conformance::operators`]. A handle is one tenant's: an operator of one
//! municipality cannot even be looked up from another's. Tokens are never given to the
//! store, only their hashes: a copy of the database does not let anyone resume a session.
//!
//! Durability: a write is visible when its method returns and on disk once
//! [`OperatorStore::commit`] returns, except [`OperatorStore::append_audit`], which commits
//! itself: an action is not reported done before its audit entry is durable.

use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use prost::Message as _;
use renkei_proto::v1::{AuditEntry, Job, OperatorAccount, QueryAuditRequest};
use sled::{Batch, Tree};

use crate::{StoreError, TenantStore, TreeKind};

/// An account as stored: what the account says, plus its credentials.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredOperator {
    #[prost(message, optional, tag = "1")]
    pub account: Option<OperatorAccount>,
    #[prost(string, tag = "2")]
    pub password_hash: String,
    /// Consecutive failed logins.
    #[prost(uint32, tag = "3")]
    pub failures: u32,
    /// When the password was last set (0 for accounts older than this field), so a
    /// one-time password can expire.
    #[prost(int64, tag = "4")]
    pub password_set_ms: i64,
}

impl StoredOperator {
    pub fn user(&self) -> &str {
        self.account.as_ref().map(|a| a.user.as_str()).unwrap_or("")
    }
}

/// A live (or not yet noticed as ended) session.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredSession {
    #[prost(string, tag = "1")]
    pub user: String,
    #[prost(string, tag = "2")]
    pub terminal: String,
    #[prost(int64, tag = "3")]
    pub created_ms: i64,
    #[prost(int64, tag = "4")]
    pub last_seen_ms: i64,
}

/// SHA-256 of a session token.
pub type TokenHash = [u8; 32];

/// Operator accounts, sessions, audit log and job history of one tenant.
#[async_trait]
pub trait OperatorStore: Send + Sync + fmt::Debug {
    // Accounts.
    async fn operator(&self, user: &str) -> Result<Option<StoredOperator>, StoreError>;
    /// Stores or replaces the account named by `op.account.user`.
    async fn put_operator(&self, op: &StoredOperator) -> Result<(), StoreError>;
    /// Every account, in user-id order.
    async fn operators(&self) -> Result<Vec<StoredOperator>, StoreError>;

    // Sessions: at most one per user.
    async fn session(&self, hash: &TokenHash) -> Result<Option<StoredSession>, StoreError>;
    /// The session of `user`, if any, with its hash.
    async fn session_of(
        &self,
        user: &str,
    ) -> Result<Option<(TokenHash, StoredSession)>, StoreError>;
    /// Opens (or, for a known hash, updates) a session; the user's previous session, if
    /// any other, ends.
    async fn put_session(&self, hash: &TokenHash, s: &StoredSession) -> Result<(), StoreError>;
    /// Ends the user's session; `true` if there was one.
    async fn end_session_of(&self, user: &str) -> Result<bool, StoreError>;

    // The audit log: append-only; entries leave only by age.
    /// Appends entries in order, numbering them after the last one ever appended (numbers
    /// are never reused, even after a purge), and commits. Returns them numbered.
    async fn append_audit(&self, entries: Vec<AuditEntry>) -> Result<Vec<AuditEntry>, StoreError>;
    /// Entries matching every given filter, oldest first, at most `limit` (0 = 1000,
    /// capped at 10,000).
    /// The matching entries, oldest first; with a limit, the latest `limit` of them.
    async fn query_audit(&self, q: &QueryAuditRequest) -> Result<Vec<AuditEntry>, StoreError>;
    /// Removes entries older than `cutoff_ms` and nothing else; returns how many.
    async fn purge_audit_before(&self, cutoff_ms: i64) -> Result<u64, StoreError>;

    // Batch jobs, by number.
    /// The highest job number stored, 0 if none.
    async fn last_job_number(&self) -> Result<u64, StoreError>;
    async fn put_job(&self, number: u64, job: &Job) -> Result<(), StoreError>;
    async fn job(&self, number: u64) -> Result<Option<Job>, StoreError>;
    /// Jobs newest first, at most `limit`.
    async fn jobs(&self, limit: usize) -> Result<Vec<(u64, Job)>, StoreError>;
    async fn remove_job(&self, number: u64) -> Result<(), StoreError>;

    /// Waits until every write made before the call is on disk.
    async fn commit(&self) -> Result<(), StoreError>;
}

const SESSION_PREFIX: &[u8] = b"s/";
const USER_PREFIX: &[u8] = b"u/";
/// Key of the audit counter in the tenant's meta tree.
const AUDIT_NEXT: &[u8] = b"ops/audit-next";

fn session_key(hash: &[u8]) -> Vec<u8> {
    [SESSION_PREFIX, hash].concat()
}

fn user_key(user: &str) -> Vec<u8> {
    [USER_PREFIX, user.as_bytes()].concat()
}

fn decode<M: prost::Message + Default>(what: &str, v: &[u8]) -> Result<M, StoreError> {
    M::decode(v).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn number_of(key: &[u8], what: &str) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt(format!("{what} key is not 8 bytes")))
}

/// The sled implementation, over the tenant's `ops-*` and `jobs` trees (docs/storage.md).
#[derive(Debug)]
pub struct SledOperators {
    db: TenantStore,
    accounts: Tree,
    sessions: Tree,
    audit: Tree,
    jobs: Tree,
    /// Holds the next audit sequence, so numbers stay unique even once every entry
    /// was purged.
    meta: Tree,
    /// Next audit sequence; the lock also orders concurrent appends.
    next_audit: Mutex<u64>,
}

impl TenantStore {
    /// This tenant's operator storage on sled.
    pub fn operators(&self) -> Result<SledOperators, StoreError> {
        SledOperators::open(self)
    }
}

impl SledOperators {
    pub fn open(db: &TenantStore) -> Result<SledOperators, StoreError> {
        let audit = db.tree(TreeKind::Audit)?;
        let meta = db.tree(TreeKind::Meta)?;
        let after_last = match audit.last()? {
            Some((k, _)) => number_of(&k, "audit")?.saturating_add(1),
            None => 1,
        };
        let saved = match meta.get(AUDIT_NEXT)? {
            Some(v) => number_of(&v, "audit counter")?,
            None => 1,
        };
        let next = after_last.max(saved);
        Ok(SledOperators {
            db: db.clone(),
            accounts: db.tree(TreeKind::Operators)?,
            sessions: db.tree(TreeKind::Sessions)?,
            audit,
            jobs: db.tree(TreeKind::Jobs)?,
            meta,
            next_audit: Mutex::new(next),
        })
    }

    fn end_of(&self, user: &str) -> Result<bool, StoreError> {
        match self.sessions.remove(user_key(user))? {
            Some(h) => {
                self.sessions.remove(session_key(&h))?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[async_trait]
impl OperatorStore for SledOperators {
    async fn operator(&self, user: &str) -> Result<Option<StoredOperator>, StoreError> {
        self.accounts
            .get(user.as_bytes())?
            .map(|v| decode("operator", &v))
            .transpose()
    }

    async fn put_operator(&self, op: &StoredOperator) -> Result<(), StoreError> {
        self.accounts
            .insert(op.user().as_bytes(), op.encode_to_vec())?;
        Ok(())
    }

    async fn operators(&self) -> Result<Vec<StoredOperator>, StoreError> {
        self.accounts
            .iter()
            .map(|item| decode("operator", &item?.1))
            .collect()
    }

    async fn session(&self, hash: &TokenHash) -> Result<Option<StoredSession>, StoreError> {
        self.sessions
            .get(session_key(hash))?
            .map(|v| decode("session", &v))
            .transpose()
    }

    async fn session_of(
        &self,
        user: &str,
    ) -> Result<Option<(TokenHash, StoredSession)>, StoreError> {
        let Some(h) = self.sessions.get(user_key(user))? else {
            return Ok(None);
        };
        let hash = TokenHash::try_from(h.as_ref())
            .map_err(|_| StoreError::Corrupt("session hash is not 32 bytes".into()))?;
        Ok(self.session(&hash).await?.map(|s| (hash, s)))
    }

    async fn put_session(&self, hash: &TokenHash, s: &StoredSession) -> Result<(), StoreError> {
        if let Some(old) = self.sessions.get(user_key(&s.user))?
            && old.as_ref() != hash.as_slice()
        {
            self.sessions.remove(session_key(&old))?;
        }
        self.sessions.insert(session_key(hash), s.encode_to_vec())?;
        self.sessions.insert(user_key(&s.user), hash.as_slice())?;
        Ok(())
    }

    async fn end_session_of(&self, user: &str) -> Result<bool, StoreError> {
        self.end_of(user)
    }

    async fn append_audit(
        &self,
        mut entries: Vec<AuditEntry>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        {
            let mut next = match self.next_audit.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let mut batch = Batch::default();
            let mut n = *next;
            for e in &mut entries {
                e.sequence = n;
                batch.insert(&n.to_be_bytes(), e.encode_to_vec());
                n += 1;
            }
            self.audit.apply_batch(batch)?;
            self.meta.insert(AUDIT_NEXT, &n.to_be_bytes())?;
            *next = n;
        }
        self.db.commit().await?;
        Ok(entries)
    }

    async fn query_audit(&self, q: &QueryAuditRequest) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = match q.limit {
            0 => 1000,
            n => n.min(10_000) as usize,
        };
        // Newest first, so a limit keeps the latest entries (a console page or `ops audit`
        // wants what just happened), then turned back into the log's order.
        let mut out = Vec::new();
        for item in self.audit.iter().rev() {
            let e: AuditEntry = decode("audit entry", &item?.1)?;
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
        out.reverse();
        Ok(out)
    }

    async fn purge_audit_before(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        // Entries are appended in time order, so the old ones are a prefix.
        let mut removed = 0;
        for item in self.audit.iter() {
            let (k, v) = item?;
            let e: AuditEntry = decode("audit entry", &v)?;
            if e.at_ms >= cutoff_ms {
                break;
            }
            self.audit.remove(k)?;
            removed += 1;
        }
        Ok(removed)
    }

    async fn last_job_number(&self) -> Result<u64, StoreError> {
        match self.jobs.last()? {
            Some((k, _)) => number_of(&k, "job"),
            None => Ok(0),
        }
    }

    async fn put_job(&self, number: u64, job: &Job) -> Result<(), StoreError> {
        self.jobs
            .insert(number.to_be_bytes(), job.encode_to_vec())?;
        Ok(())
    }

    async fn job(&self, number: u64) -> Result<Option<Job>, StoreError> {
        self.jobs
            .get(number.to_be_bytes())?
            .map(|v| decode("job", &v))
            .transpose()
    }

    async fn jobs(&self, limit: usize) -> Result<Vec<(u64, Job)>, StoreError> {
        let mut out = Vec::new();
        for item in self.jobs.iter().rev() {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            out.push((number_of(&k, "job")?, decode("job", &v)?));
        }
        Ok(out)
    }

    async fn remove_job(&self, number: u64) -> Result<(), StoreError> {
        self.jobs.remove(number.to_be_bytes())?;
        Ok(())
    }

    async fn commit(&self) -> Result<(), StoreError> {
        self.db.commit().await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{Store, StoreOptions};
    use renkei_core::AgencyCode;

    #[tokio::test]
    async fn audit_numbering_continues_after_a_purge_and_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let db = store.tenant(&AgencyCode::parse("141003").unwrap());
        let ops = db.operators().unwrap();
        let at = |ms| AuditEntry {
            at_ms: ms,
            ..Default::default()
        };
        ops.append_audit(vec![at(1), at(2), at(3)]).await.unwrap();
        assert_eq!(ops.purge_audit_before(4).await.unwrap(), 3);
        drop(ops);
        let ops = db.operators().unwrap();
        let e = ops.append_audit(vec![at(5)]).await.unwrap();
        assert_eq!(e[0].sequence, 4, "a purged number is not reused");
    }
}
