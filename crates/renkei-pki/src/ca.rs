//! The development CA and certificate issuance.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use time::OffsetDateTime;

use crate::{DEV_ORGANIZATION, PkiError, files};

/// How far back `notBefore` is set, so that a peer whose clock is a little behind does not
/// refuse a certificate made a moment ago.
const CLOCK_SKEW_ALLOWANCE: time::Duration = time::Duration::hours(1);

/// Validity of a CA made with [`DevCa::generate`] (tests, rogue CAs).
const DEFAULT_CA_VALIDITY: time::Duration = time::Duration::days(3650);

/// A development certificate authority: its certificate and signing key.
///
/// Used by [`crate::generate_dev_pki`], and by tests that need extra identities (via
/// [`issue_client_cert`]) or a second, untrusted ("rogue") CA.
pub struct DevCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
    not_after: OffsetDateTime,
}

impl fmt::Debug for DevCa {
    /// Deliberately leaves the private key out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevCa")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl DevCa {
    /// A new self-signed CA valid for ten years.
    pub fn generate(common_name: &str) -> Result<DevCa, PkiError> {
        Self::generate_until(common_name, crate::now() + DEFAULT_CA_VALIDITY)
    }

    /// A new self-signed CA valid until `not_after`.
    pub fn generate_until(common_name: &str, not_after: OffsetDateTime) -> Result<DevCa, PkiError> {
        let key = new_key()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dev_name(common_name, "certificate authority");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = crate::now() - CLOCK_SKEW_ALLOWANCE;
        params.not_after = not_after;
        params.serial_number = Some(random_serial()?);
        let cert = params
            .self_signed(&key)
            .map_err(|source| PkiError::Certificate {
                what: format!("self-signing CA {common_name:?}"),
                source,
            })?;
        Ok(DevCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
            not_after,
        })
    }

    /// Loads a CA written by [`crate::generate_dev_pki`] (`ca.pem`, `ca.key.pem`).
    pub fn load(ca_pem: &Path, ca_key_pem: &Path) -> Result<DevCa, PkiError> {
        let cert = files::read_string(ca_pem)?;
        let key = files::read_string(ca_key_pem)?;
        Self::from_pem(&cert, &key).map_err(|e| match e {
            PkiError::Pem { reason, .. } => PkiError::Pem {
                what: format!("{} / {}", ca_pem.display(), ca_key_pem.display()),
                reason,
            },
            other => other,
        })
    }

    /// Builds a CA from its PEM certificate and PEM (PKCS#8) private key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<DevCa, PkiError> {
        let pem_err = |reason: String| PkiError::Pem {
            what: "CA certificate and key".into(),
            reason,
        };
        let key = KeyPair::from_pem(key_pem)
            .map_err(|e| pem_err(format!("private key is not a usable PEM key: {e}")))?;
        let der = first_certificate_der(cert_pem)
            .ok_or_else(|| pem_err("no CERTIFICATE block found".into()))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| pem_err(format!("certificate does not parse: {e}")))?;
        if !parsed.is_ca() {
            return Err(pem_err("certificate is not a CA certificate".into()));
        }
        if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(pem_err(
                "private key does not belong to the certificate".into(),
            ));
        }
        let not_after = parsed.validity().not_after.to_datetime();
        let issuer = Issuer::from_ca_cert_der(&der.clone().into(), key)
            .map_err(|e| pem_err(format!("cannot use certificate as issuer: {e}")))?;
        Ok(DevCa {
            cert_pem: cert_pem.to_owned(),
            issuer,
            not_after,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA private key, PEM (PKCS#8).
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// End of the CA's validity; issued certificates never outlive it.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// Issues a leaf certificate; returns (certificate PEM, private key PEM).
    pub(crate) fn issue(&self, spec: &LeafSpec<'_>) -> Result<(String, String), PkiError> {
        check_role_uri(spec.role_uri)?;
        let what = || format!("issuing {}", spec.role_uri);
        let cert_err = |source| PkiError::Certificate {
            what: what(),
            source,
        };
        let key = new_key()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dev_name(spec.common_name, spec.unit);
        for dns in spec.dns_names {
            params
                .subject_alt_names
                .push(SanType::DnsName((*dns).try_into().map_err(cert_err)?));
        }
        for ip in spec.ip_addresses {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        params
            .subject_alt_names
            .push(SanType::URI(spec.role_uri.try_into().map_err(cert_err)?));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if spec.server_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        if spec.client_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth);
        }
        params.use_authority_key_identifier_extension = true;
        params.not_before = crate::now() - CLOCK_SKEW_ALLOWANCE;
        params.not_after = self.not_after;
        params.serial_number = Some(random_serial()?);
        let cert = params.signed_by(&key, &self.issuer).map_err(cert_err)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// What goes into one leaf certificate.
pub(crate) struct LeafSpec<'a> {
    pub(crate) common_name: &'a str,
    /// Organizational unit: the kind of role, for people reading the certificate.
    pub(crate) unit: &'a str,
    pub(crate) role_uri: &'a str,
    pub(crate) dns_names: &'a [&'a str],
    pub(crate) ip_addresses: &'a [IpAddr],
    pub(crate) server_auth: bool,
    pub(crate) client_auth: bool,
}

impl<'a> LeafSpec<'a> {
    /// A client-only identity: no DNS names, `clientAuth` only, so it cannot be used to
    /// impersonate a server.
    pub(crate) fn client(common_name: &'a str, unit: &'a str, role_uri: &'a str) -> Self {
        LeafSpec {
            common_name,
            unit,
            role_uri,
            dns_names: &[],
            ip_addresses: &[],
            server_auth: false,
            client_auth: true,
        }
    }
}

/// Issues a client certificate (EKU clientAuth, one SAN URI `role_uri`) signed by `ca`.
///
/// Returns (certificate PEM, private key PEM). Meant for tests and tools that need an
/// identity the committed development PKI does not have.
pub fn issue_client_cert(
    ca: &DevCa,
    role_uri: &str,
    common_name: &str,
) -> Result<(String, String), PkiError> {
    ca.issue(&LeafSpec::client(common_name, "client", role_uri))
}

/// A light check only (the authoritative parser is `renkei_transport::Role::parse_uri`):
/// enough to stop an obviously wrong URI from being signed into a certificate.
fn check_role_uri(uri: &str) -> Result<(), PkiError> {
    let ok = uri.starts_with("urn:renkei:")
        && uri.len() <= 256
        && uri
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(PkiError::InvalidSpec {
            reason: format!(
                "role URI {uri:?} must start with urn:renkei: and use only A-Z a-z 0-9 : - _ ."
            ),
        })
    }
}

