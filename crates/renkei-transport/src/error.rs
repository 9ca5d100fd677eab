use std::path::PathBuf;

/// Everything that can go wrong in the transport layer.
///
/// Messages name the file, identity or endpoint concerned, because the usual reader is an
/// operator starting a hub or gateway with a misconfigured path or certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A credentials file could not be read.
    #[error("cannot read {path}: {source}", path = path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A PEM input is malformed, empty or inconsistent (e.g. key does not match certificate).
    #[error("{source_name}: {reason}")]
    Pem { source_name: String, reason: String },

    /// A string is not a valid Renkei identity URI.
    #[error("invalid Renkei identity URI {uri:?}: {reason}")]
    IdentityUri { uri: String, reason: String },

    /// A certificate does not carry exactly one usable Renkei identity URI.
    #[error("certificate carries no usable Renkei identity: {reason}")]
    CertificateIdentity { reason: String },

    /// rustls refused to build a configuration from our credentials.
    #[error("TLS configuration ({context}): {source}")]
    Tls {
        context: &'static str,
        #[source]
        source: rustls::Error,
    },

    /// The client-certificate verifier could not be built (e.g. no usable CA certificate).
    #[error("TLS client verifier: {source}")]
    Verifier {
        #[source]
        source: rustls::server::VerifierBuilderError,
    },

    /// Server or client options are unusable (e.g. a zero rate limit).
    #[error("invalid transport options: {reason}")]
    Options { reason: String },

    /// A client endpoint or server name is malformed.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    Endpoint { endpoint: String, reason: String },

    /// The listening socket could not be bound or inspected.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },

    /// The gRPC server stopped with an error.
    #[error("gRPC server failed: {source}")]
    Serve {
        #[source]
        source: tonic::transport::Error,
    },

    /// The reflection service could not be built from the descriptor sets.
    #[error("gRPC reflection service: {reason}")]
    Reflection { reason: String },
}
