use std::net::SocketAddr;
use std::path::PathBuf;

/// What can go wrong starting a cluster or enrolling residents.
///
/// Each message reads as the context line the demo used to add by hand (`binding the hub
/// to …`), with the cause kept as the source, so `renkei demo` prints the same chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    #[error("binding {what} to {addr}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no certificate directory: {} ({from}) has no ca.pem; pass --certs <dir> or set \
         {env}=<dir> (a directory made by `renkei certs generate --out <dir>`), \
         or run from the directory that holds certs-dev/",
        dir.display()
    )]
    NoCertificates {
        dir: PathBuf,
        from: String,
        env: &'static str,
    },
    #[error("resolving the certificate directory")]
    CertsPath(#[source] std::io::Error),
    #[error("starting the hub")]
    HubStart(#[source] renkei_hub::HubError),
    #[error("starting the gateway")]
    GatewayStart(#[source] renkei_gateway::GatewayError),
    #[error("{0}")]
    HubServe(&'static str, #[source] renkei_hub::HubError),
    #[error("{0}")]
    GatewayServe(&'static str, #[source] renkei_gateway::GatewayError),
    #[error("the gateway could not fetch master data: {0}")]
    NoMasterData(renkei_gateway::GatewayError),
    #[error("server task panicked")]
    TaskPanicked(#[source] tokio::task::JoinError),
    #[error("loading the {name} certificate")]
    Credentials {
        name: String,
        #[source]
        source: renkei_transport::TransportError,
    },
    #[error(transparent)]
    Transport(#[from] renkei_transport::TransportError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Rpc(#[from] tonic::Status),
    #[error("registration rejected {rejected} numbers: {first:?}")]
    RegistrationRejected {
        rejected: u64,
        first: Option<renkei_proto::v1::RecordError>,
    },
    #[error("only {acquired} of {wanted} symbols acquired")]
    NotAcquired { acquired: u64, wanted: u64 },
    #[error("copies rejected: {errors:?}")]
    CopiesRejected {
        rejected: u64,
        errors: Vec<renkei_proto::v1::RecordError>,
    },
}
