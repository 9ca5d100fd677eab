//! The outside witness against rollback (issue 12).
//!
//! A log keeper can always restore an older copy of its own log: every head in that copy
//! is still validly signed, so no check of the log alone can tell. The hub therefore keeps
//! each tenant's latest head, accepts a new one only if its tree extends the one it kept
//! (an RFC 9162 consistency proof), and countersigns it. A log found on disk behind, or
//! beside, what the hub witnessed was rolled back or rewritten.
//!
//! These are the pure rules, shared by the hub (which enforces them) and `renkei ledger
//! verify --witness` (which checks a log against them).

use std::path::Path;

use renkei_crypto::{CryptoError, SigningKey, VerifyingKey};
use renkei_proto::v1::{SignedTreeHead, TreeHead, WitnessedHead};

use crate::LedgerError;
use crate::merkle::{Hash, verify_consistency};
use crate::segment::FrameKey;
use crate::verify::{VerifyReport, verify_log_at};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const WITNESS_CONTEXT: &[u8] = b"renkei/v1/witnessed-head\0";

fn cosigned_message(tree_head: &[u8], at_ms: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(WITNESS_CONTEXT.len() + tree_head.len() + 8);
    m.extend_from_slice(WITNESS_CONTEXT);
    m.extend_from_slice(tree_head);
    m.extend_from_slice(&at_ms.to_be_bytes());
    m
}

/// The hub's countersignature over a keeper's head, at `at_ms`.
pub fn cosign(hub: &SigningKey, head: SignedTreeHead, at_ms: i64) -> WitnessedHead {
    let cosignature = hub.sign(&cosigned_message(&head.tree_head, at_ms)).to_vec();
    WitnessedHead {
        head: Some(head),
        witnessed_at_ms: at_ms,
        cosignature,
        key_id: hub.key_id().to_vec(),
    }
}

/// Checks the hub's countersignature, then the keeper's signature, and returns the head.
pub fn verify_witnessed(
    hub: Option<&VerifyingKey>,
    keeper: &VerifyingKey,
    witnessed: &WitnessedHead,
) -> Result<TreeHead, CryptoError> {
    let head = witnessed.head.as_ref().ok_or(CryptoError::Malformed {
        what: "witnessed head",
        reason: "no tree head".into(),
    })?;
    if let Some(hub) = hub {
        if witnessed.key_id.as_slice() != hub.key_id() {
            return Err(CryptoError::UnknownKey {
                found: hex(&witnessed.key_id),
                expected: hex(&hub.key_id()),
            });
        }
        hub.verify(
            &cosigned_message(&head.tree_head, witnessed.witnessed_at_ms),
            &witnessed.cosignature,
        )?;
    }
    renkei_crypto::verify_tree_head(keeper, head)
}

/// Why a witness refuses a new head. Messages name both sizes, since that is what an
/// operator compares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("the head is for log {got}, not {want}")]
    OtherLog { want: String, got: String },
    #[error(
        "the head covers {new} records, fewer than the {witnessed} already witnessed: the log was rolled back"
    )]
    Smaller { witnessed: u64, new: u64 },
    #[error(
        "the head covers the same {size} records as the witnessed head but has another root: the log was rewritten"
    )]
    Forked { size: u64 },
    #[error(
        "the consistency proof from {from} to {to} records was asked for from {witnessed} (the size witnessed)"
    )]
    WrongProofStart { from: u64, to: u64, witnessed: u64 },
    #[error(
        "the tree of {new} records does not extend the {witnessed} witnessed: the consistency proof fails, so the log was rewritten"
    )]
    Inconsistent { witnessed: u64, new: u64 },
}

fn hash(bytes: &[u8]) -> Option<Hash> {
    <Hash>::try_from(bytes).ok()
}

/// Whether `new` may replace `witnessed` (the last head kept for this log), given a
/// consistency proof from `from_size`. A first head (`witnessed` is `None`) is taken as
/// is: trust on first use, as for any witness.
pub fn check_extends(
    witnessed: Option<&TreeHead>,
    new: &TreeHead,
    from_size: u64,
    proof: &[Vec<u8>],
) -> Result<(), Refusal> {
    let Some(old) = witnessed else {
        return Ok(());
    };
    if old.log_id != new.log_id {
        return Err(Refusal::OtherLog {
            want: old.log_id.clone(),
            got: new.log_id.clone(),
        });
    }
    if new.tree_size < old.tree_size {
        return Err(Refusal::Smaller {
            witnessed: old.tree_size,
            new: new.tree_size,
        });
    }
    if new.tree_size == old.tree_size {
        return if new.root_hash == old.root_hash {
            Ok(())
        } else {
            Err(Refusal::Forked {
                size: new.tree_size,
            })
        };
    }
    let inconsistent = Refusal::Inconsistent {
        witnessed: old.tree_size,
        new: new.tree_size,
    };
    if old.tree_size == 0 {
        return Ok(());
    }
    if from_size != old.tree_size {
        return Err(Refusal::WrongProofStart {
            from: from_size,
            to: new.tree_size,
            witnessed: old.tree_size,
        });
    }
    let (Some(old_root), Some(new_root)) = (hash(&old.root_hash), hash(&new.root_hash)) else {
        return Err(inconsistent);
    };
    let proof: Option<Vec<Hash>> = proof.iter().map(|p| hash(p)).collect();
    let Some(proof) = proof else {
        return Err(inconsistent);
    };
    if verify_consistency(old.tree_size, new.tree_size, &proof, &old_root, &new_root) {
        Ok(())
    } else {
        Err(inconsistent)
    }
}

