//! The intermediate server (中間サーバー): one process hosting many municipalities.
//!
//! * The **local side** (既存システム接続) serves each tenant's back-office systems: symbols,
//!   provision copies, inquiries and records. The tenant is taken from the caller's
//!   certificate, so a back office cannot act for another municipality.
//! * The **network side** takes inquiries and late answers from the hub.
//!
//! Every tenant has its own keys, its own storage namespace and its own record log.
#![forbid(unsafe_code)]

mod config;
mod copies;
mod error;
mod health;
mod held;
mod hub_link;
mod inquiry;
mod jobs;
mod maintenance;
mod master;
mod provision;
mod retention;
mod service;
mod symbols;
mod tenant;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use renkei_proto::v1::{GetMasterDataRequest, SignedMasterBundle};
use renkei_store::{Store, StoreOptions};
use renkei_transport::Credentials;
use tokio::net::TcpListener;

pub use config::{
    DEFAULT_RECORD_RETENTION_DAYS, GatewayConfig, GatewayLimits, HeldPolicy, HubLink,
    MetricsSettings, OperatorSettings, TenantConfig, TlsFiles,
};
pub use error::GatewayError;
pub use master::Installed;
pub use renkei_store::SLED_LOG_CAP;

use crate::master::MasterCell;
use crate::tenant::Tenant;

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: GatewayConfig,
    pub(crate) store: Store,
    pub(crate) tenants: BTreeMap<String, Arc<Tenant>>,
    pub(crate) master: MasterCell,
    pub(crate) credentials: Credentials,
    pub(crate) health: health::HealthState,
    /// Maintenance mode, gateway-wide and persisted (module `maintenance`).
    pub(crate) maintenance: Arc<maintenance::Maintenance>,
    /// Prometheus registry, when `[metrics]` is configured.
    pub(crate) metrics: Option<renkei_transport::Metrics>,
}

/// See [`Gateway::storage_stats`].
#[derive(Clone, Debug, Default)]
pub struct StorageStats {
    pub commits: u64,
    pub flushes: u64,
    /// (agency code, appends and syncs of its record log)
    pub record_logs: Vec<(String, renkei_ledger::WriterStats)>,
}

/// A configured gateway.
#[derive(Clone, Debug)]
pub struct Gateway {
    inner: Arc<Inner>,
}

impl Gateway {
    /// Opens storage and loads every tenant's keys and certificates; fails with the file
    /// at fault rather than starting with a tenant missing.
    pub fn open(config: GatewayConfig) -> Result<Gateway, GatewayError> {
        Self::open_with_clock(config, renkei_core::SystemClock::shared())
    }

