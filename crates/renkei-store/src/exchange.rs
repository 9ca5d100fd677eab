//! The exchange state of one gateway tenant: inquiries with their idempotency keys,
//! permits waiting for a late answer, permits seen once (replay protection), held and
//! deferred answers, and auto-response-block flags (自動応答不可フラグ).
//!
//! The trait says what the exchange needs and nothing of sled; a second engine (issue 14)
//! implements it and passes [`crate::conformance::exchange`]. A handle is one tenant's,
//! from [`crate::TenantStore::exchange`], so no call can reach another tenant's rows.
//!
//! Durability is the registry's: a write is visible when its method returns and on disk
//! once a later [`Commit::commit`] returns (group commit).

use async_trait::async_trait;
use prost::Message as _;
use renkei_proto::v1::{DeliverLateAnswerRequest, Flag, HeldInquiry, Inquiry};
use sled::Tree;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional as _};

use crate::registry::Commit;
use crate::{StoreError, TenantStore, TreeKind};

/// What claiming an idempotency key did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key was free: the PENDING inquiry is stored under it.
    Claimed,
    /// The key was taken by this inquiry first; nothing was stored.
    Existing(String),
}

/// A held provision (waiting for an operator) or a deferred answer (delivered when due).
#[derive(Clone, Debug, PartialEq)]
pub struct HeldEntry {
    pub held: HeldInquiry,
    pub deferred: bool,
    pub ready_at_ms: i64,
    /// A decided answer stored but not yet taken by the hub: the gateway stores the
    /// decision before it sends, so a crash or an unreachable hub leaves this for the
    /// sweep to send again (the same sealed bytes, so the record's hash still holds).
    pub unsent: Option<DeliverLateAnswerRequest>,
}

/// The stored form of a [`HeldEntry`], unchanged from before the trait (docs/storage.md).
#[derive(Clone, PartialEq, prost::Message)]
struct StoredHeld {
    #[prost(message, optional, tag = "1")]
    held: Option<HeldInquiry>,
    #[prost(bool, tag = "2")]
    deferred: bool,
    #[prost(int64, tag = "3")]
    ready_at_ms: i64,
    #[prost(message, optional, tag = "4")]
    unsent: Option<DeliverLateAnswerRequest>,
}

/// Inquiries sent by this tenant.
#[async_trait]
pub trait Inquiries: Commit {
    /// Claims the inquiry's idempotency key and stores it, at once: no reader sees the key
    /// without its inquiry, and of two concurrent claims exactly one stores.
    async fn claim(&self, inquiry: &Inquiry) -> Result<Claim, StoreError>;
    /// The inquiry a key was claimed for.
    async fn claimed_by(&self, idempotency_key: &str) -> Result<Option<String>, StoreError>;
    async fn inquiry(&self, inquiry_id: &str) -> Result<Option<Inquiry>, StoreError>;
    /// Replaces a stored inquiry (its state moved).
    async fn save_inquiry(&self, inquiry: &Inquiry) -> Result<(), StoreError>;
    /// Inquiries in id (= submission time) order after `after` (all if empty), at most `limit`.
    async fn inquiries_after(&self, after: &str, limit: usize) -> Result<Vec<Inquiry>, StoreError>;
    /// Deletes an inquiry and frees its idempotency key (retention).
    async fn delete_inquiry(&self, inquiry: &Inquiry) -> Result<(), StoreError>;
    /// Remembers which inquiry waits for a late answer under a permit.
    async fn await_answer(&self, permit_id: &str, inquiry_id: &str) -> Result<(), StoreError>;
    async fn awaiting(&self, permit_id: &str) -> Result<Option<String>, StoreError>;
    async fn answered(&self, permit_id: &str) -> Result<(), StoreError>;
}

/// Permits this tenant received as provider: each may be used once.
#[async_trait]
pub trait SeenPermits: Commit {
    /// `true` for the first claim of a permit id, `false` for every later one.
    async fn claim_permit(&self, permit_id: &str, expires_at_ms: i64) -> Result<bool, StoreError>;
    /// Forgets permits that expired before `expired_before_ms`; how many.
    async fn forget_permits(&self, expired_before_ms: i64) -> Result<u64, StoreError>;
}

/// Held and deferred provisions, by permit id.
#[async_trait]
pub trait HeldAnswers: Commit {
    async fn put_held(&self, entry: &HeldEntry) -> Result<(), StoreError>;
    async fn held(&self, permit_id: &str) -> Result<Option<HeldEntry>, StoreError>;
    async fn all_held(&self) -> Result<Vec<HeldEntry>, StoreError>;
    /// `true` if there was an entry.
    async fn delete_held(&self, permit_id: &str) -> Result<bool, StoreError>;
}

