//! The network hub (情報提供ネットワークシステム): symbol issuance, signed master data,
//! permit issuance and routing between gateways.
//!
//! The hub never sees a plaintext answer: providers seal answers to the inquirer's key
//! and the hub relays the ciphertext. It keeps no My Number: symbols are derived from a
//! secret, so translating one agency's symbol into another's needs no lookup table.
#![forbid(unsafe_code)]

mod config;
mod error;
mod exchange;
mod master;
mod routes;
mod service;

use std::sync::Arc;

pub use config::{HubConfig, HubKeys, HubLimits, MasterConfig, TlsFiles};
pub use error::HubError;

use renkei_proto::v1::hub_records_server::HubRecordsServer;
use renkei_proto::v1::hub_server::HubServer as HubGrpcServer;
use tokio::net::TcpListener;

/// A configured hub, ready to serve.
#[derive(Clone, Debug)]
pub struct Hub {
    state: Arc<exchange::HubState>,
}

impl Hub {
    /// Loads keys and master data and opens storage. Fails early, with the file at fault,
    /// rather than serving with a partial configuration.
    pub fn open(config: HubConfig) -> Result<Hub, HubError> {
        Ok(Hub {
            state: Arc::new(exchange::HubState::open(config)?),
        })
    }

    /// Version of the master bundle currently published.
    pub fn master_version(&self) -> u64 {
        self.state.master_version()
    }

    /// Re-reads the master files and publishes a new signed bundle.
    pub fn reload_master(&self) -> Result<u64, HubError> {
        self.state.reload_master()
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), HubError> {
        let max = self.state.config.limits.max_message_bytes;
        let hub = HubGrpcServer::new(service::HubService {
            state: self.state.clone(),
        })
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
        let records = HubRecordsServer::new(service::HubRecordsService {
            state: self.state.clone(),
        })
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
        let routes = tonic::service::Routes::new(hub).add_service(records);
        let opts = self.state.config.limits.server_options();
        renkei_transport::serve(
            listener,
            &self.state.credentials,
            routes,
            &["renkei.v1.Hub", "renkei.v1.HubRecords"],
            opts,
            shutdown,
        )
        .await
        .map_err(HubError::from)
    }
}
