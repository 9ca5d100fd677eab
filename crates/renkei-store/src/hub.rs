//! What the hub keeps besides its record log: the exchanges waiting for a late answer,
//! and the version of the master data it last published.
//!
//! The hub holds no person data of its own (symbols are derived, not looked up), so this
//! is all of its state; the record log stays in `renkei-records`' `RecordBook`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use prost::Message as _;
use renkei_proto::v1::{ExchangeRecord, WitnessedHead};

use crate::{Store, StoreError, Tree};

/// An exchange held or deferred at its provider: the hub's relay record of it, kept until
/// the provider's late answer comes, so the hub knows where to send it and what to record.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAnswer {
    pub permit_id: String,
    /// The hub's record of the exchange as it stood when the provider answered `Pending`.
    pub record: ExchangeRecord,
    /// The hub stops waiting at this time: [`HubStore::expire_pending`] forgets it.
    pub keep_until_ms: i64,
}

/// The hub's state. Every write is durable when it returns: the hub answers `Pending` to
/// an inquirer only once the exchange is stored, and a late answer must find it after a
/// restart.
#[async_trait]
pub trait HubStore: Send + Sync + fmt::Debug {
    /// Keeps `pending` under its permit id, replacing any earlier entry for that permit.
    async fn put_pending(&self, pending: PendingAnswer) -> Result<(), StoreError>;

    /// The exchange waiting under `permit_id`, left in place.
    async fn pending(&self, permit_id: &str) -> Result<Option<PendingAnswer>, StoreError>;

    /// Removes and returns the exchange waiting under `permit_id`. Of concurrent callers,
    /// exactly one gets it: the late answer is recorded once even if it is sent twice.
    async fn take_pending(&self, permit_id: &str) -> Result<Option<PendingAnswer>, StoreError>;

    /// Forgets every exchange whose `keep_until_ms` is at or before `now_ms`; returns how
    /// many were forgotten.
    async fn expire_pending(&self, now_ms: i64) -> Result<u64, StoreError>;

    /// The master data version last published (0 before the first).
    async fn master_version(&self) -> Result<u64, StoreError>;

    async fn set_master_version(&self, version: u64) -> Result<(), StoreError>;

    /// The head last witnessed for `log_id` (a tenant's record log), if any. The hub
    /// compares each new head with it, so a log rolled back to an earlier state is caught.
    ///
    /// Provided so that a backend written before the witness existed still builds; it
    /// refuses rather than pretending nothing was witnessed. Every backend should
    /// implement both witness methods (see `conformance::hub`).
    async fn witnessed_head(&self, log_id: &str) -> Result<Option<WitnessedHead>, StoreError> {
        Err(witness_unsupported(log_id))
    }

    /// Stores `new` as the head witnessed for `log_id`, only if the head stored now is
    /// still `expected` (`None`: none yet). Returns whether it was stored: of two
    /// concurrent witnesses of one log, the one that read an outdated head loses and must
    /// check again, so the witnessed size can never go back.
    async fn replace_witnessed_head(
        &self,
        log_id: &str,
        expected: Option<&WitnessedHead>,
        new: &WitnessedHead,
    ) -> Result<bool, StoreError> {
        let _ = (expected, new);
        Err(witness_unsupported(log_id))
    }
}

fn witness_unsupported(log_id: &str) -> StoreError {
    StoreError::Backend {
        transient: false,
        source: format!("this storage backend keeps no witnessed heads (log {log_id})").into(),
    }
}

/// The shared handle the hub keeps.
pub type SharedHubStore = Arc<dyn HubStore>;

/// The hub's state in sled: trees `g/pending` and `g/meta`, as before the trait existed.
#[derive(Debug, Clone)]
pub struct SledHubStore {
    store: Store,
    pending: Tree,
    meta: Tree,
    witnessed: Tree,
}

const MASTER_VERSION: &[u8] = b"master-version";
/// Leading byte of a pending value that carries its keep-until time. Written before that
/// existed, a value was the bare record, and an encoded `ExchangeRecord` never starts with
/// 0x01 (that would be field number 0).
const PENDING_V1: u8 = 0x01;

impl SledHubStore {
    pub fn open(store: &Store) -> Result<SledHubStore, StoreError> {
        Ok(SledHubStore {
            store: store.clone(),
            pending: store.global("pending")?,
            meta: store.global("meta")?,
            witnessed: store.global("witnessed")?,
        })
    }

    /// A shared handle, for wiring.
    pub fn shared(store: &Store) -> Result<SharedHubStore, StoreError> {
        Ok(Arc::new(SledHubStore::open(store)?))
    }

    fn encode(p: &PendingAnswer) -> Vec<u8> {
        let mut v = Vec::with_capacity(9 + p.record.encoded_len());
        v.push(PENDING_V1);
        v.extend_from_slice(&p.keep_until_ms.to_be_bytes());
        p.record.encode(&mut v).unwrap_or_default();
        v
    }

