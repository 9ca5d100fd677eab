use std::path::PathBuf;

/// Errors of the cryptographic layer. Messages never contain key material or payloads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A key file is missing, unreadable or does not hold a key of the expected kind.
    #[error("key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    /// Key bytes (from a file, a master bundle or a message) are not a valid key.
    #[error("invalid {what} key: {reason}")]
    InvalidKey { what: &'static str, reason: String },
    /// A signature did not verify under the expected key.
    #[error("signature does not verify")]
    BadSignature,
    /// The signed object names a different key than the one expected.
    #[error("signed with an unknown key (key id {found}, expected {expected})")]
    UnknownKey { found: String, expected: String },
    /// Decryption failed: wrong key, or the ciphertext was altered.
    #[error("sealed message cannot be opened with this key")]
    OpenFailed,
    /// A sealed answer addressed to another inquiry or another party.
    #[error("sealed answer belongs to {field} {found:?}, expected {expected:?}")]
    ContextMismatch {
        field: &'static str,
        found: String,
        expected: String,
    },
    /// A symbol that this key did not produce for the given agency.
    #[error("symbol was not issued for this agency")]
    SymbolInvalid,
    /// Bytes that should decode as a protobuf message or a fixed-size field do not.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    /// The operating system's random source failed.
    #[error("the system random number generator failed")]
    Rng,
    /// The X25519 shared secret was all zeroes (a small-order public key).
    #[error("the peer's encryption key is not contributory")]
    NonContributory,
}

/// Why a permit was rejected. Kept apart from [`CryptoError`] because the provider maps each
/// case to a distinct refusal reason in the records.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PermitCheckError {
    /// Not signed by the hub's permit key (missing or different key id).
    #[error("the permit was not issued by the hub: {0}")]
    Forged(String),
    /// Signed by the hub's key, but the signature does not cover these bytes.
    #[error("the permit was altered after the hub signed it")]
    Altered,
    /// The permit bytes do not decode.
    #[error("the permit cannot be decoded: {0}")]
    Malformed(String),
}