/// How a log on disk stands against a witnessed head.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WitnessCheck {
    /// The log holds the witnessed tree (same root at that size), and perhaps more.
    Consistent { witnessed: u64, records: u64 },
    /// The log holds fewer records than were witnessed: it was rolled back.
    Behind { witnessed: u64, records: u64 },
    /// The log's first `witnessed` records are not the ones witnessed: it was rewritten.
    Inconsistent { witnessed: u64, records: u64 },
    /// The witnessed size lies before the log's purge point: only the size is compared.
    Purged { witnessed: u64, records: u64 },
    /// The log itself does not verify (see the report's problem); not compared.
    NotChecked,
}

impl WitnessCheck {
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            WitnessCheck::Consistent { .. } | WitnessCheck::Purged { .. }
        )
    }
}

/// Verifies the log in `dir` (as [`crate::verify_log_with`]) and compares it with the
/// witnessed head `witnessed`, which the caller has already checked the signatures of.
pub fn verify_log_witnessed(
    dir: &Path,
    key: &VerifyingKey,
    frame_key: Option<&FrameKey>,
    witnessed: &TreeHead,
    progress: &mut dyn FnMut(u64),
) -> Result<(VerifyReport, WitnessCheck), LedgerError> {
    let w = witnessed.tree_size;
    let (report, root) = verify_log_at(dir, key, frame_key, Some(w), progress)?;
    let records = report.records;
    let check = if !report.is_ok() {
        WitnessCheck::NotChecked
    } else if records < w {
        WitnessCheck::Behind {
            witnessed: w,
            records,
        }
    } else {
        match root {
            Some(r) if r.as_slice() == witnessed.root_hash.as_slice() => WitnessCheck::Consistent {
                witnessed: w,
                records,
            },
            Some(_) => WitnessCheck::Inconsistent {
                witnessed: w,
                records,
            },
            None => WitnessCheck::Purged {
                witnessed: w,
                records,
            },
        }
    };
    Ok((report, check))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn head(size: u64, root: Hash) -> TreeHead {
        TreeHead {
            log_id: "011002".into(),
            tree_size: size,
            root_hash: root.to_vec(),
            timestamp_ms: 1,
        }
    }

    /// A log of `n` entries salted by `salt`, its root at 5 and at `n`, and the
    /// consistency proof between them, from a real ledger.
    fn log(n: u64, salt: u8) -> (Hash, Hash, Vec<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let l = crate::Ledger::open(dir.path(), crate::LedgerOptions::default()).unwrap();
        for i in 0..n {
            l.append_blocking(vec![salt, i as u8]).unwrap();
        }
        let proof = l.consistency_proof(5, n).unwrap();
        (
            l.root(5).unwrap(),
            l.root(n).unwrap(),
            proof.into_iter().map(|h| h.to_vec()).collect(),
        )
    }

    #[test]
    fn a_head_must_extend_the_witnessed_one() {
        let (root5, root9, proof) = log(9, 0);
        let old = head(5, root5);
        let new = head(9, root9);
        assert_eq!(check_extends(Some(&old), &new, 5, &proof), Ok(()));
        assert_eq!(check_extends(None, &new, 0, &[]), Ok(()), "first use");
        assert_eq!(check_extends(Some(&old), &old, 5, &[]), Ok(()), "same head");
        assert_eq!(
            check_extends(Some(&new), &old, 9, &[]),
            Err(Refusal::Smaller {
                witnessed: 9,
                new: 5
            })
        );
        // A rewritten history: same size, other leaves.
        let (_, other9, _) = log(9, 1);
        let forked = head(9, other9);
        assert_eq!(
            check_extends(Some(&new), &forked, 9, &[]),
            Err(Refusal::Forked { size: 9 })
        );
        assert_eq!(
            check_extends(Some(&old), &forked, 5, &proof),
            Err(Refusal::Inconsistent {
                witnessed: 5,
                new: 9
            })
        );
        assert_eq!(
            check_extends(Some(&old), &new, 4, &proof),
            Err(Refusal::WrongProofStart {
                from: 4,
                to: 9,
                witnessed: 5
            })
        );
        assert_eq!(
            check_extends(Some(&old), &new, 5, &[]),
            Err(Refusal::Inconsistent {
                witnessed: 5,
                new: 9
            }),
            "no proof, no extension"
        );
    }

    #[test]
    fn a_cosignature_binds_the_head_and_the_time() {
        let (hub, _) = SigningKey::generate().unwrap();
        let (keeper, _) = SigningKey::generate().unwrap();
        let signed = renkei_crypto::sign_tree_head(&keeper, &head(3, [7; 32]));
        let w = cosign(&hub, signed, 42);
        let pk = hub.public_key();
        assert_eq!(
            verify_witnessed(Some(&pk), &keeper.public_key(), &w)
                .unwrap()
                .tree_size,
            3
        );
        let mut later = w.clone();
        later.witnessed_at_ms = 43;
        assert!(verify_witnessed(Some(&pk), &keeper.public_key(), &later).is_err());
        let (other, _) = SigningKey::generate().unwrap();
        assert!(verify_witnessed(Some(&other.public_key()), &keeper.public_key(), &w).is_err());
        assert!(verify_witnessed(None, &other.public_key(), &w).is_err());
    }
}