    fn decode(permit_id: &str, bytes: &[u8]) -> Result<PendingAnswer, StoreError> {
        let corrupt = |e: String| StoreError::Corrupt(format!("pending exchange {permit_id}: {e}"));
        let (keep_until_ms, record) = match bytes.split_first() {
            Some((&PENDING_V1, rest)) if rest.len() >= 8 => {
                let (at, record) = rest.split_at(8);
                let at = <[u8; 8]>::try_from(at).map_err(|e| corrupt(e.to_string()))?;
                (i64::from_be_bytes(at), record)
            }
            Some((&PENDING_V1, _)) => return Err(corrupt("truncated".into())),
            // Stored before keep-until existed: kept until answered.
            _ => (i64::MAX, bytes),
        };
        Ok(PendingAnswer {
            permit_id: permit_id.to_owned(),
            record: ExchangeRecord::decode(record).map_err(|e| corrupt(e.to_string()))?,
            keep_until_ms,
        })
    }

    fn keep_until(bytes: &[u8]) -> i64 {
        match bytes.split_first() {
            Some((&PENDING_V1, rest)) => rest
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(i64::MAX, i64::from_be_bytes),
            _ => i64::MAX,
        }
    }
}

#[async_trait]
impl HubStore for SledHubStore {
    async fn put_pending(&self, pending: PendingAnswer) -> Result<(), StoreError> {
        self.pending
            .insert(pending.permit_id.as_bytes(), Self::encode(&pending))?;
        self.store.commit().await
    }

    async fn pending(&self, permit_id: &str) -> Result<Option<PendingAnswer>, StoreError> {
        self.pending
            .get(permit_id.as_bytes())?
            .map(|v| Self::decode(permit_id, &v))
            .transpose()
    }

    async fn take_pending(&self, permit_id: &str) -> Result<Option<PendingAnswer>, StoreError> {
        // sled's remove is atomic: one caller sees the old value, the others None.
        let Some(v) = self.pending.remove(permit_id.as_bytes())? else {
            return Ok(None);
        };
        self.store.commit().await?;
        Self::decode(permit_id, &v).map(Some)
    }

    async fn expire_pending(&self, now_ms: i64) -> Result<u64, StoreError> {
        let mut expired = 0;
        for entry in self.pending.iter() {
            let (key, value) = entry?;
            if Self::keep_until(&value) <= now_ms
                // Only if unchanged since read: a concurrent put wins.
                && self
                    .pending
                    .compare_and_swap(&key, Some(&value), None::<&[u8]>)?
                    .is_ok()
            {
                expired += 1;
            }
        }
        if expired > 0 {
            self.store.commit().await?;
        }
        Ok(expired)
    }

    async fn master_version(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(MASTER_VERSION)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    async fn set_master_version(&self, version: u64) -> Result<(), StoreError> {
        self.meta.insert(MASTER_VERSION, &version.to_be_bytes())?;
        self.store.commit().await
    }

    async fn witnessed_head(&self, log_id: &str) -> Result<Option<WitnessedHead>, StoreError> {
        self.witnessed
            .get(log_id.as_bytes())?
            .map(|v| {
                WitnessedHead::decode(v.as_ref()).map_err(|e| {
                    StoreError::Corrupt(format!("witnessed head of log {log_id}: {e}"))
                })
            })
            .transpose()
    }

    async fn replace_witnessed_head(
        &self,
        log_id: &str,
        expected: Option<&WitnessedHead>,
        new: &WitnessedHead,
    ) -> Result<bool, StoreError> {
        // Compared as stored bytes: prost encodes a message deterministically, and what is
        // stored was written by this same encoding.
        let old = expected.map(|h| h.encode_to_vec());
        let swapped = self
            .witnessed
            .compare_and_swap(log_id.as_bytes(), old, Some(new.encode_to_vec()))?
            .is_ok();
        if swapped {
            self.store.commit().await?;
        }
        Ok(swapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_value_written_before_keep_until_still_reads() {
        let record = ExchangeRecord {
            permit_id: "p-1".into(),
            inquirer: "011002".into(),
            ..Default::default()
        };
        let legacy = record.encode_to_vec();
        let p = SledHubStore::decode("p-1", &legacy).unwrap();
        assert_eq!(p.record, record);
        assert_eq!(p.keep_until_ms, i64::MAX);
        assert_eq!(SledHubStore::keep_until(&legacy), i64::MAX);

        let now = PendingAnswer {
            permit_id: "p-1".into(),
            record,
            keep_until_ms: 42,
        };
        let v = SledHubStore::encode(&now);
        assert_eq!(SledHubStore::decode("p-1", &v).unwrap(), now);
        assert_eq!(SledHubStore::keep_until(&v), 42);
        assert!(SledHubStore::decode("p-1", &v[..5]).is_err());
    }
}
