use renkei_core::bounded_message;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Everything that can go wrong in the gateway, mapped to a gRPC status exactly once in
/// [`GatewayError::into_status`]. Exchange outcomes (refusals, no data) are not errors:
/// they are states of an inquiry or `Refusal` answers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unavailable(String),
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
    #[error("{0}")]
    Ops(#[from] renkei_ops::OpsError),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

impl From<renkei_store::SledError> for GatewayError {
    fn from(e: renkei_store::SledError) -> Self {
        GatewayError::Store(renkei_store::StoreError::from(e))
    }
}

impl GatewayError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        GatewayError::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn from_core(field: &str, e: renkei_core::CoreError) -> Self {
        GatewayError::invalid(field, e.to_string())
    }

    pub fn into_status(self) -> Status {
        match self {
            GatewayError::InvalidArgument { field, message } => Status::with_error_details(
                Code::InvalidArgument,
                bounded_message(&format!("{field}: {message}")),
                ErrorDetails::with_bad_request_violation(field, bounded_message(&message)),
            ),
            GatewayError::PermissionDenied(m) => Status::permission_denied(bounded_message(&m)),
            GatewayError::Records(renkei_records::RecordError::Ledger(
                renkei_ledger::LedgerError::OutOfRange(m),
            )) => Status::invalid_argument(bounded_message(&m)),
            GatewayError::NotFound(m) => Status::not_found(bounded_message(&m)),
            GatewayError::AlreadyExists(m) => Status::already_exists(bounded_message(&m)),
            GatewayError::FailedPrecondition(m) => Status::failed_precondition(bounded_message(&m)),
            GatewayError::Unavailable(m) => Status::unavailable(bounded_message(&m)),
            GatewayError::Ops(e) => e.into_status(),
            other => {
                tracing::error!(error = %other, "gateway internal error");
                Status::internal("the gateway failed to process the request; see the gateway log")
            }
        }
    }
}
