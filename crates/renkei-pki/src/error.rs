use std::path::PathBuf;

/// Everything that can go wrong while making or loading the development PKI.
///
/// Each variant names the file or identity concerned, because the usual reader is a developer
/// running `renkei certs generate` who needs to know which file to look at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    #[error("invalid development PKI spec: {reason}")]
    InvalidSpec { reason: String },

    #[error("{what}: {source}")]
    Certificate {
        what: String,
        #[source]
        source: rcgen::Error,
    },

    #[error("{what}: {reason}")]
    Pem { what: String, reason: String },

    #[error("{action} {path}: {source}", path = path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{what}: {source}")]
    Key {
        what: String,
        #[source]
        source: renkei_crypto::CryptoError,
    },

    #[error("the system random number generator failed")]
    Random,
}
