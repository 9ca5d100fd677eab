//! Who is on the other end of a connection, as proven by its certificate.
//!
//! ARCHITECTURE §4 property 1: a peer's identity comes from its certificate, never from a
//! request field. Every Renkei certificate carries exactly one SAN URI naming its role; this
//! module parses it strictly, so that a handler can trust [`PeerIdentity::role`] without
//! further checks.

use std::fmt;
use std::net::SocketAddr;

use renkei_core::AgencyCode;
use x509_parser::extensions::GeneralName;

use crate::TransportError;

/// The URI prefix shared by every Renkei identity.
pub const URI_PREFIX: &str = "urn:renkei:";

/// Longest identity URI we accept. Real ones are well under 100 characters; the bound keeps
/// hostile certificates from making us allocate or log large strings.
const MAX_URI_LEN: usize = 256;

/// Longest free-form name segment (gateway, system, auditor, portal, terminal names).
const MAX_NAME_LEN: usize = 64;

/// The role a certificate names, from its single `urn:renkei:…` SAN URI.
///
/// Deliberately not `#[non_exhaustive]`: authorisation code matches on it, and a new role
/// should force every such `match` to be revisited rather than fall into a wildcard arm.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// `urn:renkei:hub` — the network hub (情報提供ネットワークシステム).
    Hub,
    /// `urn:renkei:gateway:<name>` — a gateway's (中間サーバー) server certificate.
    Gateway { name: String },
    /// `urn:renkei:tenant:<agency-code>` — a gateway acting for one hosted municipality when
    /// it calls the hub.
    Tenant { agency: AgencyCode },
    /// `urn:renkei:backoffice:<agency-code>:<system>` — a municipality's back-office system
    /// calling its gateway.
    BackOffice { agency: AgencyCode, system: String },
    /// `urn:renkei:auditor:<name>`.
    Auditor { name: String },
    /// `urn:renkei:portal:<name>` — the resident portal (マイナポータル).
    Portal { name: String },
    /// `urn:renkei:terminal:<agency-code>:<terminal>` — an operator terminal.
    Terminal {
        agency: AgencyCode,
        terminal: String,
    },
}

impl Role {
    /// Parses an identity URI.
    ///
    /// Strict on purpose: exact lowercase prefix and kind, the exact number of segments,
    /// agency codes with valid check digits, and names of 1–64 characters from
    /// `A-Z a-z 0-9 - _ .`. Anything else is refused, so two spellings can never name the
    /// same identity (which would let one caller evade per-identity rate limits or
    /// authorisation checks keyed by the URI).
    pub fn parse_uri(uri: &str) -> Result<Role, TransportError> {
        let fail = |reason: String| TransportError::IdentityUri {
            uri: echo(uri),
            reason,
        };
        if uri.len() > MAX_URI_LEN {
            return Err(fail(format!("longer than {MAX_URI_LEN} bytes")));
        }
        let rest = uri
            .strip_prefix(URI_PREFIX)
            .ok_or_else(|| fail(format!("does not start with {URI_PREFIX}")))?;
        let parts: Vec<&str> = rest.split(':').collect();
        let agency = |s: &str| AgencyCode::parse(s).map_err(|e| fail(e.to_string()));
        let name = |what: &str, s: &str| check_name(what, s).map(|()| s.to_owned()).map_err(fail);
        let role = match parts.as_slice() {
            ["hub"] => Role::Hub,
            ["gateway", n] => Role::Gateway {
                name: name("gateway name", n)?,
            },
            ["tenant", a] => Role::Tenant { agency: agency(a)? },
            ["backoffice", a, s] => Role::BackOffice {
                agency: agency(a)?,
                system: name("system name", s)?,
            },
            ["auditor", n] => Role::Auditor {
                name: name("auditor name", n)?,
            },
            ["portal", n] => Role::Portal {
                name: name("portal name", n)?,
            },
            ["terminal", a, t] => Role::Terminal {
                agency: agency(a)?,
                terminal: name("terminal name", t)?,
            },
            [kind, ..]
                if matches!(
                    *kind,
                    "hub" | "gateway" | "tenant" | "backoffice" | "auditor" | "portal" | "terminal"
                ) =>
            {
                return Err(fail(format!(
                    "wrong number of segments for kind {kind:?} (expected {})",
                    expected_shape(kind)
                )));
            }
            _ => {
                return Err(fail(
                    "unknown kind (expected hub, gateway, tenant, backoffice, auditor, portal \
                     or terminal)"
                        .into(),
                ));
            }
        };
        Ok(role)
    }

