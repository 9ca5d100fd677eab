//! The exchange state on PostgreSQL: `inquiries`, `idempotency_keys`, `awaiting_answers`,
//! `seen_permits`, `held_answers`, `flags` (migration 1), every row under the tenant.
//!
//! The single-use promises rest on primary keys, not on reads before writes: a claim is an
//! `INSERT … ON CONFLICT DO NOTHING`, so of any number of nodes claiming one key or permit
//! at once, the database lets exactly one insert.

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use prost::Message as _;
use renkei_proto::v1::{DeliverLateAnswerRequest, Flag, HeldInquiry, Inquiry};
use renkei_store::StoreError;
use renkei_store::exchange::{Claim, Flags, HeldAnswers, HeldEntry, Inquiries, SeenPermits};
use renkei_store::registry::Commit;

use crate::{db, decode, pool_err};

/// One tenant's exchange state.
#[derive(Clone, Debug)]
pub struct PgExchange {
    pool: Pool,
    tenant: String,
}

impl PgExchange {
    pub(crate) fn new(pool: Pool, tenant: String) -> PgExchange {
        PgExchange { pool, tenant }
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }

    async fn opt_string(&self, sql: &str, key: &str) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let st = client.prepare_cached(sql).await.map_err(db)?;
        Ok(client
            .query_opt(&st, &[&self.tenant, &key])
            .await
            .map_err(db)?
            .map(|r| r.get(0)))
    }
}

fn held_of(r: &tokio_postgres::Row) -> Result<HeldEntry, StoreError> {
    Ok(HeldEntry {
        held: decode::<HeldInquiry>("held answer", r.get(0))?,
        deferred: r.get(1),
        ready_at_ms: r.get(2),
        unsent: r
            .get::<_, Option<&[u8]>>(3)
            .map(|v| decode::<DeliverLateAnswerRequest>("unsent answer", v))
            .transpose()?,
    })
}

#[async_trait]
impl Commit for PgExchange {
    /// Every write committed when it returned.
    async fn commit(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl Inquiries for PgExchange {
    /// The key and the PENDING inquiry in one transaction. A concurrent claimer's INSERT
    /// waits on the winner's uncommitted key row and then does nothing; it reads the
    /// winner's id once that committed (each statement sees the latest commits).
    async fn claim(&self, inquiry: &Inquiry) -> Result<Claim, StoreError> {
        let value = inquiry.encode_to_vec();
        let mut client = self.client().await?;
        loop {
            let tx = client.transaction().await.map_err(db)?;
            let claimed = tx
                .execute(
                    "INSERT INTO idempotency_keys (tenant, idempotency_key, inquiry_id) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&self.tenant, &inquiry.idempotency_key, &inquiry.inquiry_id],
                )
                .await
                .map_err(db)?;
            if claimed == 1 {
                tx.execute(
                    "INSERT INTO inquiries (tenant, inquiry_id, value) VALUES ($1, $2, $3) \
                     ON CONFLICT (tenant, inquiry_id) DO UPDATE SET value = excluded.value",
                    &[&self.tenant, &inquiry.inquiry_id, &value],
                )
                .await
                .map_err(db)?;
                tx.commit().await.map_err(db)?;
                return Ok(Claim::Claimed);
            }
            let existing = tx
                .query_opt(
                    "SELECT inquiry_id FROM idempotency_keys \
                     WHERE tenant = $1 AND idempotency_key = $2",
                    &[&self.tenant, &inquiry.idempotency_key],
                )
                .await
                .map_err(db)?;
            tx.commit().await.map_err(db)?;
            if let Some(r) = existing {
                return Ok(Claim::Existing(r.get(0)));
            }
            // The holder was deleted (retention) between the two statements: claim again.
        }
    }

    async fn claimed_by(&self, idempotency_key: &str) -> Result<Option<String>, StoreError> {
        self.opt_string(
            "SELECT inquiry_id FROM idempotency_keys WHERE tenant = $1 AND idempotency_key = $2",
            idempotency_key,
        )
        .await
    }

    async fn inquiry(&self, inquiry_id: &str) -> Result<Option<Inquiry>, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached("SELECT value FROM inquiries WHERE tenant = $1 AND inquiry_id = $2")
            .await
            .map_err(db)?;
        client
            .query_opt(&st, &[&self.tenant, &inquiry_id])
            .await
            .map_err(db)?
            .map(|r| decode("inquiry", r.get(0)))
            .transpose()
    }

    async fn save_inquiry(&self, inquiry: &Inquiry) -> Result<(), StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached(
                "INSERT INTO inquiries (tenant, inquiry_id, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant, inquiry_id) DO UPDATE SET value = excluded.value",
            )
            .await
            .map_err(db)?;
        client
            .execute(
                &st,
                &[&self.tenant, &inquiry.inquiry_id, &inquiry.encode_to_vec()],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn inquiries_after(&self, after: &str, limit: usize) -> Result<Vec<Inquiry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT value FROM inquiries WHERE tenant = $1 AND inquiry_id > $2 \
                 ORDER BY inquiry_id LIMIT $3",
                &[&self.tenant, &after, &limit],
            )
            .await
            .map_err(db)?;
        rows.iter().map(|r| decode("inquiry", r.get(0))).collect()
    }

