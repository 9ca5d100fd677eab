//! The network hub (情報提供ネットワークシステム): symbol issuance, signed master data,
//! permit issuance and routing between gateways.
//!
//! The hub never sees a plaintext answer: providers seal answers to the inquirer's key
//! and the hub relays the ciphertext. It keeps no My Number: symbols are derived from a
//! secret, so translating one agency's symbol into another's needs no lookup table.
#![forbid(unsafe_code)]

mod config;
mod diagnostics;
mod disclosure;
mod edge;
mod error;
mod exchange;
mod log;
mod master;
mod routes;
mod service;
mod witness;

use std::sync::Arc;

pub use config::{HubConfig, HubKeys, HubLimits, MasterConfig, TlsFiles, Validity, ValidityError};
pub use error::HubError;

use renkei_proto::v1::hub_records_server::HubRecordsServer;
use renkei_proto::v1::hub_server::HubServer as HubGrpcServer;
use tokio::net::TcpListener;

/// A configured hub, ready to serve.
#[derive(Clone, Debug)]
pub struct Hub {
    state: Arc<exchange::HubState>,
    /// Prometheus registry, when `[metrics]` is configured.
    metrics: Option<renkei_transport::Metrics>,
}

impl Hub {
    /// Loads keys and master data and opens storage. Fails early, with the file at fault,
    /// rather than serving with a partial configuration.
    pub fn open(config: HubConfig) -> Result<Hub, HubError> {
        Hub::open_with_clock(config, renkei_core::SystemClock::shared())
    }

    /// [`Hub::open`] with time taken from `clock`: permits, records, master data and the
    /// expiry of pending exchanges all read it, so a test can move time by hand.
    pub fn open_with_clock(
        config: HubConfig,
        clock: renkei_core::SharedClock,
    ) -> Result<Hub, HubError> {
        let metrics = config
            .metrics
            .as_ref()
            .map(|_| renkei_transport::Metrics::new());
        Ok(Hub {
            state: Arc::new(exchange::HubState::open(config, clock)?),
            metrics,
        })
    }

    /// Appends and `fdatasync`s of the hub's record log (for benchmarks and diagnostics).
    pub fn record_log_stats(&self) -> renkei_ledger::WriterStats {
        self.state.records.ledger().stats()
    }

    /// Version of the master bundle currently published.
    pub fn master_version(&self) -> u64 {
        self.state.master_version()
    }

    /// Re-reads the master files and publishes a new signed bundle. [`Hub::serve`] calls
    /// it when half of the current bundle's validity has passed.
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
        let log = renkei_proto::v1::record_log_server::RecordLogServer::new(log::HubLog {
            state: self.state.clone(),
        })
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
        let disclosure =
            renkei_proto::v1::disclosure_server::DisclosureServer::new(disclosure::HubDisclosure {
                state: self.state.clone(),
            })
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let diagnostics = renkei_proto::v1::diagnostics_server::DiagnosticsServer::new(
            diagnostics::HubDiagnostics {
                state: self.state.clone(),
            },
        );
        let routes = tonic::service::Routes::new(hub)
            .add_service(records)
            .add_service(log)
            .add_service(disclosure)
            .add_service(diagnostics);
        let (stop_heads, heads_stopped) = tokio::sync::oneshot::channel::<()>();
        let heads = tokio::spawn(log::publish_heads(
            self.state.clone(),
            std::time::Duration::from_secs(self.state.config.limits.tree_head_interval_secs.max(1)),
            async move {
                let _ = heads_stopped.await;
            },
        ));
        let (stop_renewal, renewal_stopped) = tokio::sync::oneshot::channel::<()>();
        let renewal = tokio::spawn(master::renew(self.state.clone(), async move {
            let _ = renewal_stopped.await;
        }));
        let mut opts = self.state.config.limits.server_options();
        opts.metrics = self.metrics.clone();
        let served = renkei_transport::serve(
            listener,
            &self.state.credentials,
            routes,
            &[
                "renkei.v1.Hub",
                "renkei.v1.HubRecords",
                "renkei.v1.RecordLog",
                "renkei.v1.Disclosure",
                "renkei.v1.Diagnostics",
            ],
            opts,
            shutdown,
        )
        .await
        .map_err(HubError::from);
        // Waited for, not aborted: an aborted task drops its state (and the store with it)
        // some time later, and a blocking round in flight would outlive it; callers that
        // reopen the data dir in the same process need the store released when this returns.
        let _ = stop_heads.send(());
        if let Err(e) = heads.await {
            tracing::error!(error = %e, "tree head task failed");
        }
        let _ = stop_renewal.send(());
        if let Err(e) = renewal.await {
            tracing::error!(error = %e, "master data renewal task failed");
        }
        // A last head over everything recorded, so the log closes signed.
        let records = self.state.records.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || records.publish_tree_head()).await {
            tracing::error!(error = %e, "signing the final tree head failed");
        }
        served
    }

    /// Serves Prometheus metrics on `listener` (bound by the caller from
    /// `[metrics] listen`) until `shutdown`.
    pub async fn serve_metrics(
        &self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), HubError> {
        let Some(metrics) = self.metrics.clone() else {
            return Err(HubError::MetricsOff);
        };
        let state = self.state.clone();
        let into = metrics.clone();
        let refresh = Arc::new(move || {
            into.record(|| {
                metrics::gauge!("renkei_ledger_records").set(state.records.len() as f64);
                metrics::gauge!("renkei_master_data_expires_in_seconds")
                    .set(state.published().expires_in_secs(state.clock.now_ms()));
            });
        });
        renkei_transport::serve_metrics(listener, metrics, refresh, shutdown).await?;
        Ok(())
    }

    /// Signs a tree head now if the hub's record log grew since its last head.
    pub async fn publish_tree_head(&self) -> Result<(), HubError> {
        let records = self.state.records.clone();
        tokio::task::spawn_blocking(move || records.publish_tree_head())
            .await
            .map_err(|e| HubError::task("tree head", e))??;
        Ok(())
    }
}
