//! The adapter's connection to its tenant on the gateway: a back-office certificate
//! (`backoffice-<code>.pem`), mutual TLS, and deadlines long enough for bulk streams.

use std::path::{Path, PathBuf};
use std::time::Duration;

use renkei_transport::{ClientOptions, Credentials};
use tonic::transport::Channel;

use crate::VaccinationError;

/// Where the gateway's local side is and who the adapter is.
#[derive(Debug, Clone)]
pub struct GatewayEndpoint {
    /// host:port of the gateway's local (back-office) side.
    pub address: String,
    /// The name the gateway's certificate carries.
    pub server_name: String,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl GatewayEndpoint {
    /// The conventional files of a certificate directory: `ca.pem` and
    /// `backoffice-<agency>.pem` with its `.key.pem`.
    pub fn from_certs_dir(address: &str, server_name: &str, dir: &Path, agency: &str) -> Self {
        GatewayEndpoint {
            address: address.to_owned(),
            server_name: server_name.to_owned(),
            ca: dir.join("ca.pem"),
            cert: dir.join(format!("backoffice-{agency}.pem")),
            key: dir.join(format!("backoffice-{agency}.key.pem")),
        }
    }

    pub fn connect(&self) -> Result<Channel, VaccinationError> {
        let creds = Credentials::load(&self.ca, &self.cert, &self.key)?;
        let opts = ClientOptions {
            // Bulk imports and exports of a whole city are long streams.
            request_timeout: Duration::from_secs(3600),
            ..ClientOptions::default()
        };
        Ok(renkei_transport::channel(
            &self.address,
            &self.server_name,
            &creds,
            &opts,
        )?)
    }
}

/// Progress of a long run; the CLI draws bars, tests and libraries use [`NoProgress`].
pub trait Progress: Send + Sync {
    /// `total` 0 means not known in advance (a file read while it is sent).
    fn start(&self, _what: &str, _total: u64) {}
    fn inc(&self, _n: u64) {}
    fn finish(&self) {}
}

#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
