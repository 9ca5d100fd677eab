//! Operators on PostgreSQL: `operators`, `operator_sessions`, `audit_entries`,
//! `audit_counters`, `jobs` (migration 1), every row under the tenant.

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use prost::Message as _;
use renkei_proto::v1::{AuditEntry, Job, QueryAuditRequest};
use renkei_store::StoreError;
use renkei_store::operators::{OperatorStore, StoredOperator, StoredSession, TokenHash};

use crate::{db, decode, pool_err, to_i64, to_u64};

/// One tenant's operator storage.
#[derive(Clone, Debug)]
pub struct PgOperators {
    pool: Pool,
    tenant: String,
}

impl PgOperators {
    pub(crate) fn new(pool: Pool, tenant: String) -> PgOperators {
        PgOperators { pool, tenant }
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }
}

fn hash_of(v: &[u8]) -> Result<TokenHash, StoreError> {
    TokenHash::try_from(v).map_err(|_| StoreError::Corrupt("session hash is not 32 bytes".into()))
}

#[async_trait]
impl OperatorStore for PgOperators {
    async fn operator(&self, user: &str) -> Result<Option<StoredOperator>, StoreError> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT value FROM operators WHERE tenant = $1 AND user_id = $2",
                &[&self.tenant, &user],
            )
            .await
            .map_err(db)?
            .map(|r| decode("operator", r.get(0)))
            .transpose()
    }

    async fn put_operator(&self, op: &StoredOperator) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO operators (tenant, user_id, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant, user_id) DO UPDATE SET value = excluded.value",
                &[&self.tenant, &op.user(), &op.encode_to_vec()],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn operators(&self) -> Result<Vec<StoredOperator>, StoreError> {
        let client = self.client().await?;
        client
            .query(
                "SELECT value FROM operators WHERE tenant = $1 ORDER BY user_id",
                &[&self.tenant],
            )
            .await
            .map_err(db)?
            .iter()
            .map(|r| decode("operator", r.get(0)))
            .collect()
    }

    async fn session(&self, hash: &TokenHash) -> Result<Option<StoredSession>, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached(
                "SELECT value FROM operator_sessions WHERE tenant = $1 AND token_hash = $2",
            )
            .await
            .map_err(db)?;
        client
            .query_opt(&st, &[&self.tenant, &hash.as_slice()])
            .await
            .map_err(db)?
            .map(|r| decode("session", r.get(0)))
            .transpose()
    }

    async fn session_of(
        &self,
        user: &str,
    ) -> Result<Option<(TokenHash, StoredSession)>, StoreError> {
        let client = self.client().await?;
        match client
            .query_opt(
                "SELECT token_hash, value FROM operator_sessions \
                 WHERE tenant = $1 AND user_id = $2",
                &[&self.tenant, &user],
            )
            .await
            .map_err(db)?
        {
            Some(r) => Ok(Some((hash_of(r.get(0))?, decode("session", r.get(1))?))),
            None => Ok(None),
        }
    }

    /// The user's other session ends in the same transaction the new one starts.
    async fn put_session(&self, hash: &TokenHash, s: &StoredSession) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        tx.execute(
            "DELETE FROM operator_sessions WHERE tenant = $1 AND user_id = $2 AND token_hash <> $3",
            &[&self.tenant, &s.user, &hash.as_slice()],
        )
        .await
        .map_err(db)?;
        tx.execute(
            "INSERT INTO operator_sessions (tenant, token_hash, user_id, value) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, token_hash) DO UPDATE SET \
             user_id = excluded.user_id, value = excluded.value",
            &[&self.tenant, &hash.as_slice(), &s.user, &s.encode_to_vec()],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn end_session_of(&self, user: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM operator_sessions WHERE tenant = $1 AND user_id = $2",
                &[&self.tenant, &user],
            )
            .await
            .map_err(db)?;
        Ok(n > 0)
    }

    /// Numbers come from the tenant's counter row, whose lock orders appends from every
    /// node; the entries and the counter commit together.
    async fn append_audit(
        &self,
        mut entries: Vec<AuditEntry>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        if entries.is_empty() {
            return Ok(entries);
        }
        let n = to_i64("audit batch", entries.len() as u64)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let row = tx
            .query_one(
                "INSERT INTO audit_counters (tenant, next_seq) VALUES ($1, 1 + $2::int8) \
                 ON CONFLICT (tenant) DO UPDATE SET next_seq = audit_counters.next_seq + $2::int8 \
                 RETURNING next_seq - $2::int8",
                &[&self.tenant, &n],
            )
            .await
            .map_err(db)?;
        let first: i64 = row.get(0);
        let st = tx
            .prepare(
                "INSERT INTO audit_entries (tenant, seq, at_ms, operator, action, target, value) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .map_err(db)?;
        for (i, e) in entries.iter_mut().enumerate() {
            let seq = first + i as i64;
            e.sequence = to_u64("audit sequence", seq)?;
            tx.execute(
                &st,
                &[
                    &self.tenant,
                    &seq,
                    &e.at_ms,
                    &e.operator,
                    &e.action,
                    &e.target,
                    &e.encode_to_vec(),
                ],
            )
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(entries)
    }

    async fn query_audit(&self, q: &QueryAuditRequest) -> Result<Vec<AuditEntry>, StoreError> {
        let limit: i64 = match q.limit {
            0 => 1000,
            n => i64::from(n.min(10_000)),
        };
        let client = self.client().await?;
        client
            .query(
                "SELECT value FROM audit_entries WHERE tenant = $1 \
                 AND ($2::text = '' OR operator = $2) \
                 AND ($3::text = '' OR starts_with(action, $3)) \
                 AND ($4::text = '' OR target = $4) \
                 AND ($5::int8 = 0 OR at_ms >= $5) \
                 AND ($6::int8 = 0 OR at_ms < $6) \
                 ORDER BY seq DESC LIMIT $7",
                &[
                    &self.tenant,
                    &q.operator,
                    &q.action,
                    &q.target,
                    &q.since_ms,
                    &q.until_ms,
                    &limit,
                ],
            )
            .await
            .map_err(db)?
            .iter()
            // The newest `limit` matches, given back oldest first.
            .rev()
            .map(|r| decode("audit entry", r.get(0)))
            .collect()
    }

    async fn purge_audit_before(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM audit_entries WHERE tenant = $1 AND at_ms < $2",
                &[&self.tenant, &cutoff_ms],
            )
            .await
            .map_err(db)
    }

    async fn last_job_number(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT coalesce(max(number), 0) FROM jobs WHERE tenant = $1",
                &[&self.tenant],
            )
            .await
            .map_err(db)?;
        to_u64("job number", row.get(0))
    }

    async fn put_job(&self, number: u64, job: &Job) -> Result<(), StoreError> {
        let number = to_i64("job number", number)?;
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO jobs (tenant, number, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant, number) DO UPDATE SET value = excluded.value",
                &[&self.tenant, &number, &job.encode_to_vec()],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn job(&self, number: u64) -> Result<Option<Job>, StoreError> {
        let number = to_i64("job number", number)?;
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT value FROM jobs WHERE tenant = $1 AND number = $2",
                &[&self.tenant, &number],
            )
            .await
            .map_err(db)?
            .map(|r| decode("job", r.get(0)))
            .transpose()
    }

    async fn jobs(&self, limit: usize) -> Result<Vec<(u64, Job)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client().await?;
        client
            .query(
                "SELECT number, value FROM jobs WHERE tenant = $1 ORDER BY number DESC LIMIT $2",
                &[&self.tenant, &limit],
            )
            .await
            .map_err(db)?
            .iter()
            .map(|r| Ok((to_u64("job number", r.get(0))?, decode("job", r.get(1))?)))
            .collect()
    }

    async fn remove_job(&self, number: u64) -> Result<(), StoreError> {
        let number = to_i64("job number", number)?;
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM jobs WHERE tenant = $1 AND number = $2",
                &[&self.tenant, &number],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Every write committed when it returned.
    async fn commit(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
