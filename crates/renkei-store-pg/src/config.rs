//! How a node finds its database: the `[store]` section a later change wires into the
//! gateway and hub configuration.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde::{Deserialize, Serialize};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::PgError;

/// The database a node uses. The password is never in `url` (refused there, since a URL
/// ends up in process lists, shell history and logs): it comes from `password_file` or the
/// environment variable `password_env`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgConfig {
    /// A libpq URL or key=value string, e.g.
    /// `postgres://renkei@db1:5432,db2:5432/renkei?target_session_attrs=read-write`.
    pub url: String,
    /// Connections this node keeps open at most.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// A file whose content (trailing newline dropped) is the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The name of an environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The CA (PEM) that signed the database's certificate; required unless every host is
    /// on loopback or a Unix socket. No system trust store: a database is the platform's
    /// own, so its CA is named, not assumed.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_pool_size() -> usize {
    16
}

impl PgConfig {
    /// A config for `url` with the default pool and no password (trust or peer auth).
    pub fn new(url: impl Into<String>) -> PgConfig {
        PgConfig {
            url: url.into(),
            pool_size: default_pool_size(),
            password_file: None,
            password_env: None,
            ca_file: None,
        }
    }

    /// The client configuration, with the password filled in and TLS required off
    /// loopback.
    pub(crate) fn client_config(&self) -> Result<tokio_postgres::Config, PgError> {
        let mut pg: tokio_postgres::Config = self.url.parse().map_err(PgError::Url)?;
        if pg.get_password().is_some() {
            return Err(PgError::PasswordInUrl);
        }
        if let Some(file) = &self.password_file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| PgError::PasswordFile(file.display().to_string(), e))?;
            pg.password(text.trim_end_matches(['\r', '\n']));
        } else if let Some(var) = &self.password_env {
            let value = std::env::var(var).map_err(|_| PgError::PasswordEnv(var.clone()))?;
            pg.password(value);
        }
        if !self.all_loopback(&pg) {
            pg.ssl_mode(SslMode::Require);
        }
        if pg.get_application_name().is_none() {
            pg.application_name("renkei");
        }
        Ok(pg)
    }

    fn all_loopback(&self, pg: &tokio_postgres::Config) -> bool {
        let hosts_local = pg.get_hosts().iter().all(|h| match h {
            Host::Unix(_) => true,
            Host::Tcp(name) => {
                name.eq_ignore_ascii_case("localhost")
                    || name
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        });
        hosts_local && pg.get_hostaddrs().iter().all(|ip| ip.is_loopback())
    }

    /// The rustls connector when TLS is needed, `None` on loopback.
    pub(crate) fn tls(&self) -> Result<Option<MakeRustlsConnect>, PgError> {
        let pg: tokio_postgres::Config = self.url.parse().map_err(PgError::Url)?;
        if self.all_loopback(&pg) {
            return Ok(None);
        }
        let file = self.ca_file.as_ref().ok_or(PgError::NoCaFile)?;
        let name = file.display().to_string();
        let mut roots = rustls::RootCertStore::empty();
        for cert in
            CertificateDer::pem_file_iter(file).map_err(|e| PgError::CaFile(name.clone(), e))?
        {
            let cert = cert.map_err(|e| PgError::CaFile(name.clone(), e))?;
            roots.add(cert).map_err(PgError::Tls)?;
        }
        if roots.is_empty() {
            return Err(PgError::NoCaCertificate(name));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(PgError::Tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Some(MakeRustlsConnect::new(config)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_is_refused() {
        let cfg = PgConfig::new("postgres://renkei:secret@127.0.0.1/renkei");
        assert!(matches!(cfg.client_config(), Err(PgError::PasswordInUrl)));
    }

    #[test]
    fn loopback_needs_no_tls_and_a_remote_host_needs_a_ca() {
        let local = PgConfig::new("postgres://renkei@127.0.0.1:5432,localhost:5433/renkei");
        assert!(local.tls().unwrap().is_none());
        let unix = PgConfig::new("host=/tmp/pg port=5432 user=renkei dbname=renkei");
        assert!(unix.tls().unwrap().is_none());
        let remote = PgConfig::new("postgres://renkei@127.0.0.1,db2.example.invalid/renkei");
        assert!(matches!(remote.tls(), Err(PgError::NoCaFile)));
        let pg = remote.client_config().unwrap();
        assert_eq!(
            pg.get_ssl_mode(),
            SslMode::Require,
            "TLS is required off loopback"
        );
    }

    #[test]
    fn the_password_comes_from_a_file_or_the_environment() {
        let dir = std::env::temp_dir().join(format!("renkei-pg-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        let mut cfg = PgConfig::new("postgres://renkei@127.0.0.1/renkei");
        cfg.password_file = Some(file);
        assert_eq!(
            cfg.client_config().unwrap().get_password(),
            Some(&b"s3cret"[..])
        );
        let mut cfg = PgConfig::new("postgres://renkei@127.0.0.1/renkei");
        cfg.password_env = Some("RENKEI_TEST_SURELY_UNSET_PG_PASSWORD".into());
        assert!(matches!(cfg.client_config(), Err(PgError::PasswordEnv(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_config_reads_from_toml_with_defaults() {
        let cfg: PgConfig = toml::from_str(
            "url = \"postgres://renkei@127.0.0.1/renkei\"\npassword_env = \"PGPASS\"\n",
        )
        .unwrap();
        assert_eq!(cfg.pool_size, 16);
        assert_eq!(cfg.password_env.as_deref(), Some("PGPASS"));
        assert!(toml::from_str::<PgConfig>("url = \"x\"\npassword = \"no\"\n").is_err());
    }
}
