//! The gateway's registry of persons (符号管理 and 情報提供データベース): unified address
//! numbers, the symbols the hub issued for them, symbol acquisitions in flight, and the
//! provision copies (副本) kept for each.
//!
//! The traits say what the gateway needs and nothing of sled: a second engine (PostgreSQL,
//! issue 14) implements them and passes [`crate::conformance::registry`]. Every handle is
//! one tenant's, obtained from [`crate::TenantStore::registry`], so no method takes a tenant
//! and none can reach another tenant's rows (docs/decisions/0074-storage-traits.md).
//!
//! Durability: a write is visible to reads when its method returns, and on disk once a
//! later [`Commit::commit`] returns. Callers commit once per request or per chunk, so one
//! flush covers many writes (group commit).

use std::fmt;

use async_trait::async_trait;
use prost::Message as _;
use renkei_core::UnifiedAddressNumber;
use renkei_proto::v1::{Acquisition, ProvisionCopy};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional as _};
use sled::{Batch, Tree};

use crate::{StoreError, TenantStore, TreeKind};

/// Makes every write made before the call durable.
#[async_trait]
pub trait Commit: Send + Sync + fmt::Debug {
    async fn commit(&self) -> Result<(), StoreError>;
}

/// Why a store refused one record of a batch (the good records are kept).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// A copy for a person this tenant has not registered: a copy must belong to someone
    /// the gateway can link to a symbol.
    NotRegistered,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NotRegistered => {
                f.write_str("the unified address number is not registered with this gateway")
            }
        }
    }
}

/// One refused record of a batch: its position in the slice given, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub position: usize,
    pub reason: Rejection,
}

/// What a batch write did: how many records were kept, and the ones refused in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub accepted: u64,
    pub rejected: Vec<Rejected>,
}

/// 団体内統合宛名番号 this tenant has registered. Registration is idempotent and is
/// never undone.
#[async_trait]
pub trait AddressNumbers: Commit {
    /// Registers one number; `true` if it was new. A repeat keeps the first registration.
    async fn register(&self, uan: &UnifiedAddressNumber, at_ms: i64) -> Result<bool, StoreError>;
    /// Registers many at once (repeats are accepted and change nothing a reader can see).
    async fn register_many(
        &self,
        uans: &[UnifiedAddressNumber],
        at_ms: i64,
    ) -> Result<BatchReport, StoreError>;
    async fn is_registered(&self, uan: &UnifiedAddressNumber) -> Result<bool, StoreError>;
    async fn registered_count(&self) -> Result<u64, StoreError>;
}

/// Symbols (機関別符号) and their acquisition (符号取得).
#[async_trait]
pub trait Symbols: Commit {
    async fn symbol_of(&self, uan: &UnifiedAddressNumber) -> Result<Option<Vec<u8>>, StoreError>;
    /// The person a symbol stands for: how a provider finds whom an inquiry is about.
    async fn person_of(&self, symbol: &[u8]) -> Result<Option<UnifiedAddressNumber>, StoreError>;
    /// Links each person to a symbol, both ways at once: no reader sees one direction
    /// without the other. A person's previous symbol stops resolving to them.
    async fn link(&self, links: &[(UnifiedAddressNumber, Vec<u8>)]) -> Result<(), StoreError>;
    /// Stores acquisitions by processing serial, replacing earlier states. The stream
    /// position (`index`) is not kept: it means nothing once stored.
    async fn save_acquisitions(&self, acquisitions: &[Acquisition]) -> Result<(), StoreError>;
    async fn acquisition(&self, processing_serial: &str)
    -> Result<Option<Acquisition>, StoreError>;
}

/// A provision copy ready to store: its key and the encoded `ProvisionCopy` (encoded by
/// the caller, who has encoded its content already for the hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyRow {
    pub item: u32,
    pub uan: UnifiedAddressNumber,
    pub encoded: Vec<u8>,
}

/// What a single copy write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopyWrite {
    Inserted,
    Replaced,
    Refused(Rejection),
}

/// Where an export page ends, to start the next one after it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CopyCursor {
    pub item: u32,
    pub uan: UnifiedAddressNumber,
}

