//! Signed tree heads of the record log (RFC 9162 style, Ed25519).
//!
//! Same pattern as permits: the signed bytes travel verbatim, under their own context
//! string, so a tree-head signature can never be replayed as a permit or a bundle.

use prost::Message;
use renkei_proto::v1::{SignedTreeHead, TreeHead};

use crate::{CryptoError, SigningKey, VerifyingKey, keys::hex_id};

const TREE_HEAD_CONTEXT: &[u8] = b"renkei/v1/tree-head\0";

fn signed_message(body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(TREE_HEAD_CONTEXT.len() + body.len());
    m.extend_from_slice(TREE_HEAD_CONTEXT);
    m.extend_from_slice(body);
    m
}

pub fn sign_tree_head(key: &SigningKey, head: &TreeHead) -> SignedTreeHead {
    let bytes = head.encode_to_vec();
    let signature = key.sign(&signed_message(&bytes)).to_vec();
    SignedTreeHead {
        tree_head: bytes,
        signature,
        key_id: key.key_id().to_vec(),
    }
}

/// Checks the signature over the exact bytes, then decodes the head.
pub fn verify_tree_head(
    key: &VerifyingKey,
    signed: &SignedTreeHead,
) -> Result<TreeHead, CryptoError> {
    if signed.key_id.as_slice() != key.key_id() {
        return Err(CryptoError::UnknownKey {
            found: hex_id(&signed.key_id),
            expected: hex_id(&key.key_id()),
        });
    }
    key.verify(&signed_message(&signed.tree_head), &signed.signature)?;
    TreeHead::decode(signed.tree_head.as_slice()).map_err(|e| CryptoError::Malformed {
        what: "tree head",
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_head_roundtrip_and_tamper() {
        let (key, _) = SigningKey::generate().unwrap();
        let head = TreeHead {
            log_id: "011002".into(),
            tree_size: 5,
            root_hash: vec![7; 32],
            timestamp_ms: 1,
        };
        let signed = sign_tree_head(&key, &head);
        assert_eq!(verify_tree_head(&key.public_key(), &signed).unwrap(), head);
        let mut altered = signed.clone();
        altered.tree_head = TreeHead {
            tree_size: 6,
            ..head.clone()
        }
        .encode_to_vec();
        assert!(matches!(
            verify_tree_head(&key.public_key(), &altered),
            Err(CryptoError::BadSignature)
        ));
        let (other, _) = SigningKey::generate().unwrap();
        assert!(matches!(
            verify_tree_head(&other.public_key(), &signed),
            Err(CryptoError::UnknownKey { .. })
        ));
    }
}
