use renkei_core::bounded_message;
use tonic::{Code, Status};

/// Why an operator call failed. Mapped to a gRPC status once, in [`OpsError::into_status`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    /// Wrong user or password, no session, or a session that ended.
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but not allowed (locked, disabled, missing right, other tenant).
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The call is well formed but the account is not in a state for it (a second
    /// concurrent login, a one-time password still to be changed).
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("storage: {0}")]
    Store(#[from] renkei_store::StoreError),
    #[error("stored operator data is unreadable: {0}")]
    Corrupt(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("randomness: {0}")]
    Crypto(#[from] renkei_crypto::CryptoError),
}

impl From<renkei_store::SledError> for OpsError {
    fn from(e: renkei_store::SledError) -> Self {
        OpsError::Store(renkei_store::StoreError::from(e))
    }
}

impl OpsError {
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        OpsError::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The gRPC status for this error. Internal failures say only that they happened.
    pub fn into_status(self) -> Status {
        match self {
            OpsError::Unauthenticated(m) => Status::unauthenticated(bounded_message(&m)),
            OpsError::PermissionDenied(m) => Status::permission_denied(bounded_message(&m)),
            OpsError::InvalidArgument { field, message } => Status::new(
                Code::InvalidArgument,
                bounded_message(&format!("{field}: {message}")),
            ),
            OpsError::NotFound(m) => Status::not_found(bounded_message(&m)),
            OpsError::AlreadyExists(m) => Status::already_exists(bounded_message(&m)),
            OpsError::FailedPrecondition(m) => Status::failed_precondition(bounded_message(&m)),
            other => {
                tracing::error!(error = %other, "operator service internal error");
                Status::internal("the gateway failed to process the request; see the gateway log")
            }
        }
    }

    /// Short word for the audit log's outcome column.
    pub fn audit_outcome(&self) -> &'static str {
        match self {
            OpsError::Unauthenticated(_) => "unauthenticated",
            OpsError::PermissionDenied(_) => "denied",
            OpsError::InvalidArgument { .. } => "invalid",
            OpsError::NotFound(_) => "not-found",
            OpsError::AlreadyExists(_) => "exists",
            OpsError::FailedPrecondition(_) => "refused",
            _ => "failed",
        }
    }
}