/// Provision copies (副本), one per (item, person).
#[async_trait]
pub trait Copies: Commit {
    /// Stores or replaces one copy; refused if its person is not registered.
    async fn put_copy(&self, row: CopyRow) -> Result<CopyWrite, StoreError>;
    /// Stores the copies whose persons are registered and reports the others.
    async fn put_copies(&self, rows: Vec<CopyRow>) -> Result<BatchReport, StoreError>;
    async fn copy(
        &self,
        item: u32,
        uan: &UnifiedAddressNumber,
    ) -> Result<Option<ProvisionCopy>, StoreError>;
    /// `true` if there was a copy to delete.
    async fn delete_copy(&self, item: u32, uan: &UnifiedAddressNumber) -> Result<bool, StoreError>;
    async fn copy_count(&self) -> Result<u64, StoreError>;
    /// Copies in (item, unified address number) order, of one item or of all (`None`),
    /// starting after `after`; at most `limit`. Keyset paging, so an export of millions
    /// holds nothing open between pages.
    async fn copies_page(
        &self,
        item: Option<u32>,
        after: Option<&CopyCursor>,
        limit: usize,
    ) -> Result<Vec<(CopyCursor, ProvisionCopy)>, StoreError>;
}

/// The whole registry of one tenant, as the gateway holds it.
pub trait Registry: AddressNumbers + Symbols + Copies {}

impl<T: AddressNumbers + Symbols + Copies> Registry for T {}

/// The registry on sled: one tree per kind under the tenant's prefix (docs/storage.md).
#[derive(Clone, Debug)]
pub struct SledRegistry {
    db: TenantStore,
    uans: Tree,
    symbols: Tree,
    symbol_index: Tree,
    acquisitions: Tree,
    copies: Tree,
}

impl TenantStore {
    /// This tenant's registry.
    pub fn registry(&self) -> Result<SledRegistry, StoreError> {
        Ok(SledRegistry {
            db: self.clone(),
            uans: self.tree(TreeKind::AddressNumbers)?,
            symbols: self.tree(TreeKind::Symbols)?,
            symbol_index: self.tree(TreeKind::SymbolIndex)?,
            acquisitions: self.tree(TreeKind::Acquisitions)?,
            copies: self.tree(TreeKind::Copies)?,
        })
    }
}

fn copy_key(item: u32, uan: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + uan.len());
    k.extend_from_slice(&item.to_be_bytes());
    k.extend_from_slice(uan.as_bytes());
    k
}

fn parse_copy_key(key: &[u8]) -> Result<CopyCursor, StoreError> {
    let corrupt = || StoreError::Corrupt("provision copy key".into());
    let (item, uan) = key.split_at_checked(4).ok_or_else(corrupt)?;
    let item = u32::from_be_bytes(item.try_into().map_err(|_| corrupt())?);
    let uan = std::str::from_utf8(uan).map_err(|_| corrupt())?;
    let uan = UnifiedAddressNumber::parse(uan).map_err(|_| corrupt())?;
    Ok(CopyCursor { item, uan })
}

