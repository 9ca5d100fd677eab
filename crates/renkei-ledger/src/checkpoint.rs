//! Signed tree heads as C2SP checkpoints (c2sp.org/tlog-checkpoint in a
//! c2sp.org/signed-note), so that standard transparency tooling — witnesses, monitors,
//! `sumdb`-style verifiers — can read a Renkei log's heads without knowing its protobuf.
//!
//! The note's text is `origin\nsize\nbase64(root)\n`; its signature line is
//! `— <name> base64(key hash ‖ Ed25519 signature over the text)`, where the key hash is
//! the first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key). The signature is over
//! different bytes from the protobuf head's, with the same key: a note's text is printable
//! lines, so it can never be mistaken for a `renkei/v1/…\0` message.

use renkei_crypto::SigningKey;
use renkei_proto::v1::TreeHead;

use crate::LedgerError;

/// The checkpoint body (the signed text) of a head.
pub fn checkpoint_text(origin: &str, head: &TreeHead) -> String {
    format!(
        "{origin}\n{}\n{}\n",
        head.tree_size,
        base64_std(&head.root_hash)
    )
}

/// The signed-note key ID of an Ed25519 key named `name`.
pub fn note_key_hash(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut m = Vec::with_capacity(name.len() + 34);
    m.extend_from_slice(name.as_bytes());
    m.push(b'\n');
    m.push(0x01); // signature type: Ed25519
    m.extend_from_slice(public);
    let d = ring::digest::digest(&ring::digest::SHA256, &m);
    let mut out = [0u8; 4];
    out.copy_from_slice(&d.as_ref()[..4]);
    out
}

/// `head` as a signed note under `key`, named `origin` (the usual choice: a checkpoint's
/// key name is its origin). The origin must be one printable line without "+" or spaces
/// (c2sp key names), so it is refused otherwise.
pub fn signed_checkpoint(
    origin: &str,
    key: &SigningKey,
    head: &TreeHead,
) -> Result<String, LedgerError> {
    if origin.is_empty()
        || origin
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '+')
    {
        return Err(LedgerError::OutOfRange(format!(
            "checkpoint origin {origin:?}: must be non-empty, without spaces, control characters or '+'"
        )));
    }
    if head.root_hash.len() != 32 {
        return Err(LedgerError::OutOfRange(
            "tree head has no 32-byte root hash".into(),
        ));
    }
    let text = checkpoint_text(origin, head);
    let sig = key.sign(text.as_bytes());
    let mut blob = note_key_hash(origin, key.public_key().as_bytes()).to_vec();
    blob.extend_from_slice(&sig);
    Ok(format!("{text}\n\u{2014} {origin} {}\n", base64_std(&blob)))
}

/// The latest signed head in the log directory `dir`, read without opening the log (a
/// running server may own it). A damaged heads file is an error; a torn last head is
/// skipped, as the ledger would cut it.
pub fn read_latest_head(
    dir: &std::path::Path,
) -> Result<Option<renkei_proto::v1::SignedTreeHead>, LedgerError> {
    let path = dir.join(crate::heads::HEADS_FILE);
    let file = crate::heads::read_heads(&path)?;
    if let crate::heads::End::Damaged { offset, reason } = file.end {
        return Err(LedgerError::Corrupt {
            path,
            offset,
            reason,
        });
    }
    Ok(file.heads.into_iter().last().map(|(_, h)| h))
}

/// Standard base64 with padding (RFC 4648 §4), as checkpoints use.
fn base64_std(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_std(i.as_bytes()), o);
        }
    }
}
