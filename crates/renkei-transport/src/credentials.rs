//! Our own certificate, key and trust anchors, and the rustls configurations built from them.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore, ServerConfig,
    SignatureScheme,
};

use crate::{Role, TransportError};

/// The ALPN protocol of gRPC. Advertising it lets a peer fail the handshake cleanly instead
/// of speaking HTTP/1.1 into an HTTP/2 server.
const ALPN_H2: &[u8] = b"h2";

/// The crypto provider of every Renkei TLS configuration: ring, explicitly, so that no
/// process-wide default (or a dependency enabling aws-lc-rs) can change what we run.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3 only (ARCHITECTURE §4 property 1). TLS 1.2 is not even compiled into rustls in
/// this workspace, but we say it explicitly so that enabling the feature elsewhere cannot
/// silently widen what we accept.
static PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// A node's mTLS credentials: the CA it trusts, its certificate chain and its private key.
///
/// Validated when built: every PEM input must parse, the CA certificates must be usable trust
/// anchors, and the key must belong to the certificate. So a misconfigured node fails at
/// start-up, naming the file, rather than at its first handshake.
pub struct Credentials {
    ca_certs: Vec<CertificateDer<'static>>,
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for Credentials {
    fn clone(&self) -> Self {
        Credentials {
            ca_certs: self.ca_certs.clone(),
            cert_chain: self.cert_chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for Credentials {
    /// Shows the identity, never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = self
            .own_role()
            .map(|r| r.to_uri())
            .unwrap_or_else(|_| "<no Renkei identity>".into());
        f.debug_struct("Credentials")
            .field("ca_certs", &self.ca_certs.len())
            .field("role", &role)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Loads PEM files: the CA certificate(s), our certificate (chain, leaf first) and our
    /// private key (PKCS#8, SEC1 or PKCS#1).
    pub fn load(ca_pem: &Path, cert_pem: &Path, key_pem: &Path) -> Result<Self, TransportError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TransportError::File {
                path: path.to_path_buf(),
                source,
            })
        };
        Self::parse(
            (&read(ca_pem)?, &ca_pem.display().to_string()),
            (&read(cert_pem)?, &cert_pem.display().to_string()),
            (&read(key_pem)?, &key_pem.display().to_string()),
        )
    }

    /// Like [`Credentials::load`], from PEM bytes (tests, embedded credentials).
    pub fn from_pem(ca: &[u8], cert: &[u8], key: &[u8]) -> Result<Self, TransportError> {
        Self::parse(
            (ca, "CA certificate PEM"),
            (cert, "certificate PEM"),
            (key, "private key PEM"),
        )
    }

    fn parse(
        (ca, ca_name): (&[u8], &str),
        (cert, cert_name): (&[u8], &str),
        (key, key_name): (&[u8], &str),
    ) -> Result<Self, TransportError> {
        let pem_err = |name: &str, reason: String| TransportError::Pem {
            source_name: name.to_owned(),
            reason,
        };
        let ca_certs = parse_certs(ca, ca_name)?;
        roots_of(&ca_certs, ca_name)?;
        let cert_chain = parse_certs(cert, cert_name)?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
            pem_err(
                key_name,
                match e {
                    rustls::pki_types::pem::Error::NoItemsFound => {
                        "no PRIVATE KEY block found".into()
                    }
                    other => format!("not a valid PEM private key: {other}"),
                },
            )
        })?;
        rustls::sign::CertifiedKey::from_der(cert_chain.clone(), key.clone_key(), &provider())
            .map_err(|e| {
                pem_err(
                    &format!("{cert_name} + {key_name}"),
                    format!("the private key is unusable or does not match the certificate: {e}"),
                )
            })?;
        Ok(Credentials {
            ca_certs,
            cert_chain,
            key,
        })
    }

    /// The role named by our own certificate.
    pub fn own_role(&self) -> Result<Role, TransportError> {
        let leaf = self
            .cert_chain
            .first()
            .ok_or_else(|| TransportError::CertificateIdentity {
                reason: "empty certificate chain".into(),
            })?;
        Role::from_cert_der(leaf)
    }

    /// Server configuration: TLS 1.3 only, ring, ALPN `h2`, and a client certificate that
    /// chains to our CA *and* carries exactly one valid Renkei identity URI is required; a
    /// client without one fails the handshake with a TLS alert.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TransportError> {
        let provider = provider();
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots_of(&self.ca_certs, "CA certificates")?),
            provider.clone(),
        )
        .build()
        .map_err(|source| TransportError::Verifier { source })?;
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(PROTOCOL_VERSIONS)
            .map_err(|source| TransportError::Tls {
                context: "server protocol versions",
                source,
            })?
            .with_client_cert_verifier(Arc::new(RequireRenkeiIdentity { inner: verifier }))
            .with_single_cert(self.cert_chain.clone(), self.key.clone_key())
            .map_err(|source| TransportError::Tls {
                context: "server certificate",
                source,
            })?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }

    /// Client configuration: TLS 1.3 only, ring, ALPN `h2`, the server must chain to our CA
    /// (and match the server name), and we present our certificate.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TransportError> {
        self.build_client_config(None)
    }

    /// Like [`Credentials::client_config`], and additionally the server's certificate must
    /// name `expected` (e.g. a gateway calling the hub insists on `urn:renkei:hub`).
    ///
    /// Why: server certificates of the development PKI all name `localhost`, and in general
    /// any server certificate from our CA matches *some* host name; checking the role closes
    /// the gap where a gateway could stand in for the hub after a DNS or configuration error.
    pub fn client_config_expecting(
        &self,
        expected: &Role,
    ) -> Result<Arc<ClientConfig>, TransportError> {
        self.build_client_config(Some(expected.clone()))
    }

    fn build_client_config(
        &self,
        expected: Option<Role>,
    ) -> Result<Arc<ClientConfig>, TransportError> {
        let provider = provider();
        let webpki = WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots_of(&self.ca_certs, "CA certificates")?),
            provider.clone(),
        )
        .build()
        .map_err(|source| TransportError::Verifier { source })?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(PROTOCOL_VERSIONS)
            .map_err(|source| TransportError::Tls {
                context: "client protocol versions",
                source,
            })?;
        let builder = match expected {
            None => builder.with_webpki_verifier(webpki),
            Some(expected) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ExpectRole {
                    inner: webpki,
                    expected,
                })),
        };
        let mut config = builder
            .with_client_auth_cert(self.cert_chain.clone(), self.key.clone_key())
            .map_err(|source| TransportError::Tls {
                context: "client certificate",
                source,
            })?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(Arc::new(config))
    }
}

