/// Errors of the bench harness itself (not of the operations it measures, which are counted).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    #[error("invalid load specification: {0}")]
    Spec(String),
    #[error("transport: {0}")]
    Transport(#[from] renkei_transport::TransportError),
    #[error("keys: {0}")]
    Crypto(#[from] renkei_crypto::CryptoError),
    #[error("baseline setup: {0}")]
    Setup(String),
}
