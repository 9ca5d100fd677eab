use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use renkei_transport::{RateLimit, ServerOptions};
use serde::Deserialize;

use crate::HubError;

/// The hub's configuration file (`deploy/hub.toml`). Relative paths are resolved against
/// the directory of the file, so a deployment can be moved as one folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub tls: TlsFiles,
    pub keys: HubKeys,
    pub master: MasterConfig,
    #[serde(default)]
    pub limits: HubLimits,
    /// Prometheus metrics over plain HTTP (`GET /metrics`); off when absent.
    #[serde(default)]
    pub metrics: Option<MetricsSettings>,
}

/// `[metrics]`: where Prometheus scrapes the hub. Labels carry method, status code, caller
/// kind and agency code only (docs/decisions/0042-prometheus-metrics.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// e.g. "127.0.0.1:9465". Plain HTTP: keep it on loopback or a management network.
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubKeys {
    /// Ed25519 key that signs master bundles and permits.
    pub signing: PathBuf,
    /// Secret from which symbols are derived.
    pub symbols: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterConfig {
    pub agencies: PathBuf,
    pub whitelist: PathBuf,
    /// How long gateways may rely on a bundle before they must fetch a newer one.
    #[serde(default = "default_validity_days")]
    pub validity_days: u32,
    /// Gateway endpoints that override the agencies file (per environment), code → host:port.
    #[serde(default)]
    pub endpoint_overrides: BTreeMap<String, String>,
}

fn default_validity_days() -> u32 {
    30
}

/// Limits; defaults suit one hub serving a whole country's municipalities.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubLimits {
    /// How long a permit stays valid: long enough to reach the provider, short enough that
    /// a stolen permit is useless.
    pub permit_ttl_secs: u64,
    pub rate_per_second: u32,
    pub burst: u32,
    pub max_message_bytes: usize,
    pub request_timeout_secs: u64,
    /// Deadline for a provider gateway to answer a delivered inquiry.
    pub provider_timeout_secs: u64,
    /// Largest batch of My Numbers one IssueSymbols call may carry.
    pub max_symbol_batch: usize,
    /// How often the hub's record log signs a tree head (when it has grown).
    pub tree_head_interval_secs: u64,
    /// The hub's 情報提供等記録 are kept this long, then purged (7 years by default).
    pub record_retention_days: u32,
}

impl Default for HubLimits {
    fn default() -> Self {
        HubLimits {
            permit_ttl_secs: 60,
            rate_per_second: 5_000,
            burst: 10_000,
            max_message_bytes: 4 * 1024 * 1024,
            request_timeout_secs: 30,
            provider_timeout_secs: 10,
            max_symbol_batch: 10_000,
            tree_head_interval_secs: 60,
            record_retention_days: 7 * 365 + 2,
        }
    }
}

impl HubLimits {
    pub(crate) fn server_options(&self) -> ServerOptions {
        ServerOptions {
            max_message_bytes: self.max_message_bytes,
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            rate_limit: RateLimit {
                per_second: self.rate_per_second,
                burst: self.burst,
            },
            ..ServerOptions::default()
        }
    }
}

impl HubConfig {
    pub fn load(path: &Path) -> Result<HubConfig, HubError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| HubError::Config(format!("cannot read {}: {e}", path.display())))?;
        let mut config: HubConfig = toml::from_str(&text)
            .map_err(|e| HubError::Config(format!("{}: {e}", path.display())))?;
        config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        Ok(config)
    }

    /// Makes every relative path relative to `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        fix(&mut self.tls.ca);
        fix(&mut self.tls.cert);
        fix(&mut self.tls.key);
        fix(&mut self.keys.signing);
        fix(&mut self.keys.symbols);
        fix(&mut self.master.agencies);
        fix(&mut self.master.whitelist);
    }
}