fn dev_name(common_name: &str, unit: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "JP");
    dn.push(DnType::OrganizationName, DEV_ORGANIZATION);
    dn.push(
        DnType::OrganizationalUnitName,
        format!("{unit} (DEVELOPMENT)"),
    );
    dn.push(DnType::CommonName, common_name);
    dn
}

/// ECDSA P-256: accepted by every TLS stack and cheap to sign with in handshakes.
fn new_key() -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|source| PkiError::Certificate {
        what: "generating an ECDSA P-256 key".into(),
        source,
    })
}

/// A random positive 128-bit serial, so that certificates from two generations never share
/// a serial (RFC 5280 §4.1.2.2 requires uniqueness per issuer).
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::Random)?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

/// The DER of the first `CERTIFICATE` block in `pem`.
pub(crate) fn first_certificate_der(pem: &str) -> Option<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .map_while(Result::ok)
        .find(|block| block.label == "CERTIFICATE")
        .map(|block| block.contents)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ca_round_trips_through_pem_and_issues() {
        let ca = DevCa::generate("test CA").unwrap();
        let loaded = DevCa::from_pem(ca.cert_pem(), &ca.key_pem()).unwrap();
        let (cert, key) = issue_client_cert(&loaded, "urn:renkei:auditor:x", "auditor x").unwrap();
        assert!(cert.contains("BEGIN CERTIFICATE"));
        assert!(key.contains("PRIVATE KEY"));
    }

    #[test]
    fn mismatched_ca_key_is_refused() {
        let a = DevCa::generate("a").unwrap();
        let b = DevCa::generate("b").unwrap();
        let err = DevCa::from_pem(a.cert_pem(), &b.key_pem()).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
    }

    #[test]
    fn bad_role_uri_is_refused() {
        let ca = DevCa::generate("a").unwrap();
        assert!(issue_client_cert(&ca, "https://evil", "x").is_err());
        assert!(issue_client_cert(&ca, "urn:renkei:hub x", "x").is_err());
    }
}
