//! The cryptography of Renkei, kept in one place so that every party (hub, gateway, adapter,
//! tests) uses the same domain separation and the same formats.
//!
//! Everything here is pure computation over bytes: no I/O except the small key-file helpers,
//! no clocks, no logging. The algorithms are fixed by decision note 0004:
//!
//! * Ed25519 (ring) signs permits, master-data bundles and sealed answers;
//! * X25519 + HKDF-SHA256 + AES-256-GCM seal answers to the inquirer's encryption key, so the
//!   hub, which routes them, never sees a plaintext;
//! * the hub's symbols (符号) are deterministic AES-GCM-SIV-style encryptions of a person id under
//!   a per-agency key, so each agency gets a different, unlinkable symbol for the same person
//!   and only the hub can translate between them.
#![forbid(unsafe_code)]

mod error;
mod keyfile;
mod keys;
mod padding;
mod seal;
mod signed;
mod symbol;
mod tree_head;

pub use error::{CryptoError, PermitCheckError};
pub use keyfile::{
    read_encryption_key, read_encryption_public_key, read_signing_key, read_symbol_key,
    read_verifying_key, write_key_file,
};
pub use keys::{EncryptionKey, SigningKey, VerifyingKey};
pub use padding::pad_answer_payload;
pub use seal::{AnswerContext, open_answer, seal_answer, verify_answer};
pub use signed::{sign_bundle, sign_permit, verify_bundle, verify_permit};
pub use symbol::{PersonId, SYMBOL_LEN, SymbolKey};
pub use tree_head::{sign_tree_head, verify_tree_head};

/// SHA-256 of `data`; used for the envelope and sealed-message hashes kept in the records.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    use ring::rand::SecureRandom;
    let mut out = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| CryptoError::Rng)?;
    Ok(out)
}

/// Length-prefixes a field so that concatenated fields cannot be re-split differently.
pub(crate) fn lp(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u32).to_be_bytes());
    out.extend_from_slice(field);
}
