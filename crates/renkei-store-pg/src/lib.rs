//! The `renkei-store` traits on PostgreSQL, for the platform mode of issue 14: several
//! gateway nodes and a hub pair sharing one database.
//!
//! * **Tenants** are a column: every gateway table is keyed by the agency code first, and a
//!   handle from [`PgStore::tenant`] binds its code into every statement. No method takes a
//!   tenant, so a request field cannot name another tenant's rows (decision 0085).
//! * **Durability**: every write commits before its method returns (PostgreSQL's own WAL
//!   group commit shares the flushes), so the traits' `commit()` has nothing left to wait
//!   for and returns at once.
//! * **Migrations** are embedded SQL files applied at [`PgStore::open`] (or [`migrate`]) in
//!   one transaction under an advisory lock, so nodes starting together are safe.
//! * **TLS** with rustls (ring) whenever a host is not loopback; credentials come from a
//!   file or an environment variable named in [`PgConfig`], never from a URL or a flag.
#![forbid(unsafe_code)]

mod config;
mod exchange;
mod hub;
mod migrations;
mod operators;
mod registry;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use renkei_core::AgencyCode;
use renkei_store::StoreError;

pub use config::PgConfig;
pub use exchange::PgExchange;
pub use hub::PgHubStore;
pub use migrations::{MIGRATIONS, Migration, migrate};
pub use operators::PgOperators;
pub use registry::{COPY_THRESHOLD, PgRegistry};

/// Why the PostgreSQL backend could not be opened or migrated. Errors of the trait methods
/// are [`StoreError::Backend`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    #[error("the database URL is not valid")]
    Url(#[source] tokio_postgres::Error),
    #[error(
        "the database URL carries a password; put it in a file (password_file) or an \
         environment variable (password_env) instead"
    )]
    PasswordInUrl,
    #[error("reading the database password from {0}")]
    PasswordFile(String, #[source] std::io::Error),
    #[error("the environment variable {0} named for the database password is not set")]
    PasswordEnv(String),
    #[error("the database is not on loopback, so TLS is required: set ca_file to its CA (PEM)")]
    NoCaFile,
    #[error("reading the database CA file {0}")]
    CaFile(String, #[source] rustls_pki_types::pem::Error),
    #[error("the database CA file {0} holds no usable certificate")]
    NoCaCertificate(String),
    #[error("building the TLS configuration")]
    Tls(#[source] rustls::Error),
    #[error("building the connection pool")]
    Pool(#[source] deadpool_postgres::BuildError),
    #[error("connecting to the database")]
    Connect(#[source] deadpool_postgres::PoolError),
    #[error("migration {version} ({name}) failed")]
    Migration {
        version: i32,
        name: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("database error")]
    Db(#[from] tokio_postgres::Error),
}

/// A pool of connections to one Renkei database, shared by the tenants of this node.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    /// Connects, then applies the migrations this build has and the database lacks.
    pub async fn open(cfg: &PgConfig) -> Result<PgStore, PgError> {
        let store = PgStore::connect(cfg)?;
        store.migrate().await?;
        Ok(store)
    }

    /// A pool without touching the database yet (connections open on first use).
    pub fn connect(cfg: &PgConfig) -> Result<PgStore, PgError> {
        let pg = cfg.client_config()?;
        let manager_config = ManagerConfig {
            // Fast: a broken connection shows itself on the next statement, and the
            // pool drops it; a round trip per checkout would cost every request.
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match cfg.tls()? {
            Some(tls) => Manager::from_config(pg, tls, manager_config),
            None => Manager::from_config(pg, tokio_postgres::NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(cfg.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(PgError::Pool)?;
        Ok(PgStore { pool })
    }

    /// Applies pending migrations; see [`migrate`].
    pub async fn migrate(&self) -> Result<Vec<i32>, PgError> {
        let mut client = self.pool.get().await.map_err(PgError::Connect)?;
        migrate(&mut client).await
    }

    /// The storage of one tenant; every statement of its handles names this code.
    pub fn tenant(&self, code: &AgencyCode) -> PgTenant {
        PgTenant {
            pool: self.pool.clone(),
            tenant: code.as_str().to_owned(),
        }
    }

    /// The hub's state (not per tenant).
    pub fn hub(&self) -> PgHubStore {
        PgHubStore::new(self.pool.clone())
    }

    /// The pool, for tests and tools that need raw SQL.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

/// One tenant's handles.
#[derive(Clone, Debug)]
pub struct PgTenant {
    pool: Pool,
    tenant: String,
}

impl PgTenant {
    pub fn registry(&self) -> PgRegistry {
        PgRegistry::new(self.pool.clone(), self.tenant.clone())
    }
    pub fn exchange(&self) -> PgExchange {
        PgExchange::new(self.pool.clone(), self.tenant.clone())
    }
    pub fn operators(&self) -> PgOperators {
        PgOperators::new(self.pool.clone(), self.tenant.clone())
    }
}

/// A database error as the traits report it. No SQL text or value goes into it: the
/// statement's parameters may be personal data.
pub(crate) fn db(e: tokio_postgres::Error) -> StoreError {
    // A missing SQLSTATE means the connection failed; 40001/40P01 are worth a retry;
    // class 08 is a connection exception, 57P0x an administrator shutdown (failover).
    let transient = match e.code() {
        None => {
            e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
        }
        Some(c) => {
            let c = c.code();
            c == "40001" || c == "40P01" || c.starts_with("08") || c.starts_with("57P0")
        }
    };
    StoreError::Backend {
        transient,
        source: Box::new(e),
    }
}

pub(crate) fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Backend {
        transient: true,
        source: Box::new(e),
    }
}

pub(crate) fn corrupt(what: &str) -> impl Fn(prost::DecodeError) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn decode<M: prost::Message + Default>(what: &str, v: &[u8]) -> Result<M, StoreError> {
    M::decode(v).map_err(corrupt(what))
}

/// Stored numbers are `bigint`; the traits' are unsigned.
pub(crate) fn to_u64(what: &str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} is negative")))
}

pub(crate) fn to_i64(what: &str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} exceeds bigint")))
}
