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
    /// How long gateways may rely on a bundle before they must fetch a newer one, e.g.
    /// `"30d"`, `"12h"`, `"20s"` (at least 10 s). The hub signs a new bundle when half of
    /// it has passed (docs/decisions/0070-master-data-renewal.md).
    #[serde(default)]
    pub validity: Validity,
    /// Gateway endpoints that override the agencies file (per environment), code → host:port.
    #[serde(default)]
    pub endpoint_overrides: BTreeMap<String, String>,
}

/// How long a signed master bundle is valid: at least [`Validity::MIN`]. Written in
/// `hub.toml` as a number and a unit, `s`, `m`, `h` or `d` (`"30d"`, `"12h"`, `"20s"`), or
/// several of them (`"1h30m"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity(Duration);

/// A `validity` that is not a duration, or is too short to renew in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidityError {
    #[error(
        "master validity {given:?} is not a duration: write a number and a unit, s, m, h or d (e.g. \"30d\", \"12h\", \"20s\")"
    )]
    Malformed { given: String },
    #[error(
        "master validity {given:?} is too short: it must be at least 10s, so the hub can sign a new bundle at half of it and gateways can fetch it in time"
    )]
    TooShort { given: String },
}

impl Validity {
    /// The shortest validity accepted.
    pub const MIN: Duration = Duration::from_secs(10);

    /// A validity of `d`, refused if shorter than [`Validity::MIN`].
    pub fn new(d: Duration) -> Result<Validity, ValidityError> {
        if d < Self::MIN {
            return Err(ValidityError::TooShort {
                given: format!("{}s", d.as_secs_f64()),
            });
        }
        Ok(Validity(d))
    }

    /// Parses `"30d"`, `"12h"`, `"90m"`, `"20s"` or combinations such as `"1h30m"`.
    pub fn parse(text: &str) -> Result<Validity, ValidityError> {
        let malformed = || ValidityError::Malformed {
            given: text.to_owned(),
        };
        let s = text.trim();
        if s.is_empty() {
            return Err(malformed());
        }
        let mut total: u64 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .ok_or_else(malformed)?;
            if digits == 0 {
                return Err(malformed());
            }
            let number: u64 = rest[..digits].parse().map_err(|_| malformed())?;
            let unit_char = rest[digits..].chars().next().ok_or_else(malformed)?;
            let unit: u64 = match unit_char {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 24 * 3600,
                _ => return Err(malformed()),
            };
            total = number
                .checked_mul(unit)
                .and_then(|secs| total.checked_add(secs))
                .ok_or_else(malformed)?;
            rest = &rest[digits + unit_char.len_utf8()..];
        }
        let d = Duration::from_secs(total);
        if d < Self::MIN {
            return Err(ValidityError::TooShort {
                given: text.to_owned(),
            });
        }
        Ok(Validity(d))
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }
}

impl Default for Validity {
    /// 30 days.
    fn default() -> Self {
        Validity(Duration::from_secs(30 * 24 * 3600))
    }
}

impl std::str::FromStr for Validity {
    type Err = ValidityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Validity::parse(s)
    }
}

impl<'de> Deserialize<'de> for Validity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Validity::parse(&text).map_err(serde::de::Error::custom)
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn validity_accepts_durations_of_ten_seconds_or_more() {
        assert_eq!(
            Validity::parse("20s").unwrap().as_duration(),
            Duration::from_secs(20)
        );
        assert_eq!(
            Validity::parse("30d").unwrap().as_duration(),
            Duration::from_secs(30 * 24 * 3600)
        );
        assert_eq!(
            Validity::parse("12h").unwrap().as_duration(),
            Duration::from_secs(12 * 3600)
        );
        assert_eq!(
            Validity::parse("1h30m").unwrap().as_duration(),
            Duration::from_secs(5400)
        );
        assert_eq!(Validity::parse("10s").unwrap().as_duration(), Validity::MIN);
    }

    #[test]
    fn validity_refuses_zero_short_and_malformed_durations() {
        for short in ["0s", "5s", "9s", "0d"] {
            let e = Validity::parse(short).unwrap_err();
            assert!(matches!(e, ValidityError::TooShort { .. }), "{short}: {e}");
            assert!(e.to_string().contains("at least 10s"), "{e}");
        }
        for bad in [
            "",
            "0",
            "30",
            "d",
            "30x",
            "3 0d",
            "-5s",
            "99999999999999999999d",
        ] {
            assert!(
                matches!(Validity::parse(bad), Err(ValidityError::Malformed { .. })),
                "{bad:?} was accepted"
            );
        }
        assert!(Validity::new(Duration::from_secs(5)).is_err());
        assert!(Validity::new(Duration::from_secs(20)).is_ok());
    }

    #[test]
    fn hub_toml_validity_is_a_duration_and_zero_is_a_config_error() {
        let master = |validity: &str| {
            toml::from_str::<MasterConfig>(&format!(
                "agencies = \"a.toml\"\nwhitelist = \"w.toml\"\n{validity}"
            ))
        };
        assert_eq!(
            master("validity = \"20s\"").unwrap().validity.as_duration(),
            Duration::from_secs(20)
        );
        assert_eq!(master("").unwrap().validity, Validity::default());
        let e = master("validity = \"0s\"").unwrap_err().to_string();
        assert!(e.contains("at least 10s"), "{e}");
        // The old key is gone; deny_unknown_fields names it.
        let e = master("validity_days = 30").unwrap_err().to_string();
        assert!(e.contains("validity_days"), "{e}");
    }
}
