//! The registry on PostgreSQL: tables `address_numbers`, `symbols`, `acquisitions`,
//! `copies` (migration 1), every row under the tenant's code.

use std::collections::HashMap;
use std::pin::pin;

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use prost::Message as _;
use renkei_core::UnifiedAddressNumber;
use renkei_proto::v1::{Acquisition, ProvisionCopy};
use renkei_store::StoreError;
use renkei_store::registry::{
    AddressNumbers, BatchReport, Commit, Copies, CopyCursor, CopyRow, CopyWrite, Rejected,
    Rejection, Symbols,
};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

use crate::{db, decode, pool_err};

/// Batches of at least this many rows go through binary COPY into a staging table; smaller
/// ones are one `INSERT … SELECT FROM unnest(…)`, which costs no temporary table.
pub const COPY_THRESHOLD: usize = 512;

/// One tenant's registry.
#[derive(Clone, Debug)]
pub struct PgRegistry {
    pool: Pool,
    tenant: String,
}

impl PgRegistry {
    pub(crate) fn new(pool: Pool, tenant: String) -> PgRegistry {
        PgRegistry { pool, tenant }
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }

    /// Registers through COPY whatever the size: what the bulk-import measurement compares
    /// with one INSERT per number.
    pub async fn register_many_by_copy(
        &self,
        uans: &[UnifiedAddressNumber],
        at_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        tx.batch_execute(
            "CREATE TEMP TABLE IF NOT EXISTS stage_uans (uan text COLLATE \"C\" NOT NULL) \
             ON COMMIT DELETE ROWS",
        )
        .await
        .map_err(db)?;
        let sink = tx
            .copy_in("COPY stage_uans (uan) FROM STDIN (FORMAT binary)")
            .await
            .map_err(db)?;
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &[Type::TEXT]));
        for uan in uans {
            writer.as_mut().write(&[&uan.as_str()]).await.map_err(db)?;
        }
        writer.as_mut().finish().await.map_err(db)?;
        let n = tx
            .execute(
                "INSERT INTO address_numbers (tenant, uan, registered_ms) \
                 SELECT $1, uan, $2 FROM stage_uans ON CONFLICT DO NOTHING",
                &[&self.tenant, &at_ms],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(n)
    }

    /// One INSERT statement per number, in one transaction: the slow way, kept only so the
    /// measurement has something to compare COPY with.
    pub async fn register_row_by_row(
        &self,
        uans: &[UnifiedAddressNumber],
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let st = tx
            .prepare(
                "INSERT INTO address_numbers (tenant, uan, registered_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(db)?;
        for uan in uans {
            tx.execute(&st, &[&self.tenant, &uan.as_str(), &at_ms])
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}

fn parse_uan(s: &str) -> Result<UnifiedAddressNumber, StoreError> {
    UnifiedAddressNumber::parse(s)
        .map_err(|_| StoreError::Corrupt("stored unified address number".into()))
}

fn item_of(v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt("stored item number".into()))
}

/// Keeps, of entries with the same key, the last one, in first-seen order.
fn last_per_key<T, K: std::hash::Hash + Eq>(items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut at: HashMap<K, usize> = HashMap::with_capacity(items.len());
    let mut out: Vec<Option<T>> = Vec::with_capacity(items.len());
    for item in items {
        let k = key(&item);
        match at.get(&k) {
            Some(&i) => out[i] = Some(item),
            None => {
                at.insert(k, out.len());
                out.push(Some(item));
            }
        }
    }
    out.into_iter().flatten().collect()
}

/// Stores the copies in `input` (a relation with pos, item, uan, value) whose persons are
/// registered, the last of duplicates winning, and lists the refused positions.
fn put_copies_sql(input: &str) -> String {
    format!(
        "WITH input AS ({input}), \
         ok AS (SELECT DISTINCT ON (i.item, i.uan) i.item, i.uan, i.value FROM input i \
                JOIN address_numbers a ON a.tenant = $1 AND a.uan = i.uan \
                ORDER BY i.item, i.uan, i.pos DESC), \
         ins AS (INSERT INTO copies (tenant, item, uan, value) \
                 SELECT $1, item, uan, value FROM ok \
                 ON CONFLICT (tenant, item, uan) DO UPDATE SET value = excluded.value) \
         SELECT i.pos FROM input i WHERE NOT EXISTS \
           (SELECT 1 FROM address_numbers a WHERE a.tenant = $1 AND a.uan = i.uan) \
         ORDER BY i.pos"
    )
}

fn report(total: usize, refused: Vec<tokio_postgres::Row>) -> Result<BatchReport, StoreError> {
    let mut rejected = Vec::with_capacity(refused.len());
    for r in refused {
        let pos: i32 = r.get(0);
        let position =
            usize::try_from(pos).map_err(|_| StoreError::Corrupt("batch position".into()))?;
        rejected.push(Rejected {
            position,
            reason: Rejection::NotRegistered,
        });
    }
    Ok(BatchReport {
        accepted: (total - rejected.len()) as u64,
        rejected,
    })
}

#[async_trait]
impl Commit for PgRegistry {
    /// Every write committed when it returned.
    async fn commit(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl AddressNumbers for PgRegistry {
    async fn register(&self, uan: &UnifiedAddressNumber, at_ms: i64) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached(
                "INSERT INTO address_numbers (tenant, uan, registered_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(db)?;
        let n = client
            .execute(&st, &[&self.tenant, &uan.as_str(), &at_ms])
            .await
            .map_err(db)?;
        Ok(n == 1)
    }

    async fn register_many(
        &self,
        uans: &[UnifiedAddressNumber],
        at_ms: i64,
    ) -> Result<BatchReport, StoreError> {
        let accepted = uans.len() as u64;
        if uans.len() >= COPY_THRESHOLD {
            self.register_many_by_copy(uans, at_ms).await?;
        } else if !uans.is_empty() {
            let list: Vec<&str> = uans.iter().map(|u| u.as_str()).collect();
            let client = self.client().await?;
            let st = client
                .prepare_cached(
                    "INSERT INTO address_numbers (tenant, uan, registered_ms) \
                     SELECT $1, u, $3 FROM unnest($2::text[]) AS u ON CONFLICT DO NOTHING",
                )
                .await
                .map_err(db)?;
            client
                .execute(&st, &[&self.tenant, &list, &at_ms])
                .await
                .map_err(db)?;
        }
        Ok(BatchReport {
            accepted,
            rejected: Vec::new(),
        })
    }

    async fn is_registered(&self, uan: &UnifiedAddressNumber) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached("SELECT 1 FROM address_numbers WHERE tenant = $1 AND uan = $2")
            .await
            .map_err(db)?;
        Ok(client
            .query_opt(&st, &[&self.tenant, &uan.as_str()])
            .await
            .map_err(db)?
            .is_some())
    }

    async fn registered_count(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM address_numbers WHERE tenant = $1",
                &[&self.tenant],
            )
            .await
            .map_err(db)?;
        crate::to_u64("count", row.get(0))
    }
}

#[async_trait]
impl Symbols for PgRegistry {
    async fn symbol_of(&self, uan: &UnifiedAddressNumber) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached("SELECT symbol FROM symbols WHERE tenant = $1 AND uan = $2")
            .await
            .map_err(db)?;
        Ok(client
            .query_opt(&st, &[&self.tenant, &uan.as_str()])
            .await
            .map_err(db)?
            .map(|r| r.get(0)))
    }

    async fn person_of(&self, symbol: &[u8]) -> Result<Option<UnifiedAddressNumber>, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached("SELECT uan FROM symbols WHERE tenant = $1 AND symbol = $2")
            .await
            .map_err(db)?;
        match client
            .query_opt(&st, &[&self.tenant, &symbol])
            .await
            .map_err(db)?
        {
            Some(r) => parse_uan(r.get(0)).map(Some),
            None => Ok(None),
        }
    }

    /// One row per person holds both directions, so a link is seen whole or not at all.
    /// A symbol given to a person in this batch is taken from anyone else who held it.
    async fn link(&self, links: &[(UnifiedAddressNumber, Vec<u8>)]) -> Result<(), StoreError> {
        if links.is_empty() {
            return Ok(());
        }
        let pairs: Vec<(&str, &[u8])> = links
            .iter()
            .map(|(u, s)| (u.as_str(), s.as_slice()))
            .collect();
        let pairs = last_per_key(pairs, |p| p.0);
        let pairs = last_per_key(pairs, |p| p.1);
        let uans: Vec<&str> = pairs.iter().map(|p| p.0).collect();
        let symbols: Vec<&[u8]> = pairs.iter().map(|p| p.1).collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        tx.execute(
            "DELETE FROM symbols s USING unnest($2::text[], $3::bytea[]) AS l(uan, symbol) \
             WHERE s.tenant = $1 AND s.symbol = l.symbol AND s.uan <> l.uan",
            &[&self.tenant, &uans, &symbols],
        )
        .await
        .map_err(db)?;
        tx.execute(
            "INSERT INTO symbols (tenant, uan, symbol) \
             SELECT $1, l.uan, l.symbol FROM unnest($2::text[], $3::bytea[]) AS l(uan, symbol) \
             ON CONFLICT (tenant, uan) DO UPDATE SET symbol = excluded.symbol",
            &[&self.tenant, &uans, &symbols],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn save_acquisitions(&self, acquisitions: &[Acquisition]) -> Result<(), StoreError> {
        if acquisitions.is_empty() {
            return Ok(());
        }
        let rows: Vec<(&str, Vec<u8>)> = acquisitions
            .iter()
            .map(|a| {
                let stored = Acquisition {
                    index: 0,
                    ..a.clone()
                };
                (a.processing_serial.as_str(), stored.encode_to_vec())
            })
            .collect();
        let rows = last_per_key(rows, |r| r.0);
        let serials: Vec<&str> = rows.iter().map(|r| r.0).collect();
        let values: Vec<&[u8]> = rows.iter().map(|r| r.1.as_slice()).collect();
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO acquisitions (tenant, processing_serial, value) \
                 SELECT $1, s, v FROM unnest($2::text[], $3::bytea[]) AS a(s, v) \
                 ON CONFLICT (tenant, processing_serial) DO UPDATE SET value = excluded.value",
                &[&self.tenant, &serials, &values],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn acquisition(
        &self,
        processing_serial: &str,
    ) -> Result<Option<Acquisition>, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached(
                "SELECT value FROM acquisitions WHERE tenant = $1 AND processing_serial = $2",
            )
            .await
            .map_err(db)?;
        match client
            .query_opt(&st, &[&self.tenant, &processing_serial])
            .await
            .map_err(db)?
        {
            Some(r) => Ok(Some(decode("acquisition", r.get(0))?)),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl Copies for PgRegistry {
    async fn put_copy(&self, row: CopyRow) -> Result<CopyWrite, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached(
                "WITH reg AS (SELECT 1 FROM address_numbers WHERE tenant = $1 AND uan = $3), \
                 old AS (SELECT 1 FROM copies WHERE tenant = $1 AND item = $2 AND uan = $3), \
                 ins AS (INSERT INTO copies (tenant, item, uan, value) \
                         SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM reg) \
                         ON CONFLICT (tenant, item, uan) DO UPDATE SET value = excluded.value \
                         RETURNING 1) \
                 SELECT EXISTS (SELECT 1 FROM reg), EXISTS (SELECT 1 FROM old)",
            )
            .await
            .map_err(db)?;
        let item = i64::from(row.item);
        let r = client
            .query_one(&st, &[&self.tenant, &item, &row.uan.as_str(), &row.encoded])
            .await
            .map_err(db)?;
        let (registered, existed): (bool, bool) = (r.get(0), r.get(1));
        Ok(match (registered, existed) {
            (false, _) => CopyWrite::Refused(Rejection::NotRegistered),
            (true, true) => CopyWrite::Replaced,
            (true, false) => CopyWrite::Inserted,
        })
    }

    async fn put_copies(&self, rows: Vec<CopyRow>) -> Result<BatchReport, StoreError> {
        if rows.is_empty() {
            return Ok(BatchReport::default());
        }
        let total = rows.len();
        let positions: Vec<i32> = (0..total)
            .map(|p| i32::try_from(p).map_err(|_| StoreError::Corrupt("batch too large".into())))
            .collect::<Result<_, _>>()?;
        let mut client = self.client().await?;
        if total < COPY_THRESHOLD {
            let items: Vec<i64> = rows.iter().map(|r| i64::from(r.item)).collect();
            let uans: Vec<&str> = rows.iter().map(|r| r.uan.as_str()).collect();
            let values: Vec<&[u8]> = rows.iter().map(|r| r.encoded.as_slice()).collect();
            let sql = put_copies_sql(
                "SELECT pos, item, uan COLLATE \"C\" AS uan, value \
                 FROM unnest($2::int4[], $3::int8[], $4::text[], $5::bytea[]) \
                 AS t(pos, item, uan, value)",
            );
            let st = client.prepare_cached(&sql).await.map_err(db)?;
            let refused = client
                .query(&st, &[&self.tenant, &positions, &items, &uans, &values])
                .await
                .map_err(db)?;
            return report(total, refused);
        }
        let tx = client.transaction().await.map_err(db)?;
        tx.batch_execute(
            "CREATE TEMP TABLE IF NOT EXISTS stage_copies (pos int4 NOT NULL, item int8 NOT NULL, \
             uan text COLLATE \"C\" NOT NULL, value bytea NOT NULL) ON COMMIT DELETE ROWS",
        )
        .await
        .map_err(db)?;
        let sink = tx
            .copy_in("COPY stage_copies (pos, item, uan, value) FROM STDIN (FORMAT binary)")
            .await
            .map_err(db)?;
        let mut writer = pin!(BinaryCopyInWriter::new(
            sink,
            &[Type::INT4, Type::INT8, Type::TEXT, Type::BYTEA]
        ));
        for (pos, row) in positions.iter().zip(&rows) {
            let item = i64::from(row.item);
            writer
                .as_mut()
                .write(&[pos, &item, &row.uan.as_str(), &row.encoded])
                .await
                .map_err(db)?;
        }
        writer.as_mut().finish().await.map_err(db)?;
        let refused = tx
            .query(
                &put_copies_sql("SELECT pos, item, uan, value FROM stage_copies"),
                &[&self.tenant],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        report(total, refused)
    }

    async fn copy(
        &self,
        item: u32,
        uan: &UnifiedAddressNumber,
    ) -> Result<Option<ProvisionCopy>, StoreError> {
        let client = self.client().await?;
        let st = client
            .prepare_cached("SELECT value FROM copies WHERE tenant = $1 AND item = $2 AND uan = $3")
            .await
            .map_err(db)?;
        match client
            .query_opt(&st, &[&self.tenant, &i64::from(item), &uan.as_str()])
            .await
            .map_err(db)?
        {
            Some(r) => Ok(Some(decode("provision copy", r.get(0))?)),
            None => Ok(None),
        }
    }

    async fn delete_copy(&self, item: u32, uan: &UnifiedAddressNumber) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM copies WHERE tenant = $1 AND item = $2 AND uan = $3",
                &[&self.tenant, &i64::from(item), &uan.as_str()],
            )
            .await
            .map_err(db)?;
        Ok(n > 0)
    }

    async fn copy_count(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM copies WHERE tenant = $1",
                &[&self.tenant],
            )
            .await
            .map_err(db)?;
        crate::to_u64("count", row.get(0))
    }

    /// Keyset pages: nothing is held open between calls.
    async fn copies_page(
        &self,
        item: Option<u32>,
        after: Option<&CopyCursor>,
        limit: usize,
    ) -> Result<Vec<(CopyCursor, ProvisionCopy)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client().await?;
        const COLS: &str = "SELECT item, uan, value FROM copies WHERE tenant = $1";
        let rows = match (item, after) {
            (Some(i), Some(c)) if c.item > i => return Ok(Vec::new()),
            (Some(i), Some(c)) if c.item == i => {
                client
                    .query(
                        &format!("{COLS} AND item = $2 AND uan > $3 ORDER BY item, uan LIMIT $4"),
                        &[&self.tenant, &i64::from(i), &c.uan.as_str(), &limit],
                    )
                    .await
            }
            (Some(i), _) => {
                client
                    .query(
                        &format!("{COLS} AND item = $2 ORDER BY item, uan LIMIT $3"),
                        &[&self.tenant, &i64::from(i), &limit],
                    )
                    .await
            }
            (None, Some(c)) => {
                client
                    .query(
                        &format!(
                            "{COLS} AND (item > $2 OR (item = $2 AND uan > $3)) \
                             ORDER BY item, uan LIMIT $4"
                        ),
                        &[&self.tenant, &i64::from(c.item), &c.uan.as_str(), &limit],
                    )
                    .await
            }
            (None, None) => {
                client
                    .query(
                        &format!("{COLS} ORDER BY item, uan LIMIT $2"),
                        &[&self.tenant, &limit],
                    )
                    .await
            }
        }
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let cursor = CopyCursor {
                    item: item_of(r.get(0))?,
                    uan: parse_uan(r.get(1))?,
                };
                Ok((cursor, decode("provision copy", r.get(2))?))
            })
            .collect()
    }
}