fn decode<M: prost::Message + Default>(what: &str, bytes: &[u8]) -> Result<M, StoreError> {
    M::decode(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

#[async_trait]
impl Commit for SledRegistry {
    async fn commit(&self) -> Result<(), StoreError> {
        self.db.commit().await
    }
}

#[async_trait]
impl AddressNumbers for SledRegistry {
    async fn register(&self, uan: &UnifiedAddressNumber, at_ms: i64) -> Result<bool, StoreError> {
        let at = at_ms.to_be_bytes();
        let prev = self
            .uans
            .compare_and_swap(uan.as_str(), None::<&[u8]>, Some(&at[..]))?;
        Ok(prev.is_ok())
    }

    async fn register_many(
        &self,
        uans: &[UnifiedAddressNumber],
        at_ms: i64,
    ) -> Result<BatchReport, StoreError> {
        // One batch, as before the trait: a repeat rewrites the registration time, which
        // nothing reads, rather than costing a read per number.
        let at = at_ms.to_be_bytes();
        let mut batch = Batch::default();
        for uan in uans {
            batch.insert(uan.as_str(), &at[..]);
        }
        self.uans.apply_batch(batch)?;
        Ok(BatchReport {
            accepted: uans.len() as u64,
            rejected: Vec::new(),
        })
    }

    async fn is_registered(&self, uan: &UnifiedAddressNumber) -> Result<bool, StoreError> {
        Ok(self.uans.contains_key(uan.as_str())?)
    }

    async fn registered_count(&self) -> Result<u64, StoreError> {
        Ok(self.uans.len() as u64)
    }
}

#[async_trait]
impl Symbols for SledRegistry {
    async fn symbol_of(&self, uan: &UnifiedAddressNumber) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.symbols.get(uan.as_str())?.map(|v| v.to_vec()))
    }

    async fn person_of(&self, symbol: &[u8]) -> Result<Option<UnifiedAddressNumber>, StoreError> {
        match self.symbol_index.get(symbol)? {
            None => Ok(None),
            Some(v) => {
                let s = std::str::from_utf8(&v)
                    .map_err(|_| StoreError::Corrupt("symbol index entry".into()))?;
                UnifiedAddressNumber::parse(s)
                    .map(Some)
                    .map_err(|_| StoreError::Corrupt("symbol index entry".into()))
            }
        }
    }

    async fn link(&self, links: &[(UnifiedAddressNumber, Vec<u8>)]) -> Result<(), StoreError> {
        if links.is_empty() {
            return Ok(());
        }
        (&self.symbols, &self.symbol_index)
            .transaction(|(symbols, index)| {
                for (uan, symbol) in links {
                    if let Some(old) = symbols.insert(uan.as_str(), symbol.as_slice())?
                        && old.as_ref() != symbol.as_slice()
                    {
                        index.remove(old)?;
                    }
                    index.insert(symbol.as_slice(), uan.as_str())?;
                }
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::Sled(e),
            })
    }

    async fn save_acquisitions(&self, acquisitions: &[Acquisition]) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        for a in acquisitions {
            let stored = Acquisition {
                index: 0,
                ..a.clone()
            };
            batch.insert(a.processing_serial.as_str(), stored.encode_to_vec());
        }
        self.acquisitions.apply_batch(batch)?;
        Ok(())
    }

    async fn acquisition(
        &self,
        processing_serial: &str,
    ) -> Result<Option<Acquisition>, StoreError> {
        match self.acquisitions.get(processing_serial)? {
            Some(v) => Ok(Some(decode("acquisition", &v)?)),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl Copies for SledRegistry {
    async fn put_copy(&self, row: CopyRow) -> Result<CopyWrite, StoreError> {
        if !self.uans.contains_key(row.uan.as_str())? {
            return Ok(CopyWrite::Refused(Rejection::NotRegistered));
        }
        // Registrations are never undone, so the check above cannot go stale.
        let old = self
            .copies
            .insert(copy_key(row.item, row.uan.as_str()), row.encoded)?;
        Ok(if old.is_some() {
            CopyWrite::Replaced
        } else {
            CopyWrite::Inserted
        })
    }

    async fn put_copies(&self, rows: Vec<CopyRow>) -> Result<BatchReport, StoreError> {
        let mut report = BatchReport::default();
        let mut batch = Batch::default();
        for (position, row) in rows.into_iter().enumerate() {
            if self.uans.contains_key(row.uan.as_str())? {
                batch.insert(copy_key(row.item, row.uan.as_str()), row.encoded);
                report.accepted += 1;
            } else {
                report.rejected.push(Rejected {
                    position,
                    reason: Rejection::NotRegistered,
                });
            }
        }
        self.copies.apply_batch(batch)?;
        Ok(report)
    }

    async fn copy(
        &self,
        item: u32,
        uan: &UnifiedAddressNumber,
    ) -> Result<Option<ProvisionCopy>, StoreError> {
        match self.copies.get(copy_key(item, uan.as_str()))? {
            Some(v) => Ok(Some(decode("provision copy", &v)?)),
            None => Ok(None),
        }
    }

    async fn delete_copy(&self, item: u32, uan: &UnifiedAddressNumber) -> Result<bool, StoreError> {
        Ok(self.copies.remove(copy_key(item, uan.as_str()))?.is_some())
    }

    async fn copy_count(&self) -> Result<u64, StoreError> {
        Ok(self.copies.len() as u64)
    }

    async fn copies_page(
        &self,
        item: Option<u32>,
        after: Option<&CopyCursor>,
        limit: usize,
    ) -> Result<Vec<(CopyCursor, ProvisionCopy)>, StoreError> {
        use std::ops::Bound;
        let start = match (after, item) {
            (Some(c), Some(i)) if c.item > i => return Ok(Vec::new()),
            (Some(c), Some(i)) if c.item < i => Bound::Included(i.to_be_bytes().to_vec()),
            (Some(c), _) => Bound::Excluded(copy_key(c.item, c.uan.as_str())),
            (None, Some(i)) => Bound::Included(i.to_be_bytes().to_vec()),
            (None, None) => Bound::Unbounded,
        };
        let end = match item.and_then(|i| i.checked_add(1)) {
            Some(next) => Bound::Excluded(next.to_be_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::with_capacity(limit.min(4096));
        for kv in self.copies.range::<Vec<u8>, _>((start, end)) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = kv?;
            let cursor = parse_copy_key(&k)?;
            if item.is_some_and(|i| i != cursor.item) {
                // Only reachable for the last item number, whose range has no end bound.
                break;
            }
            out.push((cursor, decode("provision copy", &v)?));
        }
        Ok(out)
    }
}