/// Auto-response-block flags, per (person, item); item 0 blocks every item of the person.
#[async_trait]
pub trait Flags: Commit {
    async fn put_flag(&self, flag: &Flag) -> Result<(), StoreError>;
    /// `true` if there was a flag.
    async fn remove_flag(&self, uan: &str, item: u32) -> Result<bool, StoreError>;
    /// The person's flags (all persons' if `uan` is empty), in (person, item) order.
    async fn flags(&self, uan: &str) -> Result<Vec<Flag>, StoreError>;
    /// The flag that blocks this item of the person: a whole-person flag first.
    async fn flag_for(&self, uan: &str, item: u32) -> Result<Option<Flag>, StoreError>;
}

/// All the exchange state of one tenant, as the gateway holds it.
pub trait ExchangeStore: Inquiries + SeenPermits + HeldAnswers + Flags {}

impl<T: Inquiries + SeenPermits + HeldAnswers + Flags> ExchangeStore for T {}

/// The exchange state on sled, in the trees it always used (docs/storage.md).
#[derive(Clone, Debug)]
pub struct SledExchange {
    db: TenantStore,
    inquiries: Tree,
    idempotency: Tree,
    seen_permits: Tree,
    meta: Tree,
    flags: Tree,
    held: Tree,
}

impl TenantStore {
    /// This tenant's exchange state.
    pub fn exchange(&self) -> Result<SledExchange, StoreError> {
        Ok(SledExchange {
            db: self.clone(),
            inquiries: self.tree(TreeKind::Inquiries)?,
            idempotency: self.tree(TreeKind::IdempotencyKeys)?,
            seen_permits: self.tree(TreeKind::SeenPermits)?,
            meta: self.tree(TreeKind::Meta)?,
            flags: self.tree(TreeKind::Flags)?,
            held: self.tree(TreeKind::Held)?,
        })
    }
}

const PERMIT_PREFIX: &str = "permit/";

fn permit_key(permit_id: &str) -> Vec<u8> {
    format!("{PERMIT_PREFIX}{permit_id}").into_bytes()
}

fn flag_key(uan: &str, item: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(uan.len() + 5);
    k.extend_from_slice(uan.as_bytes());
    k.push(b'/');
    k.extend_from_slice(&item.to_be_bytes());
    k
}

fn corrupt(what: &str) -> impl Fn(prost::DecodeError) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

fn decode_held(v: &[u8]) -> Result<Option<HeldEntry>, StoreError> {
    let s = StoredHeld::decode(v).map_err(corrupt("held answer"))?;
    Ok(s.held.map(|held| HeldEntry {
        held,
        deferred: s.deferred,
        ready_at_ms: s.ready_at_ms,
        unsent: s.unsent,
    }))
}

#[async_trait]
impl Commit for SledExchange {
    async fn commit(&self) -> Result<(), StoreError> {
        self.db.commit().await
    }
}

#[async_trait]
impl Inquiries for SledExchange {
    async fn claim(&self, inquiry: &Inquiry) -> Result<Claim, StoreError> {
        let key = inquiry.idempotency_key.as_bytes();
        let id = inquiry.inquiry_id.as_bytes();
        let value = inquiry.encode_to_vec();
        let r = (&self.idempotency, &self.inquiries).transaction(|(idem, inq)| {
            if let Some(existing) = idem.get(key)? {
                return Ok(Claim::Existing(
                    String::from_utf8_lossy(&existing).into_owned(),
                ));
            }
            idem.insert(key, id)?;
            inq.insert(id, value.as_slice())?;
            Ok::<_, ConflictableTransactionError<()>>(Claim::Claimed)
        });
        match r {
            Ok(c) => Ok(c),
            Err(TransactionError::Storage(e)) => Err(e.into()),
            Err(TransactionError::Abort(())) => Err(StoreError::Corrupt("claim aborted".into())),
        }
    }