    /// [`Gateway::open`] with the clock every tenant, the master-data checks, maintenance
    /// and the batch jobs read, so a test can drive expiry and deadlines with a
    /// `renkei_core::FakeClock` instead of sleeping.
    pub fn open_with_clock(
        config: GatewayConfig,
        clock: renkei_core::SharedClock,
    ) -> Result<Gateway, GatewayError> {
        if config.tenants.is_empty() {
            return Err(GatewayError::Config(
                "the gateway hosts no tenant ([[tenant]] is empty)".into(),
            ));
        }
        let credentials = Credentials::load(&config.tls.ca, &config.tls.cert, &config.tls.key)?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            GatewayError::Config(format!("cannot create {}: {e}", config.data_dir.display()))
        })?;
        let store = Store::open(
            &config.data_dir.join("db"),
            &StoreOptions {
                cache_bytes: config.limits.cache_mib * 1024 * 1024,
            },
        )?;
        let anchor = renkei_crypto::read_verifying_key(&config.hub.signing_public_key)?;
        let master = MasterCell::open(anchor, store.global("master")?, clock.clone())?;
        let maintenance = Arc::new(maintenance::Maintenance::open(
            store.global("system")?,
            clock.clone(),
        )?);
        let metrics = config
            .metrics
            .as_ref()
            .map(|_| renkei_transport::Metrics::new());
        let mut tenants = BTreeMap::new();
        for tc in &config.tenants {
            let deadline = tc.held.answer_deadline_ms;
            if deadline == 0
                || deadline > 8_000
                || deadline >= config.limits.hub_timeout_secs * 1000
            {
                return Err(GatewayError::Config(format!(
                    "tenant {}: held.answer_deadline_ms = {deadline}: must be 1 to 8000 and below \
                     limits.hub_timeout_secs, so a pending reply reaches the hub before it gives up",
                    tc.code
                )));
            }
            let t = Tenant::open(&config, tc, &store, clock.clone())?;
            if tenants.insert(t.code.to_string(), Arc::new(t)).is_some() {
                return Err(GatewayError::Config(format!(
                    "tenant {} is configured twice",
                    tc.code
                )));
            }
        }
        Ok(Gateway {
            inner: Arc::new(Inner {
                config,
                store,
                tenants,
                master,
                credentials,
                health: health::HealthState::default(),
                maintenance,
                metrics,
            }),
        })
    }

    /// Codes of the hosted municipalities.
    pub fn tenant_codes(&self) -> Vec<String> {
        self.inner.tenants.keys().cloned().collect()
    }

    /// Durable-write counters: storage commits asked for and flushes that served them, and
    /// each tenant's record-log appends and `fdatasync`s. For benchmarks and diagnostics:
    /// the bench divides them by the inquiries answered.
    pub fn storage_stats(&self) -> StorageStats {
        let c = self.inner.store.commit_stats();
        StorageStats {
            commits: c.requests,
            flushes: c.flushes,
            record_logs: self
                .inner
                .tenants
                .iter()
                .map(|(code, t)| (code.clone(), t.records.ledger().stats()))
                .collect(),
        }
    }

    /// Version of the master data in use, if any.
    pub fn master_version(&self) -> Option<u64> {
        self.inner.master.peek().map(|m| m.version())
    }

    /// Offers a signed bundle; a bad signature is refused and the last good one is kept.
    pub async fn install_master(
        &self,
        signed: &SignedMasterBundle,
    ) -> Result<Installed, GatewayError> {
        let installed = self.inner.master.install(signed)?;
        self.inner.store.commit().await?;
        Ok(installed)
    }

    /// Fetches master data from the hub (through the first tenant's link) and installs it.
    pub async fn refresh_master(&self) -> Result<Installed, GatewayError> {
        let tenant = self
            .inner
            .tenants
            .values()
            .next()
            .ok_or_else(|| GatewayError::Config("no tenant".into()))?;
        let known = self.master_version().unwrap_or(0);
        let resp = tenant
            .hub
            .clone()
            .get_master_data(GetMasterDataRequest {
                known_version: known,
            })
            .await;
        // Health follows the hub's reachability (module `health`).
        self.inner
            .health
            .hub_reachable
            .store(resp.is_ok(), std::sync::atomic::Ordering::Relaxed);
        let resp = resp
            .map_err(|s| GatewayError::hub_unreachable("hub", &s))?
            .into_inner();
        match resp.bundle {
            Some(signed) => self.install_master(&signed).await,
            None => Ok(Installed::NotNewer(known)),
        }
    }

    /// Creates a tenant's first administrator (`renkei ops bootstrap-admin`) and returns the
    /// one-time password, which must be changed at the first login.
    pub async fn bootstrap_admin(
        &self,
        tenant: &str,
        user: &str,
        display_name: &str,
    ) -> Result<String, GatewayError> {
        let t = self
            .inner
            .tenants
            .get(tenant)
            .ok_or_else(|| GatewayError::UnknownTenant {
                agency: tenant.to_owned(),
                hosted: self.tenant_codes().join(", "),
            })?;
        Ok(t.ops.bootstrap_admin(user, display_name).await?)
    }

    /// Runs the retention purge for every tenant now; returns how many results were deleted.
    pub async fn purge_now(&self) -> Result<u64, GatewayError> {
        let mut total = 0;
        for t in self.inner.tenants.values() {
            // A purge is a batch job while it runs; one that deleted nothing leaves no
            // entry, or the history would fill with a no-op every purge interval.
            let job = t
                .jobs
                .start(renkei_proto::v1::JobKind::RetentionPurge, "system".into())?;
            match t.purge_expired().await {
                Ok((0, 0)) => job.discard(),
                Ok((results, records)) => {
                    job.progress(results + records, 0);
                    job.finish(renkei_proto::v1::JobState::Succeeded, "");
                    t.commit().await?;
                    total += results;
                }
                Err(e) => {
                    job.finish(renkei_proto::v1::JobState::Failed, &e.to_string());
                    return Err(e);
                }
            }
            t.ops.audit.purge_expired(t.clock.now_ms()).await?;
            t.purge_decided_held(t.clock.now_ms()).await?;
        }
        Ok(total)
    }

    /// Signs a tree head for every tenant whose record log grew since its last head.
    pub async fn publish_tree_heads(&self) -> Result<(), GatewayError> {
        for t in self.inner.tenants.values() {
            let records = t.records.clone();
            // Statistics counters are folded on the same tick, so a statistics query
            // finds little left to fold (docs/decisions/0046).
            tokio::task::spawn_blocking(move || {
                records.publish_tree_head()?;
                records.update_counters().map(|_| ())
            })
            .await
            .map_err(|e| GatewayError::task("tree head", e))??;
        }
        Ok(())
    }

    /// Serves both sides until `shutdown` resolves, refreshing master data and purging
    /// expired results in the background.
    pub async fn serve(
        self,
        local: TcpListener,
        network: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), GatewayError> {
        let shutdown = shutdown.shared();
        let background = tokio::spawn(self.clone().background(shutdown.clone()));
        let (local_routes, network_routes) = service::routes(&self.inner);
        let mut opts = self.inner.config.limits.server_options();
        opts.metrics = self.inner.metrics.clone();
        opts.gate = Some(Arc::new(maintenance::Gate(self.inner.maintenance.clone())));
        let creds = &self.inner.credentials;
        let served = tokio::try_join!(
            renkei_transport::serve_with_health(
                local,
                creds,
                local_routes,
                self.inner.health.handle.clone(),
                &service::LOCAL_SERVICES,
                opts.clone(),
                shutdown.clone()
            ),
            renkei_transport::serve_with_health(
                network,
                creds,
                network_routes,
                self.inner.health.handle.clone(),
                &service::NETWORK_SERVICES,
                opts,
                shutdown
            ),
        );
        // Aborted, since a round may wait on the hub for a request timeout; then waited for,
        // because an aborted task is dropped (with its clone of the gateway and so of the
        // store) only later, and a caller reopening the data dir needs the store released.
        background.abort();
        if let Err(e) = background.await
            && !e.is_cancelled()
        {
            tracing::error!(error = %e, "background task failed");
        }
        // A last head over everything recorded, so each log closes signed.
        if let Err(e) = self.publish_tree_heads().await {
            tracing::error!(error = %e, "signing the final tree heads failed");
        }
        served.map(|_| ()).map_err(GatewayError::from)
    }

    /// Serves Prometheus metrics on `listener` (bound by the caller from
    /// `[metrics] listen`) until `shutdown`. Gauges that are cheaper to read than to keep
    /// current (held inquiries, record-log sizes, running jobs) are read at each scrape.
    pub async fn serve_metrics(
        &self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), GatewayError> {
        let Some(metrics) = self.inner.metrics.clone() else {
            return Err(GatewayError::Config(
                "metrics are off: add [metrics] listen = \"127.0.0.1:9464\" to the configuration"
                    .into(),
            ));
        };
        let inner = self.inner.clone();
        let refresh_into = metrics.clone();
        let refresh = Arc::new(move || refresh_gauges(&inner, &refresh_into));
        renkei_transport::serve_metrics(listener, metrics, refresh, shutdown).await?;
        Ok(())
    }

    async fn background(self, shutdown: impl std::future::Future<Output = ()>) {
        let refresh = Duration::from_secs(self.inner.config.hub.master_refresh_secs.max(1));
        let purge = Duration::from_secs(self.inner.config.limits.purge_interval_secs.max(1));
        let mut refresh_tick = tokio::time::interval(refresh);
        let mut purge_tick = tokio::time::interval(purge);
        // Held inquiries expire and deferred answers fall due on their own clock.
        let mut held_tick = tokio::time::interval(Duration::from_secs(1));
        let heads = Duration::from_secs(self.inner.config.limits.tree_head_interval_secs.max(1));
        let mut head_tick = tokio::time::interval(heads);
        // Until master data arrives, retry quickly: nothing can be checked without it.
        let mut retry = tokio::time::interval(Duration::from_millis(500));
        tokio::pin!(shutdown);
        loop {
            self.update_health().await;
            tokio::select! {
                _ = &mut shutdown => break,
                _ = refresh_tick.tick() => self.refresh_logged().await,
                _ = retry.tick(), if self.master_version().is_none() => self.refresh_logged().await,
                _ = held_tick.tick() => self.sweep_held().await,
                _ = head_tick.tick() => {
                    if let Err(e) = self.publish_tree_heads().await {
                        tracing::error!(error = %e, "signing tree heads failed");
                    }
                }
                _ = purge_tick.tick() => {
                    if let Err(e) = self.purge_now().await {
                        tracing::error!(error = %e, "retention purge failed");
                    }
                }
            }
        }
    }

    /// Expires held inquiries and delivers due deferred answers for every tenant.
    pub async fn sweep_held(&self) {
        let Ok(master) = self.inner.master.get() else {
            return;
        };
        for t in self.inner.tenants.values() {
            if let Err(e) = t.sweep_held(&master).await {
                tracing::error!(tenant = %t.code, error = %e, "held-inquiry sweep failed");
            }
        }
    }

    async fn refresh_logged(&self) {
        match self.refresh_master().await {
            Ok(Installed::New(v)) => tracing::info!(version = v, "master data refreshed"),
            Ok(Installed::NotNewer(_)) => {}
            Err(e) => {
                tracing::warn!(error = %e, "master data refresh failed; keeping the last good bundle")
            }
        }
    }
}

