//! Tenant-scoped storage on sled, with group-committed durable writes.
//!
//! Two guarantees live here so that no caller has to remember them:
//!
//! * **Tenant scoping by construction.** A [`TenantStore`] can only open trees inside its
//!   own tenant's namespace (`t/<agency code>/<kind>`); there is no API that takes a tenant
//!   from a request field. Callers obtain a `TenantStore` from the caller's certificate.
//! * **Durability.** sled buffers writes in memory; [`Store::commit`] returns only after
//!   sled has flushed them to disk. Concurrent callers share one flush (group commit), so
//!   many acknowledged writes cost one `fsync`.
#![forbid(unsafe_code)]

mod commit;

// What the gateway and hub keep, as traits defined by what the exchange needs, so a
// second engine (PostgreSQL, issue 14) slots in behind the same calls. Each module holds
// its traits and their sled implementation; `conformance` holds one test suite that any
// backend must pass.
pub mod exchange;
pub mod hub;
pub mod operators;
pub mod registry;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

/// A log filter directive every process that opens a sled store must add.
///
/// sled emits TRACE events from crossbeam-epoch deferred closures, and those can run
/// while a thread's thread-locals are being destroyed. tracing-subscriber's fmt layer
/// then touches its own, already destroyed, thread-local buffer, panics inside a TLS
/// destructor, and the process aborts (seen in CI at the exit of the group-commit thread).
/// sled's TRACE events are page-cache bookkeeping of no use to an operator, so they are
/// capped at DEBUG even when `RUST_LOG=trace`.
pub const SLED_LOG_CAP: &str = "sled=debug";

use std::path::Path;
use std::sync::Arc;

use renkei_core::AgencyCode;

pub use commit::CommitStats;
pub use sled::{Batch, Error as SledError, IVec, Tree};

/// Why storage failed. Storage errors are internal: at the edge they become INTERNAL or
/// UNAVAILABLE, never a detail shown to a caller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("the commit thread has stopped")]
    CommitterGone,
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    /// Another engine's failure (PostgreSQL, issue 14). `transient` when trying again may
    /// succeed (the database unreachable, a failover under way, a serialization conflict),
    /// so the edge can answer UNAVAILABLE rather than INTERNAL.
    #[error("database error")]
    Backend {
        transient: bool,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// The kinds of trees a tenant has. An enum rather than free strings, so a typo cannot
/// create a tree outside the documented layout (docs/storage.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TreeKind {
    /// unified address number → registration metadata
    AddressNumbers,
    /// unified address number → symbol
    Symbols,
    /// symbol → unified address number
    SymbolIndex,
    /// processing serial → acquisition state
    Acquisitions,
    /// item (4 bytes BE) ‖ unified address number → provision copy
    Copies,
    /// inquiry id → inquiry
    Inquiries,
    /// idempotency key → inquiry id
    IdempotencyKeys,
    /// permit id → expiry (replay protection)
    SeenPermits,
    /// unified address number ‖ sequence → () (record index by person)
    RecordIndex,
    /// small per-tenant settings and cursors
    Meta,
    /// unified address number ‖ item (4 bytes BE; 0 = every item) → auto-response-block flag
    Flags,
    /// permit id → held or deferred provision (自動応答不可)
    Held,
    /// operator user id → account
    Operators,
    /// SHA-256 of a session token → session
    Sessions,
    /// sequence (8 bytes BE) → audit entry (append-only)
    Audit,
    /// job number (8 bytes BE) → batch job status (bounded history)
    Jobs,
}

impl TreeKind {
    fn name(self) -> &'static str {
        match self {
            TreeKind::AddressNumbers => "uan",
            TreeKind::Symbols => "sym",
            TreeKind::SymbolIndex => "sym-idx",
            TreeKind::Acquisitions => "acq",
            TreeKind::Copies => "copy",
            TreeKind::Inquiries => "inq",
            TreeKind::IdempotencyKeys => "idem",
            TreeKind::SeenPermits => "permits-seen",
            TreeKind::RecordIndex => "rec-idx",
            TreeKind::Meta => "meta",
            TreeKind::Flags => "flags",
            TreeKind::Held => "held",
            TreeKind::Operators => "ops-accounts",
            TreeKind::Sessions => "ops-sessions",
            TreeKind::Audit => "ops-audit",
            TreeKind::Jobs => "jobs",
        }
    }
}

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// sled page-cache size. Kept small by default: the gateway must fit a
    /// 3.77-million-resident tenant in a few hundred MB of RSS.
    pub cache_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: 64 * 1024 * 1024,
        }
    }
}

