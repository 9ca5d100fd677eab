/// Everything that can go wrong in the hub, named by cause. Mapped to a gRPC status exactly
/// once, in the `edge` module; refusals that are part of the exchange protocol are not
/// errors but `Refusal` answers (see `renkei_exchange::hub`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    #[error("configuration: {0}")]
    Config(String),
    /// The request is not one the hub treats as an exchange (malformed, or from the wrong
    /// party); the cause is the exchange core's.
    #[error(transparent)]
    Denied(#[from] renkei_exchange::hub::Denied),
    /// The caller's certificate is for a role this service does not serve.
    #[error("{service} is open to {allowed} only; your certificate is for {role}")]
    WrongRole {
        service: &'static str,
        allowed: &'static str,
        role: String,
    },
    #[error("{count} numbers in one request; at most {max} are allowed")]
    TooManyNumbers { count: usize, max: usize },
    #[error("{field}: is required")]
    MissingField { field: &'static str },
    /// A My Number that is not one; the message never repeats the number.
    #[error("my_number: {message}")]
    InvalidMyNumber { message: String },
    /// The inquirer's gateway did not take a late answer; the provider may send it again.
    #[error("the inquirer's gateway did not take the answer ({message}); try again")]
    InquirerUnreachable { message: String },
    /// A tree head sent to the witness that is not the tenant's: its signature does not
    /// verify under the key master data publishes, or it names another log.
    #[error("tree head of log {log_id} refused: {reason}")]
    ForgedHead { log_id: String, reason: String },
    /// A validly signed head that does not extend the one witnessed: a rollback or a
    /// rewritten log.
    #[error("tree head of log {log_id} not witnessed: {refusal}")]
    NotWitnessed {
        log_id: String,
        refusal: renkei_ledger::witness::Refusal,
    },
    #[error("metrics are off: add [metrics] listen = \"127.0.0.1:9465\" to the configuration")]
    MetricsOff,
    #[error("{task} task failed: {message}")]
    TaskFailed { task: &'static str, message: String },
    #[error("the route table lock was poisoned")]
    RoutesPoisoned,
    #[error("the record log's tree head is unreadable: {0}")]
    UnreadableTreeHead(String),
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

impl HubError {
    pub(crate) fn task(task: &'static str, e: impl std::fmt::Display) -> HubError {
        HubError::TaskFailed {
            task,
            message: e.to_string(),
        }
    }
}