    /// The canonical URI; `Role::parse_uri(&r.to_uri()) == Ok(r)` for every valid role.
    pub fn to_uri(&self) -> String {
        match self {
            Role::Hub => format!("{URI_PREFIX}hub"),
            Role::Gateway { name } => format!("{URI_PREFIX}gateway:{name}"),
            Role::Tenant { agency } => format!("{URI_PREFIX}tenant:{agency}"),
            Role::BackOffice { agency, system } => {
                format!("{URI_PREFIX}backoffice:{agency}:{system}")
            }
            Role::Auditor { name } => format!("{URI_PREFIX}auditor:{name}"),
            Role::Portal { name } => format!("{URI_PREFIX}portal:{name}"),
            Role::Terminal { agency, terminal } => {
                format!("{URI_PREFIX}terminal:{agency}:{terminal}")
            }
        }
    }

    /// The agency this identity acts for, if it is bound to one (tenant, back office,
    /// terminal). Handlers use it to scope every read and write to that tenant.
    pub fn agency(&self) -> Option<&AgencyCode> {
        match self {
            Role::Tenant { agency }
            | Role::BackOffice { agency, .. }
            | Role::Terminal { agency, .. } => Some(agency),
            Role::Hub | Role::Gateway { .. } | Role::Auditor { .. } | Role::Portal { .. } => None,
        }
    }

    /// Reads the role from a DER certificate: it must carry exactly one SAN URI, and that
    /// URI must parse. Certificates with several URIs are refused rather than guessed at.
    pub fn from_cert_der(der: &[u8]) -> Result<Role, TransportError> {
        let fail = |reason: String| TransportError::CertificateIdentity { reason };
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| fail(format!("certificate does not parse: {e}")))?;
        let san = cert
            .subject_alternative_name()
            .map_err(|e| fail(format!("subjectAltName extension is malformed: {e}")))?
            .ok_or_else(|| fail("no subjectAltName extension".into()))?;
        let uris: Vec<&str> = san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::URI(u) => Some(*u),
                _ => None,
            })
            .collect();
        match uris.as_slice() {
            [uri] => Role::parse_uri(uri).map_err(|e| fail(e.to_string())),
            [] => Err(fail("no SAN URI".into())),
            many => Err(fail(format!(
                "{} SAN URIs; exactly one is required",
                many.len()
            ))),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uri())
    }
}

impl std::str::FromStr for Role {
    type Err = TransportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse_uri(s)
    }
}

fn expected_shape(kind: &str) -> &'static str {
    match kind {
        "hub" => "urn:renkei:hub",
        "gateway" => "urn:renkei:gateway:<name>",
        "tenant" => "urn:renkei:tenant:<agency-code>",
        "backoffice" => "urn:renkei:backoffice:<agency-code>:<system>",
        "auditor" => "urn:renkei:auditor:<name>",
        "portal" => "urn:renkei:portal:<name>",
        "terminal" => "urn:renkei:terminal:<agency-code>:<terminal>",
        _ => "a known kind",
    }
}

