//! The development PKI and agency keys of Renkei (`renkei certs generate`).
//!
//! Every Renkei connection is mutual TLS, and a peer's identity comes from exactly one
//! `urn:renkei:…` SAN URI in its certificate (see `renkei-transport`). Developers and the
//! end-to-end tests need a complete, consistent set of such certificates plus the agencies'
//! signing and encryption keys; this crate makes them, and writes a README next to them so
//! the directory explains itself.
//!
//! Everything produced here is **for development only**: the keys are checked into the
//! repository, so anybody can impersonate any identity they name. Names, organisation
//! fields and the README say so loudly, so that nobody mistakes them for real credentials.
#![forbid(unsafe_code)]

mod ca;
mod error;
mod files;
mod keys;
mod readme;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use renkei_core::AgencyCode;

pub use ca::{DevCa, issue_client_cert};
pub use error::PkiError;

use ca::LeafSpec;

/// Organisation written into every certificate, so that a dev certificate is recognisable as
/// such wherever it is displayed (browser, `openssl x509 -text`, logs).
pub const DEV_ORGANIZATION: &str = "Renkei DEVELOPMENT — NOT FOR PRODUCTION";

/// Common name of the development CA.
pub const DEV_CA_COMMON_NAME: &str = "Renkei DEVELOPMENT CA — NOT FOR PRODUCTION";

/// Header line of every key file, so a key file read out of context still warns its reader.
pub const DEV_KEY_HEADER: &str = "# Renkei DEVELOPMENT key — never use in production";

/// One municipality hosted on the development gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSpec {
    pub code: AgencyCode,
    /// Human-readable name, used in certificate common names and the README.
    pub name: String,
}

/// What [`generate_dev_pki`] makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevPkiSpec {
    pub tenants: Vec<TenantSpec>,
    /// Back-office system name in `urn:renkei:backoffice:<code>:<system>`.
    pub backoffice_system: String,
    /// Gateway name in `urn:renkei:gateway:<name>`.
    pub gateway_name: String,
    /// Every certificate expires at the end of this year (UTC).
    pub valid_until_year: i32,
}

impl DevPkiSpec {
    /// The PKI checked into `certs-dev/`: three municipalities on gateway `gw1`.
    pub fn default_dev() -> Result<DevPkiSpec, PkiError> {
        let tenant = |code: &str, name: &str| -> Result<TenantSpec, PkiError> {
            Ok(TenantSpec {
                code: AgencyCode::parse(code).map_err(|e| PkiError::InvalidSpec {
                    reason: format!("built-in tenant code {code}: {e}"),
                })?,
                name: name.to_owned(),
            })
        };
        Ok(DevPkiSpec {
            tenants: vec![
                tenant("011002", "札幌市")?,
                tenant("141003", "横浜市")?,
                tenant("232025", "岡崎市")?,
            ],
            backoffice_system: "vaccination".to_owned(),
            gateway_name: "gw1".to_owned(),
            valid_until_year: 2046,
        })
    }

    /// Refuses a spec that would produce certificates `renkei-transport` cannot parse, so a
    /// mistake surfaces at generation time rather than as a failed handshake much later.
    fn validate(&self) -> Result<(), PkiError> {
        let invalid = |reason: String| Err(PkiError::InvalidSpec { reason });
        check_segment("gateway name", &self.gateway_name)?;
        check_segment("back-office system name", &self.backoffice_system)?;
        if self.tenants.is_empty() {
            return invalid("at least one tenant is needed".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for t in &self.tenants {
            if !seen.insert(t.code.as_str()) {
                return invalid(format!("tenant {} is listed twice", t.code));
            }
            if t.name.trim().is_empty() || t.name.chars().any(char::is_control) {
                return invalid(format!(
                    "tenant {} needs a printable, non-empty name",
                    t.code
                ));
            }
        }
        let this_year = crate::now().year();
        if !(this_year..=9999).contains(&self.valid_until_year) {
            return invalid(format!(
                "valid_until_year {} must be between {this_year} and 9999",
                self.valid_until_year
            ));
        }
        Ok(())
    }
}

/// The kind of a file written by [`generate_dev_pki`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A PEM certificate.
    Certificate,
    /// A PEM private key (mode 0600).
    PrivateKey,
    /// An agency key file written by `renkei_crypto::write_key_file`.
    AgencyKey,
    /// The README that documents the directory.
    Readme,
}

/// One file written by [`generate_dev_pki`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Path relative to the output directory (e.g. `keys/141003.sign.key`).
    pub path: PathBuf,
    pub kind: FileKind,
    /// What the file is for, as written in the README.
    pub description: String,
    /// For certificates, the SAN URI naming the identity.
    pub role_uri: Option<String>,
}

