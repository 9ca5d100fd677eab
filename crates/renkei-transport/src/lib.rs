//! Mutual TLS 1.3 transport of Renkei: peer identities from certificates, per-caller rate
//! limits, and the gRPC server and client plumbing shared by the hub and the gateways.
//!
//! Security properties served here (ARCHITECTURE §4):
//! - 1: every connection is TLS 1.3 (ring provider, nothing older is configured) with a
//!   client certificate required; a peer's [`Role`] comes from the single `urn:renkei:…`
//!   SAN URI of its certificate, never from a request field. Handlers read it with [`peer`].
//! - 4: [`Role::agency`] gives the tenant a caller is bound to, for scoping data access.
//! - 7: every endpoint is rate-limited per (caller identity, method); oversized headers and
//!   messages are refused early (see [`DEFAULT_MAX_MESSAGE_BYTES`] for the per-service part).
#![forbid(unsafe_code)]

mod client;
mod credentials;
mod duplex;
mod edge;
mod error;
mod identity;
mod metrics;
mod ratelimit;
mod server;

pub use client::{ClientOptions, channel, channel_with_config};
pub use credentials::Credentials;
pub use duplex::MemoryServer;
pub use edge::RequestGate;
pub use error::TransportError;
pub use identity::{PeerIdentity, Role, URI_PREFIX, peer};
pub use metrics::{IN_FLIGHT, Metrics, REQUEST_DURATION, REQUESTS_TOTAL, serve_metrics};
pub use ratelimit::RateLimit;
pub use server::{
    DEFAULT_MAX_MESSAGE_BYTES, HealthHandle, ServerOptions, bind, serve, serve_with_health,
};
pub use tonic_health::ServingStatus;