fn check_name(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MAX_NAME_LEN {
        return Err(format!("{what} must be 1-{MAX_NAME_LEN} characters"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "{what} may contain only A-Z, a-z, 0-9, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// A bounded, printable echo of untrusted input for error messages and logs.
fn echo(s: &str) -> String {
    const MAX: usize = 80;
    let mut out: String = s
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// The authenticated peer of a connection.
///
/// It is the `ConnectInfo` of the server's TLS stream type, so tonic puts it into every
/// request's extensions; handlers get it with [`peer`]. It exists only for connections whose
/// client certificate chained to our CA and carried a valid Renkei identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    pub role: Role,
    pub remote_addr: Option<SocketAddr>,
    /// SHA-256 of the peer's end-entity certificate (DER), for audit logs: it tells two
    /// certificates for the same role apart (e.g. before and after a renewal).
    pub cert_sha256: [u8; 32],
}

impl PeerIdentity {
    /// Lowercase hex of [`PeerIdentity::cert_sha256`].
    pub fn cert_fingerprint_hex(&self) -> String {
        use std::fmt::Write as _;
        self.cert_sha256
            .iter()
            .fold(String::with_capacity(64), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
    }
}

/// The authenticated peer of a request.
///
/// Fails with `UNAUTHENTICATED` if the request did not come through [`crate::serve`] (for
/// example in a unit test calling a handler directly), so a handler can never mistake an
/// unauthenticated call for an authenticated one.
pub fn peer<T>(req: &tonic::Request<T>) -> Result<&PeerIdentity, tonic::Status> {
    req.extensions().get::<PeerIdentity>().ok_or_else(|| {
        tonic::Status::unauthenticated(
            "no authenticated peer identity on this request: it did not arrive over a \
             Renkei mutual-TLS connection",
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn code(s: &str) -> AgencyCode {
        AgencyCode::parse(s).unwrap()
    }

    #[test]
    fn every_kind_round_trips() {
        let roles = [
            Role::Hub,
            Role::Gateway { name: "gw1".into() },
            Role::Tenant {
                agency: code("141003"),
            },
            Role::BackOffice {
                agency: code("141003"),
                system: "vaccination".into(),
            },
            Role::Auditor {
                name: "demo".into(),
            },
            Role::Portal {
                name: "mynaportal".into(),
            },
            Role::Terminal {
                agency: code("011002"),
                terminal: "t1".into(),
            },
        ];
        for role in roles {
            let uri = role.to_uri();
            assert_eq!(Role::parse_uri(&uri).unwrap(), role, "{uri}");
            assert_eq!(role.to_string(), uri);
        }
        assert_eq!(
            Role::parse_uri("urn:renkei:backoffice:141003:vaccination")
                .unwrap()
                .agency(),
            Some(&code("141003"))
        );
        assert_eq!(Role::Hub.agency(), None);
    }

    #[test]
    fn malformed_uris_are_refused_with_a_reason() {
        let cases = [
            ("", "does not start with"),
            ("urn:renkei:", "unknown kind"),
            ("URN:RENKEI:hub", "does not start with"),
            ("urn:renkei:Hub", "unknown kind"),
            ("urn:renkei:hub:extra", "wrong number of segments"),
            ("urn:renkei:gateway", "wrong number of segments"),
            ("urn:renkei:gateway:", "1-64 characters"),
            ("urn:renkei:gateway:gw 1", "may contain only"),
            ("urn:renkei:gateway:gw/1", "may contain only"),
            ("urn:renkei:tenant:141004", "check digit"),
            ("urn:renkei:tenant:14100", "expected 6 digits"),
            ("urn:renkei:backoffice:141003", "wrong number of segments"),
            (
                "urn:renkei:backoffice:141003:a:b",
                "wrong number of segments",
            ),
            ("urn:renkei:terminal:141003:", "1-64 characters"),
            ("urn:renkei:admin:root", "unknown kind"),
        ];
        for (uri, want) in cases {
            let err = Role::parse_uri(uri).unwrap_err().to_string();
            assert!(err.contains(want), "{uri:?}: {err}");
        }
        let long = format!("urn:renkei:gateway:{}", "a".repeat(300));
        let err = Role::parse_uri(&long).unwrap_err().to_string();
        assert!(err.contains("longer than"), "{err}");
        assert!(err.len() < 200, "echo is bounded: {err}");
        let err = Role::parse_uri("urn:renkei:gateway:\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\n'), "control characters are not echoed");
    }

    #[test]
    fn fingerprint_is_lowercase_hex() {
        let p = PeerIdentity {
            role: Role::Hub,
            remote_addr: None,
            cert_sha256: [0xab; 32],
        };
        assert_eq!(p.cert_fingerprint_hex(), "ab".repeat(32));
    }

    #[test]
    fn peer_is_unauthenticated_without_identity() {
        let req = tonic::Request::new(());
        let status = peer(&req).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }
}