/// Sets the per-tenant gauges from current state. Labels: the tenant's agency code only.
fn refresh_gauges(inner: &Inner, metrics: &renkei_transport::Metrics) {
    metrics.record(|| {
        metrics::gauge!("renkei_maintenance").set(if inner.maintenance.is_on() {
            1.0
        } else {
            0.0
        });
        // The gateway stops serving when its master data expires; this is the warning.
        if let Some(master) = inner.master.peek() {
            let left_ms = master
                .bundle()
                .expires_at_ms
                .saturating_sub(renkei_core::Clock::now_ms(&renkei_core::SystemClock));
            metrics::gauge!("renkei_master_data_expires_in_seconds").set(left_ms as f64 / 1000.0);
        }
        for t in inner.tenants.values() {
            let tenant = t.code.to_string();
            // As of the last sweep (every second): the gauge is read without storage I/O.
            let held = t.held_waiting.load(std::sync::atomic::Ordering::Relaxed);
            metrics::gauge!("renkei_held_inquiries", "tenant" => tenant.clone()).set(held as f64);
            metrics::gauge!("renkei_jobs_running", "tenant" => tenant.clone())
                .set(t.jobs.running_count() as f64);
            metrics::gauge!("renkei_ledger_records", "tenant" => tenant)
                .set(t.records.len() as f64);
        }
    });
}