    async fn claimed_by(&self, idempotency_key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .idempotency
            .get(idempotency_key.as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    async fn inquiry(&self, inquiry_id: &str) -> Result<Option<Inquiry>, StoreError> {
        self.inquiries
            .get(inquiry_id.as_bytes())?
            .map(|v| Inquiry::decode(v.as_ref()).map_err(corrupt("inquiry")))
            .transpose()
    }

    async fn save_inquiry(&self, inquiry: &Inquiry) -> Result<(), StoreError> {
        self.inquiries
            .insert(inquiry.inquiry_id.as_bytes(), inquiry.encode_to_vec())?;
        Ok(())
    }

    async fn inquiries_after(&self, after: &str, limit: usize) -> Result<Vec<Inquiry>, StoreError> {
        let range = if after.is_empty() {
            self.inquiries.range::<&[u8], _>(..)
        } else {
            self.inquiries.range::<&[u8], _>((
                std::ops::Bound::Excluded(after.as_bytes()),
                std::ops::Bound::Unbounded,
            ))
        };
        range
            .take(limit)
            .map(|r| {
                let (_, v) = r?;
                Inquiry::decode(v.as_ref()).map_err(corrupt("inquiry"))
            })
            .collect()
    }

    async fn delete_inquiry(&self, inquiry: &Inquiry) -> Result<(), StoreError> {
        self.inquiries.remove(inquiry.inquiry_id.as_bytes())?;
        // Only the key's own claim is freed: a key reused after a purge belongs to another.
        let _ = self.idempotency.compare_and_swap(
            inquiry.idempotency_key.as_bytes(),
            Some(inquiry.inquiry_id.as_bytes()),
            None::<&[u8]>,
        )?;
        Ok(())
    }

    async fn await_answer(&self, permit_id: &str, inquiry_id: &str) -> Result<(), StoreError> {
        self.meta
            .insert(permit_key(permit_id), inquiry_id.as_bytes())?;
        Ok(())
    }

    async fn awaiting(&self, permit_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .meta
            .get(permit_key(permit_id))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    async fn answered(&self, permit_id: &str) -> Result<(), StoreError> {
        self.meta.remove(permit_key(permit_id))?;
        Ok(())
    }
}

#[async_trait]
impl SeenPermits for SledExchange {
    async fn claim_permit(&self, permit_id: &str, expires_at_ms: i64) -> Result<bool, StoreError> {
        Ok(self
            .seen_permits
            .compare_and_swap(
                permit_id.as_bytes(),
                None::<&[u8]>,
                Some(&expires_at_ms.to_be_bytes()[..]),
            )?
            .is_ok())
    }

    async fn forget_permits(&self, expired_before_ms: i64) -> Result<u64, StoreError> {
        let mut n = 0;
        for item in self.seen_permits.iter() {
            let (k, v) = item?;
            // An unreadable expiry is kept: forgetting it would allow a replay.
            let expiry = <[u8; 8]>::try_from(v.as_ref())
                .map(i64::from_be_bytes)
                .unwrap_or(i64::MAX);
            if expiry < expired_before_ms {
                self.seen_permits.remove(k)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

#[async_trait]
impl HeldAnswers for SledExchange {
    async fn put_held(&self, entry: &HeldEntry) -> Result<(), StoreError> {
        let stored = StoredHeld {
            held: Some(entry.held.clone()),
            deferred: entry.deferred,
            ready_at_ms: entry.ready_at_ms,
            unsent: entry.unsent.clone(),
        };
        self.held
            .insert(entry.held.permit_id.as_bytes(), stored.encode_to_vec())?;
        Ok(())
    }

    async fn held(&self, permit_id: &str) -> Result<Option<HeldEntry>, StoreError> {
        match self.held.get(permit_id.as_bytes())? {
            Some(v) => decode_held(v.as_ref()),
            None => Ok(None),
        }
    }

    async fn all_held(&self) -> Result<Vec<HeldEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self.held.iter() {
            let (_, v) = item?;
            out.extend(decode_held(v.as_ref())?);
        }
        Ok(out)
    }

    async fn delete_held(&self, permit_id: &str) -> Result<bool, StoreError> {
        Ok(self.held.remove(permit_id.as_bytes())?.is_some())
    }
}

#[async_trait]
impl Flags for SledExchange {
    async fn put_flag(&self, flag: &Flag) -> Result<(), StoreError> {
        self.flags.insert(
            flag_key(&flag.unified_address_number, flag.item),
            flag.encode_to_vec(),
        )?;
        Ok(())
    }

    async fn remove_flag(&self, uan: &str, item: u32) -> Result<bool, StoreError> {
        Ok(self.flags.remove(flag_key(uan, item))?.is_some())
    }

    async fn flags(&self, uan: &str) -> Result<Vec<Flag>, StoreError> {
        let iter = if uan.is_empty() {
            self.flags.iter()
        } else {
            let mut prefix = uan.as_bytes().to_vec();
            prefix.push(b'/');
            self.flags.scan_prefix(prefix)
        };
        iter.map(|r| {
            let (_, v) = r?;
            Flag::decode(v.as_ref()).map_err(corrupt("flag"))
        })
        .collect()
    }

    async fn flag_for(&self, uan: &str, item: u32) -> Result<Option<Flag>, StoreError> {
        for key in [flag_key(uan, 0), flag_key(uan, item)] {
            if let Some(v) = self.flags.get(key)? {
                return Ok(Some(Flag::decode(v.as_ref()).map_err(corrupt("flag"))?));
            }
        }
        Ok(None)
    }
}
