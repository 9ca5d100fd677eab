//! The gateway's failures, named by what happened. They become gRPC statuses in one
//! place only, the edge module `service::status`; exchange outcomes (refusals, no data)
//! are not errors but states of an inquiry or `Refusal` answers, and a failure that is a
//! refusal says which [`RefusalCode`] directly ([`GatewayError::refusal_code`]).

use renkei_proto::v1::RefusalCode;

/// Everything that can go wrong in the gateway.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },

    // Callers.
    /// A certificate of the wrong kind for this side (a hub on the local side, …).
    #[error("{message}")]
    WrongRole { message: String },
    /// The caller's certificate names an agency this gateway does not host.
    #[error("this gateway does not host agency {agency}")]
    ForeignAgency { agency: String },
    /// A request names a tenant this gateway does not host.
    #[error("this gateway hosts no tenant {agency:?} (hosted: {hosted})")]
    UnknownTenant { agency: String, hosted: String },

    // The inquirer's side.
    #[error("no inquiry {inquiry_id:?} for {tenant}")]
    InquiryNotFound { inquiry_id: String, tenant: String },
    #[error(
        "idempotency key {key:?} was already used for inquiry {inquiry_id} with other parameters"
    )]
    IdempotencyConflict { key: String, inquiry_id: String },
    #[error(
        "no symbol has been acquired for unified address number {uan}; acquire it before sending an inquiry"
    )]
    NoSymbol { uan: String },
    /// A late answer for a permit no pending inquiry waits on.
    #[error("no pending inquiry of {tenant} has permit {permit_id}")]
    NoPendingInquiry { permit_id: String, tenant: String },

    // The provider's side.
    #[error("no held inquiry with permit {permit_id:?} at {tenant}")]
    HeldNotFound { permit_id: String, tenant: String },
    #[error("held inquiry {permit_id} was already decided ({state})")]
    AlreadyDecided { permit_id: String, state: String },
    #[error("held inquiry {permit_id} expired at {expired_at}; it is being completed as expired")]
    HeldExpired {
        permit_id: String,
        expired_at: String,
    },
    /// An answer cannot be sealed for an inquirer the master data gives no key.
    #[error("inquirer {agency} has no encryption key in the master data")]
    NoEncryptionKey { agency: String },

    // The hub.
    /// The hub could not be reached or did not take a call; retrying may help.
    #[error("{context}: {message}")]
    HubUnreachable {
        context: &'static str,
        message: String,
    },
    /// A late answer the hub did not take: nothing changed, the operator may retry.
    #[error("the hub did not take the answer ({message}); nothing was changed, try again")]
    HubDidNotTakeAnswer { message: String },

    // registry
    /// Symbols are acquired only for numbers the tenant registered first.
    #[error(
        "unified address number {uan} is not registered; register it before acquiring its symbol"
    )]
    NotRegistered { uan: String },
    #[error("no symbol acquisition with processing serial {processing_serial:?}")]
    AcquisitionNotFound { processing_serial: String },
    /// Nothing can be checked against the whitelist until the hub has sent master data.
    #[error("master data has not been received from the hub yet")]
    NoMasterData,
    #[error(
        "master data version {version} expired at {expired_at}; no newer master data has come from the hub"
    )]
    MasterDataExpired { version: u64, expired_at: String },

    // Internals.
    /// A blocking task panicked or was cancelled.
    #[error("{task} task: {message}")]
    TaskFailed { task: &'static str, message: String },
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

    // Status-shaped variants still used by modules not yet converted (registry, ops);
    // removed once nothing constructs them.
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
}

impl From<renkei_store::SledError> for GatewayError {
    fn from(e: renkei_store::SledError) -> Self {
        GatewayError::Store(renkei_store::StoreError::from(e))
    }
}

impl From<prost::DecodeError> for GatewayError {
    fn from(e: prost::DecodeError) -> Self {
        GatewayError::Corrupt(e.to_string())
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

    pub(crate) fn hub_unreachable(context: &'static str, status: &tonic::Status) -> Self {
        GatewayError::HubUnreachable {
            context,
            message: status.message().to_owned(),
        }
    }

    pub(crate) fn task(task: &'static str, e: impl std::fmt::Display) -> Self {
        GatewayError::TaskFailed {
            task,
            message: e.to_string(),
        }
    }

    /// The refusal a provider answers when this failure stops a provision: a missing key
    /// means the inquirer is unknown to us, anything else that we cannot serve now.
    pub(crate) fn refusal_code(&self) -> RefusalCode {
        match self {
            GatewayError::NoEncryptionKey { .. } => RefusalCode::UnknownAgency,
            _ => RefusalCode::Unavailable,
        }
    }
}
