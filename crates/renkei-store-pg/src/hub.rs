//! The hub's state on PostgreSQL: `hub_pending` and `hub_meta` (migration 1), shared by
//! the hub's nodes. Every write commits before it returns, as [`HubStore`] requires.

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use prost::Message as _;
use renkei_proto::v1::{ExchangeRecord, WitnessedHead};
use renkei_store::StoreError;
use renkei_store::hub::{HubStore, PendingAnswer};

use crate::{db, decode, pool_err, to_i64, to_u64};

const MASTER_VERSION: &str = "master-version";

/// The hub's pending late answers and master version.
#[derive(Clone, Debug)]
pub struct PgHubStore {
    pool: Pool,
}

impl PgHubStore {
    pub(crate) fn new(pool: Pool) -> PgHubStore {
        PgHubStore { pool }
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }
}

fn pending_of(r: &tokio_postgres::Row) -> Result<PendingAnswer, StoreError> {
    Ok(PendingAnswer {
        permit_id: r.get(0),
        record: decode::<ExchangeRecord>("pending exchange", r.get(1))?,
        keep_until_ms: r.get(2),
    })
}

#[async_trait]
impl HubStore for PgHubStore {
    async fn put_pending(&self, pending: PendingAnswer) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO hub_pending (permit_id, record, keep_until_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (permit_id) DO UPDATE SET record = excluded.record, \
                 keep_until_ms = excluded.keep_until_ms",
                &[
                    &pending.permit_id,
                    &pending.record.encode_to_vec(),
                    &pending.keep_until_ms,
                ],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn pending(&self, permit_id: &str) -> Result<Option<PendingAnswer>, StoreError> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT permit_id, record, keep_until_ms FROM hub_pending WHERE permit_id = $1",
                &[&permit_id],
            )
            .await
            .map_err(db)?
            .map(|r| pending_of(&r))
            .transpose()
    }

    /// `DELETE … RETURNING`: of concurrent takers on any node, one deletes the row.
    async fn take_pending(&self, permit_id: &str) -> Result<Option<PendingAnswer>, StoreError> {
        let client = self.client().await?;
        client
            .query_opt(
                "DELETE FROM hub_pending WHERE permit_id = $1 \
                 RETURNING permit_id, record, keep_until_ms",
                &[&permit_id],
            )
            .await
            .map_err(db)?
            .map(|r| pending_of(&r))
            .transpose()
    }

    async fn expire_pending(&self, now_ms: i64) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM hub_pending WHERE keep_until_ms <= $1",
                &[&now_ms],
            )
            .await
            .map_err(db)
    }

    async fn master_version(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        match client
            .query_opt(
                "SELECT value FROM hub_meta WHERE key = $1",
                &[&MASTER_VERSION],
            )
            .await
            .map_err(db)?
        {
            Some(r) => to_u64("master version", r.get(0)),
            None => Ok(0),
        }
    }

    async fn set_master_version(&self, version: u64) -> Result<(), StoreError> {
        let v = to_i64("master version", version)?;
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO hub_meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&MASTER_VERSION, &v],
            )
            .await
            .map_err(db)?;
        Ok(())
    }
    async fn witnessed_head(&self, log_id: &str) -> Result<Option<WitnessedHead>, StoreError> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT head FROM hub_witnessed_heads WHERE log_id = $1",
                &[&log_id],
            )
            .await
            .map_err(db)?
            .map(|r| decode("witnessed head", r.get(0)))
            .transpose()
    }

    /// A compare-and-swap on the stored bytes (prost encodes deterministically): the
    /// `WHERE head = $expected` of the UPDATE, or the primary key of the first INSERT,
    /// lets one of two concurrent witnesses win.
    async fn replace_witnessed_head(
        &self,
        log_id: &str,
        expected: Option<&WitnessedHead>,
        new: &WitnessedHead,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let new = new.encode_to_vec();
        let n =
            match expected {
                None => {
                    client
                        .execute(
                            "INSERT INTO hub_witnessed_heads (log_id, head) VALUES ($1, $2) \
                         ON CONFLICT DO NOTHING",
                            &[&log_id, &new],
                        )
                        .await
                }
                Some(old) => client
                    .execute(
                        "UPDATE hub_witnessed_heads SET head = $2 WHERE log_id = $1 AND head = $3",
                        &[&log_id, &new, &old.encode_to_vec()],
                    )
                    .await,
            }
            .map_err(db)?;
        Ok(n == 1)
    }
}