/// The result of [`generate_dev_pki`]: the directory and every file written into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedPki {
    pub out_dir: PathBuf,
    pub files: Vec<GeneratedFile>,
}

impl GeneratedPki {
    /// Absolute (or out_dir-relative, if out_dir was relative) paths of all files written.
    pub fn paths(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.files.iter().map(|f| self.out_dir.join(&f.path))
    }
}

impl fmt::Display for GeneratedPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "wrote {} files to {}:",
            self.files.len(),
            self.out_dir.display()
        )?;
        for file in &self.files {
            writeln!(f, "  {}  {}", file.path.display(), file.description)?;
        }
        Ok(())
    }
}

/// A certificate issued by [`generate_dev_pki`], described for the README.
struct IssuedCert {
    stem: String,
    role_uri: String,
    holder: String,
}

/// (Re)generates the development PKI and agency keys into `out_dir`.
///
/// Existing files of the same names are replaced (atomically, file by file); other files are
/// left alone. The CA is new on every run, so all certificates must be regenerated together,
/// which is why this is one function rather than a set of per-identity commands.
pub fn generate_dev_pki(out_dir: &Path, spec: &DevPkiSpec) -> Result<GeneratedPki, PkiError> {
    spec.validate()?;
    files::create_dir(out_dir)?;
    let not_after = end_of_year(spec.valid_until_year)?;
    let ca = DevCa::generate_until(DEV_CA_COMMON_NAME, not_after)?;

    let mut out = GeneratedPki {
        out_dir: out_dir.to_path_buf(),
        files: Vec::new(),
    };
    let mut certs: Vec<IssuedCert> = Vec::new();

    files::write_public(out_dir, "ca.pem", ca.cert_pem().as_bytes())?;
    out.files.push(GeneratedFile {
        path: "ca.pem".into(),
        kind: FileKind::Certificate,
        description: "development CA certificate: the trust anchor of every server and client"
            .into(),
        role_uri: None,
    });
    files::write_private(out_dir, "ca.key.pem", ca.key_pem().as_bytes())?;
    out.files.push(GeneratedFile {
        path: "ca.key.pem".into(),
        kind: FileKind::PrivateKey,
        description: "development CA private key (only `renkei certs generate` needs it)".into(),
        role_uri: None,
    });

    let loopback = [IpAddr::V4(Ipv4Addr::LOCALHOST)];
    let mut issue = |stem: &str, spec: LeafSpec<'_>, holder: String| -> Result<(), PkiError> {
        let (cert, key) = ca.issue(&spec)?;
        let cert_name = format!("{stem}.pem");
        let key_name = format!("{stem}.key.pem");
        files::write_public(out_dir, &cert_name, cert.as_bytes())?;
        files::write_private(out_dir, &key_name, key.as_bytes())?;
        out.files.push(GeneratedFile {
            path: cert_name.into(),
            kind: FileKind::Certificate,
            description: format!("certificate of {holder}"),
            role_uri: Some(spec.role_uri.to_owned()),
        });
        out.files.push(GeneratedFile {
            path: key_name.into(),
            kind: FileKind::PrivateKey,
            description: format!("private key of {holder}"),
            role_uri: None,
        });
        certs.push(IssuedCert {
            stem: stem.to_owned(),
            role_uri: spec.role_uri.to_owned(),
            holder,
        });
        Ok(())
    };

    let hub_uri = "urn:renkei:hub".to_owned();
    issue(
        "hub",
        LeafSpec {
            common_name: "Renkei hub (情報提供ネットワークシステム) — DEVELOPMENT",
            unit: "hub",
            role_uri: &hub_uri,
            dns_names: &["hub.renkei.local", "localhost"],
            ip_addresses: &loopback,
            server_auth: true,
            client_auth: true,
        },
        "the hub (server to gateways, client of gateways' network endpoints)".into(),
    )?;

    let gw_uri = format!("urn:renkei:gateway:{}", spec.gateway_name);
    let gw_cn = format!(
        "Renkei gateway {} (中間サーバー) — DEVELOPMENT",
        spec.gateway_name
    );
    issue(
        "gateway",
        LeafSpec {
            common_name: &gw_cn,
            unit: "gateway",
            role_uri: &gw_uri,
            dns_names: &["gateway.renkei.local", "localhost"],
            ip_addresses: &loopback,
            server_auth: true,
            client_auth: false,
        },
        format!("gateway {} (its TLS server identity)", spec.gateway_name),
    )?;

    for t in &spec.tenants {
        let code = t.code.as_str();
        let uri = format!("urn:renkei:tenant:{code}");
        let cn = format!(
            "{} ({code}) tenant on gateway {} — DEVELOPMENT",
            t.name, spec.gateway_name
        );
        issue(
            &format!("tenant-{code}"),
            LeafSpec::client(&cn, "tenant", &uri),
            format!(
                "gateway {} acting for {} ({code}) when it calls the hub",
                spec.gateway_name, t.name
            ),
        )?;

        let uri = format!("urn:renkei:backoffice:{code}:{}", spec.backoffice_system);
        let cn = format!(
            "{} back office ({}) — DEVELOPMENT",
            t.name, spec.backoffice_system
        );
        issue(
            &format!("backoffice-{code}"),
            LeafSpec::client(&cn, "backoffice", &uri),
            format!(
                "{}'s back-office system `{}` calling its gateway",
                t.name, spec.backoffice_system
            ),
        )?;

        let uri = format!("urn:renkei:terminal:{code}:t1");
        let cn = format!("{} operator terminal t1 — DEVELOPMENT", t.name);
        issue(
            &format!("terminal-{code}"),
            LeafSpec::client(&cn, "terminal", &uri),
            format!("{}'s operator terminal t1 (中間サーバー接続端末)", t.name),
        )?;
    }

    let uri = "urn:renkei:auditor:demo".to_owned();
    issue(
        "auditor",
        LeafSpec::client("Renkei auditor demo — DEVELOPMENT", "auditor", &uri),
        "the demo auditor".into(),
    )?;
    let uri = "urn:renkei:portal:mynaportal".to_owned();
    issue(
        "portal",
        LeafSpec::client("マイナポータル mynaportal — DEVELOPMENT", "portal", &uri),
        "the resident portal (マイナポータル) reading disclosure records".into(),
    )?;

    keys::write_agency_keys(out_dir, spec, &mut out.files)?;

    let readme = readme::render(spec, &ca, &certs, &out.files)?;
    files::write_public(out_dir, "README.md", readme.as_bytes())?;
    out.files.push(GeneratedFile {
        path: "README.md".into(),
        kind: FileKind::Readme,
        description: "this directory's documentation".into(),
        role_uri: None,
    });
    Ok(out)
}

/// Names inside Renkei URIs are restricted to what `renkei-transport` accepts, so that a URI
/// can be split on `:` unambiguously and logged without escaping.
fn check_segment(what: &str, value: &str) -> Result<(), PkiError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(PkiError::InvalidSpec {
            reason: format!(
                "{what} {value:?} must be 1-64 characters of A-Z, a-z, 0-9, '-', '_' or '.'"
            ),
        })
    }
}

fn end_of_year(year: i32) -> Result<time::OffsetDateTime, PkiError> {
    let date = time::Date::from_calendar_date(year, time::Month::December, 31).map_err(|e| {
        PkiError::InvalidSpec {
            reason: format!("valid_until_year {year}: {e}"),
        }
    })?;
    Ok(date.with_time(time::Time::MIDNIGHT).assume_utc() + time::Duration::seconds(86_399))
}

/// Now, from the system clock: certificates are valid from the moment they are made, which
/// is wall time by definition (the Clock rule in clippy.toml).
pub(crate) fn now() -> time::OffsetDateTime {
    let ms = renkei_core::Clock::now_ms(&renkei_core::SystemClock);
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
