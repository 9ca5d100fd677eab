//! One throwaway cluster per test binary, a fresh migrated database per test.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../renkei-testkit/src/postgres.rs"]
pub mod postgres;

use renkei_core::AgencyCode;
use renkei_store_pg::{PgConfig, PgStore};

/// A store on a new database of the shared cluster, or `None` (the test skips, having
/// said so) when PostgreSQL is not installed and not required.
pub async fn fresh() -> Option<PgStore> {
    let url = fresh_url()?;
    Some(open(&url).await)
}

pub fn fresh_url() -> Option<String> {
    let cluster = postgres::shared_cluster()?;
    Some(cluster.create_database().expect("createdb"))
}

pub async fn open(url: &str) -> PgStore {
    PgStore::open(&PgConfig::new(url))
        .await
        .expect("open and migrate")
}

pub fn code(s: &str) -> AgencyCode {
    AgencyCode::parse(s).unwrap()
}

/// Skips the test (returns) when there is no PostgreSQL to test against.
#[macro_export]
macro_rules! fresh_or_skip {
    () => {
        match common::fresh().await {
            Some(s) => s,
            None => return,
        }
    };
}