/// One sled database per process, shared by its tenants.
#[derive(Clone, Debug)]
pub struct Store {
    db: sled::Db,
    committer: Arc<commit::GroupCommit>,
}

impl Store {
    pub fn open(path: &Path, opts: &StoreOptions) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(opts.cache_bytes)
            .mode(sled::Mode::HighThroughput)
            // Durability comes from explicit group commits, not a timer.
            .flush_every_ms(None)
            .open()?;
        let committer = Arc::new(commit::GroupCommit::start(db.clone()));
        Ok(Store { db, committer })
    }

    /// The storage of one tenant. Cheap: trees are opened lazily and cached by sled.
    pub fn tenant(&self, code: &AgencyCode) -> TenantStore {
        TenantStore {
            store: self.clone(),
            prefix: format!("t/{}/", code.as_str()),
        }
    }

    /// A process-wide tree (e.g. the gateway's copy of master data, the hub's indexes).
    pub fn global(&self, name: &str) -> Result<Tree, StoreError> {
        Ok(self.db.open_tree(format!("g/{name}"))?)
    }

    /// Waits until every write made before this call is on disk.
    pub async fn commit(&self) -> Result<(), StoreError> {
        self.committer.commit().await
    }

    /// Blocking form of [`Store::commit`] for non-async callers.
    pub fn commit_blocking(&self) -> Result<(), StoreError> {
        self.committer.commit_blocking()
    }

    pub fn commit_stats(&self) -> CommitStats {
        self.committer.stats()
    }

    /// Names of all trees, for tests that scan storage for data that must not be there.
    pub fn tree_names(&self) -> Vec<String> {
        self.db
            .tree_names()
            .into_iter()
            .map(|n| String::from_utf8_lossy(&n).into_owned())
            .collect()
    }

    /// Bytes on disk, for status and benchmarks.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }
}

/// Storage of one tenant: every tree it opens is inside `t/<agency code>/`.
#[derive(Clone, Debug)]
pub struct TenantStore {
    store: Store,
    prefix: String,
}

impl TenantStore {
    pub fn tree(&self, kind: TreeKind) -> Result<Tree, StoreError> {
        Ok(self
            .store
            .db
            .open_tree(format!("{}{}", self.prefix, kind.name()))?)
    }

    pub async fn commit(&self) -> Result<(), StoreError> {
        self.store.commit().await
    }

    pub fn commit_blocking(&self) -> Result<(), StoreError> {
        self.store.commit_blocking()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tenants_do_not_see_each_others_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let sapporo = store.tenant(&AgencyCode::parse("011002").unwrap());
        let yokohama = store.tenant(&AgencyCode::parse("141003").unwrap());
        sapporo
            .tree(TreeKind::Copies)
            .unwrap()
            .insert(b"same-key", b"sapporo")
            .unwrap();
        yokohama
            .tree(TreeKind::Copies)
            .unwrap()
            .insert(b"same-key", b"yokohama")
            .unwrap();
        store.commit().await.unwrap();
        assert_eq!(
            sapporo
                .tree(TreeKind::Copies)
                .unwrap()
                .get(b"same-key")
                .unwrap()
                .unwrap(),
            b"sapporo"
        );
        assert_eq!(
            yokohama
                .tree(TreeKind::Copies)
                .unwrap()
                .get(b"same-key")
                .unwrap()
                .unwrap(),
            b"yokohama"
        );
        assert!(store.tree_names().iter().any(|n| n == "t/011002/copy"));
    }

    #[tokio::test]
    async fn concurrent_commits_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let tree = store.global("x").unwrap();
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let store = store.clone();
            let tree = tree.clone();
            tasks.push(tokio::spawn(async move {
                tree.insert(i.to_be_bytes(), b"v").unwrap();
                store.commit().await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let stats = store.commit_stats();
        assert_eq!(stats.requests, 200);
        assert!(stats.flushes < 200, "group commit should batch: {stats:?}");
        drop(tree);
        drop(store);
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        assert_eq!(store.global("x").unwrap().len(), 200);
    }
}