    async fn delete_inquiry(&self, inquiry: &Inquiry) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        tx.execute(
            "DELETE FROM inquiries WHERE tenant = $1 AND inquiry_id = $2",
            &[&self.tenant, &inquiry.inquiry_id],
        )
        .await
        .map_err(db)?;
        // Only the key's own claim is freed: a key reused after a purge belongs to another.
        tx.execute(
            "DELETE FROM idempotency_keys \
             WHERE tenant = $1 AND idempotency_key = $2 AND inquiry_id = $3",
            &[&self.tenant, &inquiry.idempotency_key, &inquiry.inquiry_id],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn await_answer(&self, permit_id: &str, inquiry_id: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO awaiting_answers (tenant, permit_id, inquiry_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant, permit_id) DO UPDATE SET inquiry_id = excluded.inquiry_id",
                &[&self.tenant, &permit_id, &inquiry_id],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn awaiting(&self, permit_id: &str) -> Result<Option<String>, StoreError> {
        self.opt_string(
            "SELECT inquiry_id FROM awaiting_answers WHERE tenant = $1 AND permit_id = $2",
            permit_id,
        )
        .await
    }

    async fn answered(&self, permit_id: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM awaiting_answers WHERE tenant = $1 AND permit_id = $2",
                &[&self.tenant, &permit_id],
            )
            .await
            .map_err(db)?;
        Ok(())
    }
}

#[async_trait]
impl SeenPermits for PgExchange {
    async fn claim_permit(&self, permit_id: &str, expires_at_ms: i64) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached(
                "INSERT INTO seen_permits (tenant, permit_id, expires_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(db)?;
        let n = client
            .execute(&st, &[&self.tenant, &permit_id, &expires_at_ms])
            .await
            .map_err(db)?;
        Ok(n == 1)
    }

    async fn forget_permits(&self, expired_before_ms: i64) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM seen_permits WHERE tenant = $1 AND expires_ms < $2",
                &[&self.tenant, &expired_before_ms],
            )
            .await
            .map_err(db)
    }
}

#[async_trait]
impl HeldAnswers for PgExchange {
    async fn put_held(&self, entry: &HeldEntry) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO held_answers \
                 (tenant, permit_id, held, deferred, ready_at_ms, unsent) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, permit_id) DO UPDATE SET \
                 held = excluded.held, deferred = excluded.deferred, \
                 ready_at_ms = excluded.ready_at_ms, unsent = excluded.unsent",
                &[
                    &self.tenant,
                    &entry.held.permit_id,
                    &entry.held.encode_to_vec(),
                    &entry.deferred,
                    &entry.ready_at_ms,
                    &entry.unsent.as_ref().map(|u| u.encode_to_vec()),
                ],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn held(&self, permit_id: &str) -> Result<Option<HeldEntry>, StoreError> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT held, deferred, ready_at_ms, unsent FROM held_answers \
                 WHERE tenant = $1 AND permit_id = $2",
                &[&self.tenant, &permit_id],
            )
            .await
            .map_err(db)?
            .map(|r| held_of(&r))
            .transpose()
    }

    async fn all_held(&self) -> Result<Vec<HeldEntry>, StoreError> {
        let client = self.client().await?;
        client
            .query(
                "SELECT held, deferred, ready_at_ms, unsent FROM held_answers WHERE tenant = $1 \
                 ORDER BY permit_id",
                &[&self.tenant],
            )
            .await
            .map_err(db)?
            .iter()
            .map(held_of)
            .collect()
    }

    async fn delete_held(&self, permit_id: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM held_answers WHERE tenant = $1 AND permit_id = $2",
                &[&self.tenant, &permit_id],
            )
            .await
            .map_err(db)?;
        Ok(n > 0)
    }
}

#[async_trait]
impl Flags for PgExchange {
    async fn put_flag(&self, flag: &Flag) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO flags (tenant, uan, item, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant, uan, item) DO UPDATE SET value = excluded.value",
                &[
                    &self.tenant,
                    &flag.unified_address_number,
                    &i64::from(flag.item),
                    &flag.encode_to_vec(),
                ],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn remove_flag(&self, uan: &str, item: u32) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM flags WHERE tenant = $1 AND uan = $2 AND item = $3",
                &[&self.tenant, &uan, &i64::from(item)],
            )
            .await
            .map_err(db)?;
        Ok(n > 0)
    }

    async fn flags(&self, uan: &str) -> Result<Vec<Flag>, StoreError> {
        let client = self.client().await?;
        let rows = if uan.is_empty() {
            client
                .query(
                    "SELECT value FROM flags WHERE tenant = $1 ORDER BY uan, item",
                    &[&self.tenant],
                )
                .await
        } else {
            client
                .query(
                    "SELECT value FROM flags WHERE tenant = $1 AND uan = $2 ORDER BY item",
                    &[&self.tenant, &uan],
                )
                .await
        }
        .map_err(db)?;
        rows.iter().map(|r| decode("flag", r.get(0))).collect()
    }

    async fn flag_for(&self, uan: &str, item: u32) -> Result<Option<Flag>, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached(
                "SELECT value FROM flags WHERE tenant = $1 AND uan = $2 AND item IN (0, $3) \
                 ORDER BY item LIMIT 1",
            )
            .await
            .map_err(db)?;
        client
            .query_opt(&st, &[&self.tenant, &uan, &i64::from(item)])
            .await
            .map_err(db)?
            .map(|r| decode("flag", r.get(0)))
            .transpose()
    }
}
