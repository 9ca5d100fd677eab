//! The console's one link to the gateway: a gRPC channel made with the terminal's
//! certificate, as `renkei ops` makes it. Every call carries the operator's session token.

use std::path::Path;

use renkei_transport::{ClientOptions, Credentials};
use tonic::transport::Channel;

use crate::ConsoleError;

/// A cloneable handle on the gateway's local side.
#[derive(Debug, Clone)]
pub struct Gateway {
    channel: Channel,
}

impl Gateway {
    /// Connects (lazily) to `endpoint` ("host:port") as the terminal whose certificate and
    /// key are given; the gateway learns the tenant and terminal name from the certificate.
    pub fn connect(
        endpoint: &str,
        server_name: &str,
        ca: &Path,
        cert: &Path,
        key: &Path,
    ) -> Result<Gateway, ConsoleError> {
        let creds = Credentials::load(ca, cert, key)
            .map_err(|e| ConsoleError::TerminalCertificate(e.to_string()))?;
        let channel =
            renkei_transport::channel(endpoint, server_name, &creds, &ClientOptions::default())
                .map_err(|e| ConsoleError::GatewayEndpoint(e.to_string()))?;
        Ok(Gateway { channel })
    }

    pub fn from_channel(channel: Channel) -> Gateway {
        Gateway { channel }
    }

    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }
}

/// A request carrying the operator's gateway session token.
pub(crate) fn authed<T>(token: &str, msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Ok(v) = format!("Bearer {token}").parse() {
        req.metadata_mut().insert("authorization", v);
    }
    req
}
