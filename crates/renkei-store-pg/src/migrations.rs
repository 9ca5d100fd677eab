//! Versioned schema changes, embedded in the binary and applied in order.
//!
//! [`migrate`] takes a transaction-scoped advisory lock first, so of two nodes starting at
//! once one migrates and the other, once the lock is free, finds nothing left to do. Each
//! migration and its `schema_migrations` row commit together: a crash leaves none of it.

use tokio_postgres::Client;

use crate::PgError;

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration of this build, in order. Never edit a released one: add the next.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "initial",
    sql: include_str!("../migrations/0001_initial.sql"),
}];

/// Key of the advisory lock that serializes migrations ("renkei" as ASCII, in an i64).
const MIGRATION_LOCK: i64 = 0x72_65_6e_6b_65_69;

/// Applies the migrations the database lacks, in one transaction under an advisory lock;
/// returns the versions applied (empty when it was up to date). What `renkei db migrate`
/// will run.
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, PgError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let applied: Vec<i32> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut done = Vec::new();
    for m in MIGRATIONS {
        if applied.contains(&m.version) {
            continue;
        }
        tx.batch_execute(m.sql)
            .await
            .map_err(|source| PgError::Migration {
                version: m.version,
                name: m.name,
                source,
            })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .await?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "database migration applied"
        );
        done.push(m.version);
    }
    tx.commit().await?;
    Ok(done)
}