fn parse_certs(pem: &[u8], name: &str) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TransportError::Pem {
            source_name: name.to_owned(),
            reason: format!("not valid PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TransportError::Pem {
            source_name: name.to_owned(),
            reason: "no CERTIFICATE block found".into(),
        });
    }
    Ok(certs)
}

fn roots_of(
    ca_certs: &[CertificateDer<'static>],
    name: &str,
) -> Result<RootCertStore, TransportError> {
    let mut roots = RootCertStore::empty();
    for cert in ca_certs {
        roots.add(cert.clone()).map_err(|e| TransportError::Pem {
            source_name: name.to_owned(),
            reason: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}

/// The standard WebPKI server verification, plus: the certificate must name one role.
#[derive(Debug)]
struct ExpectRole {
    inner: Arc<WebPkiServerVerifier>,
    expected: Role,
}

impl ServerCertVerifier for ExpectRole {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let reject = |reason: String| {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                TransportError::CertificateIdentity { reason },
            ))))
        };
        match Role::from_cert_der(end_entity) {
            Ok(role) if role == self.expected => Ok(verified),
            Ok(role) => Err(reject(format!(
                "server is {role}, expected {}",
                self.expected
            ))),
            Err(e) => Err(reject(format!("server certificate: {e}"))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

/// The standard WebPKI client verification, plus: the certificate must carry exactly one
/// valid Renkei identity URI. Checking inside the handshake (rather than only after it) means
/// the client receives a `bad_certificate` alert instead of a connection that silently dies,
/// and no HTTP/2 state is ever set up for it.
#[derive(Debug)]
struct RequireRenkeiIdentity {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for RequireRenkeiIdentity {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        match Role::from_cert_der(end_entity) {
            Ok(_) => Ok(verified),
            Err(e) => Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(e)),
            ))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
