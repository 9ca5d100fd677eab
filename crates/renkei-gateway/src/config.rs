use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use renkei_transport::{RateLimit, ServerOptions};
use serde::Deserialize;

use crate::GatewayError;

/// The gateway's configuration file (`deploy/gateway.toml`). Relative paths are resolved
/// against the file's directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Name of this gateway, as in its certificate (`urn:renkei:gateway:<name>`).
    pub name: String,
    /// Back-office side (既存システム接続).
    pub listen_local: SocketAddr,
    /// Network side: the hub delivers inquiries and late answers here.
    pub listen_network: SocketAddr,
    pub data_dir: PathBuf,
    pub tls: TlsFiles,
    pub hub: HubLink,
    #[serde(rename = "tenant")]
    pub tenants: Vec<TenantConfig>,
    #[serde(default)]
    pub limits: GatewayLimits,
    /// Operator accounts, sessions and the audit log (職員認証・権限管理).
    #[serde(default)]
    pub operators: OperatorSettings,
    /// Prometheus metrics over plain HTTP (`GET /metrics`); off when absent.
    #[serde(default)]
    pub metrics: Option<MetricsSettings>,
}

/// `[metrics]`: where Prometheus scrapes the gateway. Labels carry method, status code,
/// caller kind and tenant agency code only (docs/decisions/0042-prometheus-metrics.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// e.g. "127.0.0.1:9464". Plain HTTP: keep it on loopback or a management network.
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
pub struct HubLink {
    pub endpoint: String,
    pub server_name: String,
    /// The hub's Ed25519 public key: the trust anchor for master data and permits.
    pub signing_public_key: PathBuf,
    #[serde(default = "default_refresh")]
    pub master_refresh_secs: u64,
}

fn default_refresh() -> u64 {
    300
}

/// One hosted municipality.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub code: String,
    pub name: String,
    /// The certificate this gateway presents to the hub when acting for the tenant.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// Ed25519 key that signs the tenant's answers.
    pub signing_key: PathBuf,
    /// X25519 key that opens answers sealed to the tenant.
    pub encryption_key: PathBuf,
    /// Completed inquiry results are deleted this long after completion (一定期間経過後).
    #[serde(default = "default_retention")]
    pub inquiry_result_retention_secs: u64,
    /// Held answers (自動応答不可) and the answer deadline.
    #[serde(default)]
    pub held: HeldPolicy,
    /// 情報提供等記録 are kept this long, then purged a segment at a time (7 years by
    /// default, as the guidelines require).
    #[serde(default = "default_record_retention")]
    pub record_retention_days: u32,
}

/// 7 years and the leap days they may hold.
pub const DEFAULT_RECORD_RETENTION_DAYS: u32 = 7 * 365 + 2;

fn default_record_retention() -> u32 {
    DEFAULT_RECORD_RETENTION_DAYS
}

/// How a tenant holds answers it will not give automatically.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeldPolicy {
    /// A held inquiry no operator decided is completed as "expired" after this long.
    pub expiry_secs: u64,
    /// An answer that is not ready within this time is answered "pending" and delivered
    /// later through the hub. Every pending reply (slow or held) leaves at this moment,
    /// so its timing says nothing about why it is pending.
    pub answer_deadline_ms: u64,
    /// Emulation of a slow provision database: answers are ready this long after the
    /// inquiry arrives (0 = at once). Lets back offices exercise their pending handling.
    pub simulated_answer_latency_ms: u64,
    /// Procedures for which an inquiry about a person without a provision copy is held
    /// for an operator to answer by hand (岡崎市's practice); others answer "no data".
    pub hold_without_copy: Vec<String>,
}

impl Default for HeldPolicy {
    fn default() -> Self {
        HeldPolicy {
            expiry_secs: 14 * 24 * 3600,
            answer_deadline_ms: 2_000,
            simulated_answer_latency_ms: 0,
            hold_without_copy: Vec::new(),
        }
    }
}

/// Operator account rules, for every tenant of the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperatorSettings {
    pub idle_timeout_secs: u64,
    pub session_max_secs: u64,
    pub max_failed_logins: u32,
    /// Audit entries are kept this long (at least 5 years by default).
    pub audit_retention_days: u64,
}

impl Default for OperatorSettings {
    fn default() -> Self {
        let p = renkei_ops::OpsPolicy::default();
        OperatorSettings {
            idle_timeout_secs: p.idle_timeout.as_secs(),
            session_max_secs: p.session_max.as_secs(),
            max_failed_logins: p.max_failed_logins,
            audit_retention_days: p.audit_retention.as_secs() / (24 * 3600),
        }
    }
}

impl OperatorSettings {
    pub fn policy(&self) -> renkei_ops::OpsPolicy {
        renkei_ops::OpsPolicy {
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            session_max: Duration::from_secs(self.session_max_secs.max(1)),
            max_failed_logins: self.max_failed_logins.max(1),
            audit_retention: Duration::from_secs(self.audit_retention_days * 24 * 3600),
            ..renkei_ops::OpsPolicy::default()
        }
    }
}

fn default_retention() -> u64 {
    30 * 24 * 3600
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayLimits {
    pub rate_per_second: u32,
    pub burst: u32,
    pub max_message_bytes: usize,
    pub request_timeout_secs: u64,
    /// Deadline for the hub to complete an exchange.
    pub hub_timeout_secs: u64,
    /// How often expired inquiry results are purged.
    pub purge_interval_secs: u64,
    /// sled cache size.
    pub cache_mib: u64,
    /// How often each tenant's record log signs a tree head (when it has grown).
    pub tree_head_interval_secs: u64,
}

impl Default for GatewayLimits {
    fn default() -> Self {
        GatewayLimits {
            rate_per_second: 2_000,
            burst: 4_000,
            max_message_bytes: 4 * 1024 * 1024,
            request_timeout_secs: 30,
            hub_timeout_secs: 15,
            purge_interval_secs: 60,
            cache_mib: 64,
            tree_head_interval_secs: 60,
        }
    }
}

impl GatewayLimits {
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

impl GatewayConfig {
    pub fn load(path: &Path) -> Result<GatewayConfig, GatewayError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GatewayError::Config(format!("cannot read {}: {e}", path.display())))?;
        let mut config: GatewayConfig = toml::from_str(&text)
            .map_err(|e| GatewayError::Config(format!("{}: {e}", path.display())))?;
        config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        Ok(config)
    }

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
        fix(&mut self.hub.signing_public_key);
        for t in &mut self.tenants {
            fix(&mut t.client_cert);
            fix(&mut t.client_key);
            fix(&mut t.signing_key);
            fix(&mut t.encryption_key);
        }
    }
}
