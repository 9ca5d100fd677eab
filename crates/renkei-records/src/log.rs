//! The record book's Merkle log as the gRPC `RecordLog` service presents it: signed tree
//! heads and RFC 9162 proofs. Blocking (signing a head fsyncs), so servers call these
//! from `spawn_blocking`.

use prost::Message as _;
use renkei_proto::v1::{ConsistencyProof, InclusionProof, SignedTreeHead, TreeHead};

use crate::{RecordBook, RecordError};

/// A head's timestamp is informational (verification never compares it with a clock), so
/// the book signs with the system clock rather than carrying an injected one.
fn now_ms() -> i64 {
    renkei_core::Clock::now_ms(&renkei_core::SystemClock)
}

impl RecordBook {
    /// The latest signed tree head; a new one if `fresh` and the log grew, or if none
    /// was ever signed.
    pub fn tree_head(&self, fresh: bool) -> Result<SignedTreeHead, RecordError> {
        match self.ledger().latest_head() {
            Some(h) if !fresh => Ok(h),
            _ => Ok(self.ledger().sign_head(now_ms())?),
        }
    }

    /// Signs a head if the log grew since the last one (the periodic publication).
    pub fn publish_tree_head(&self) -> Result<(), RecordError> {
        self.ledger().sign_head(now_ms())?;
        Ok(())
    }

    /// `0` means "the size of the latest signed head".
    fn resolve_size(&self, size: u64) -> Result<u64, RecordError> {
        if size != 0 {
            return Ok(size);
        }
        let signed = self.tree_head(false)?;
        let head =
            TreeHead::decode(signed.tree_head.as_slice()).map_err(|e| RecordError::Decode {
                seq: 0,
                reason: format!("tree head: {e}"),
            })?;
        Ok(head.tree_size)
    }

    /// The audit path of record `leaf`; with `with_entry`, the entry's exact bytes too.
    pub fn inclusion_proof(
        &self,
        leaf: u64,
        tree_size: u64,
        with_entry: bool,
    ) -> Result<InclusionProof, RecordError> {
        let tree_size = self.resolve_size(tree_size)?;
        let path = self.ledger().inclusion_proof(leaf, tree_size)?;
        let entry = if with_entry {
            self.ledger().get(leaf)?.unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(InclusionProof {
            leaf_index: leaf,
            tree_size,
            audit_path: path.iter().map(|h| h.to_vec()).collect(),
            leaf_hash: self.ledger().leaf_hash_of(leaf)?.to_vec(),
            entry,
        })
    }

    pub fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<ConsistencyProof, RecordError> {
        let second = self.resolve_size(second)?;
        let proof = self.ledger().consistency_proof(first, second)?;
        Ok(ConsistencyProof {
            first,
            second,
            proof: proof.iter().map(|h| h.to_vec()).collect(),
        })
    }
}
