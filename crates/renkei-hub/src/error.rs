use renkei_core::bounded_message;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Everything that can go wrong in the hub. Mapped to a gRPC status exactly once, in
/// [`HubError::into_status`]; refusals that are part of the exchange protocol are not
/// errors but `Refusal` answers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{field}: {message}")]
    InvalidArgument {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("master data: {0}")]
    Master(#[from] renkei_master::MasterError),
    #[error("keys: {0}")]
    Crypto(#[from] renkei_crypto::CryptoError),
    #[error("transport: {0}")]
    Transport(#[from] renkei_transport::TransportError),
    #[error("storage: {0}")]
    Store(#[from] renkei_store::StoreError),
    #[error("records: {0}")]
    Records(#[from] renkei_records::RecordError),
    #[error("record log: {0}")]
    Ledger(#[from] renkei_ledger::LedgerError),
}

impl From<renkei_store::SledError> for HubError {
    fn from(e: renkei_store::SledError) -> Self {
        HubError::Store(renkei_store::StoreError::from(e))
    }
}

impl HubError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        HubError::InvalidArgument {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn into_status(self) -> Status {
        match self {
            HubError::InvalidArgument { field, message } => Status::with_error_details(
                Code::InvalidArgument,
                bounded_message(&format!("{field}: {message}")),
                ErrorDetails::with_bad_request_violation(field, bounded_message(&message)),
            ),
            HubError::PermissionDenied(m) => Status::permission_denied(bounded_message(&m)),
            HubError::Records(renkei_records::RecordError::Ledger(
                renkei_ledger::LedgerError::OutOfRange(m),
            )) => Status::invalid_argument(bounded_message(&m)),
            HubError::NotFound(m) => Status::not_found(bounded_message(&m)),
            HubError::FailedPrecondition(m) => Status::failed_precondition(bounded_message(&m)),
            other => {
                // Internal detail goes to the log, not to the caller.
                tracing::error!(error = %other, "hub internal error");
                Status::internal("the hub failed to process the request; see the hub log")
            }
        }
    }
}
