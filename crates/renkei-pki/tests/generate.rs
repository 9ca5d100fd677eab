//! Generates the development PKI into a temporary directory and checks every file.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use renkei_pki::{DevCa, DevPkiSpec, FileKind, generate_dev_pki, issue_client_cert};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::*;

fn pem_der(text: &str) -> Vec<u8> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes()).unwrap();
    assert_eq!(pem.label, "CERTIFICATE");
    pem.contents
}

#[test]
fn dev_pki_is_complete_and_every_cert_names_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let spec = DevPkiSpec::default_dev().unwrap();
    let pki = generate_dev_pki(dir.path(), &spec).unwrap();

    let ca_der = pem_der(&std::fs::read_to_string(dir.path().join("ca.pem")).unwrap());
    let (_, ca) = parse_x509_certificate(&ca_der).unwrap();
    assert!(ca.is_ca());
    assert!(ca.subject().to_string().contains("DEVELOPMENT"));

    // Every expected certificate, its URI and whether it may act as server / client.
    let mut expected: BTreeMap<String, (String, bool, bool)> = BTreeMap::new();
    expected.insert("hub.pem".into(), ("urn:renkei:hub".into(), true, true));
    expected.insert(
        "gateway.pem".into(),
        ("urn:renkei:gateway:gw1".into(), true, false),
    );
    for code in ["011002", "141003", "232025"] {
        expected.insert(
            format!("tenant-{code}.pem"),
            (format!("urn:renkei:tenant:{code}"), false, true),
        );
        expected.insert(
            format!("backoffice-{code}.pem"),
            (
                format!("urn:renkei:backoffice:{code}:vaccination"),
                false,
                true,
            ),
        );
        expected.insert(
            format!("terminal-{code}.pem"),
            (format!("urn:renkei:terminal:{code}:t1"), false, true),
        );
    }
    expected.insert(
        "auditor.pem".into(),
        ("urn:renkei:auditor:demo".into(), false, true),
    );
    expected.insert(
        "portal.pem".into(),
        ("urn:renkei:portal:mynaportal".into(), false, true),
    );

    let certs: Vec<_> = pki
        .files
        .iter()
        .filter(|f| f.kind == FileKind::Certificate && f.path.to_str() != Some("ca.pem"))
        .collect();
    assert_eq!(certs.len(), expected.len());

    for file in certs {
        let name = file.path.to_str().unwrap().to_owned();
        let (uri, server, client) = expected.get(&name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(file.role_uri.as_deref(), Some(uri.as_str()), "{name}");

        let der = pem_der(&std::fs::read_to_string(dir.path().join(&name)).unwrap());
        let (_, cert) = parse_x509_certificate(&der).unwrap();
        cert.verify_signature(Some(ca.public_key()))
            .unwrap_or_else(|e| panic!("{name} is not signed by the CA: {e}"));
        assert!(!cert.is_ca(), "{name}");
        let san = cert.subject_alternative_name().unwrap().unwrap();
        let uris: Vec<&str> = san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::URI(u) => Some(*u),
                _ => None,
            })
            .collect();
        assert_eq!(uris, vec![uri.as_str()], "{name}: exactly one SAN URI");
        if *server {
            let dns: Vec<String> = san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_owned()),
                    GeneralName::IPAddress(ip) => Some(format!("{ip:?}")),
                    _ => None,
                })
                .collect();
            assert!(dns.contains(&"localhost".to_owned()), "{name}: {dns:?}");
            assert!(
                dns.contains(&"[127, 0, 0, 1]".to_owned()),
                "{name}: {dns:?}"
            );
        }
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert_eq!(eku.server_auth, *server, "{name} serverAuth");
        assert_eq!(eku.client_auth, *client, "{name} clientAuth");

        let subject = cert.subject();
        let org: Vec<_> = subject
            .iter_organization()
            .chain(subject.iter_organizational_unit())
            .filter_map(|a| a.as_str().ok())
            .collect();
        assert!(
            org.iter().any(|o| o.contains("DEVELOPMENT")),
            "{name}: {org:?}"
        );
        let cn = subject
            .iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok())
            .unwrap();
        assert!(cn.contains("DEVELOPMENT"), "{name}: {cn}");
        assert_eq!(cert.validity().not_after.to_datetime().year(), 2046);
    }

    let yokohama = std::fs::read_to_string(dir.path().join("backoffice-141003.pem")).unwrap();
    let der = pem_der(&yokohama);
    let (_, cert) = parse_x509_certificate(&der).unwrap();
    let cn = cert.subject().iter_common_name().next().unwrap();
    assert_eq!(
        cn.as_str().unwrap(),
        "横浜市 back office (vaccination) — DEVELOPMENT"
    );

    #[cfg(unix)]
    for file in &pki.files {
        use std::os::unix::fs::PermissionsExt;
        if file.kind == FileKind::PrivateKey {
            let mode = std::fs::metadata(dir.path().join(&file.path))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{} must be private", file.path.display());
        }
    }

    let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(readme.contains("DEVELOPMENT ONLY"));
    assert!(readme.contains("renkei certs generate --out certs-dev"));
    for (name, (uri, _, _)) in &expected {
        assert!(readme.contains(name.as_str()), "README lists {name}");
        assert!(readme.contains(uri.as_str()), "README lists {uri}");
    }
    for path in pki.paths() {
        assert!(
            path.exists(),
            "{} was reported but not written",
            path.display()
        );
    }

    // The CA on disk can issue further identities.
    let ca = DevCa::load(&dir.path().join("ca.pem"), &dir.path().join("ca.key.pem")).unwrap();
    let (cert, key) = issue_client_cert(&ca, "urn:renkei:auditor:extra", "extra").unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(key.contains("PRIVATE KEY"));
}

#[test]
fn bad_specs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = DevPkiSpec::default_dev().unwrap();
    spec.gateway_name = "gw 1".into();
    assert!(generate_dev_pki(dir.path(), &spec).is_err());

    let mut spec = DevPkiSpec::default_dev().unwrap();
    spec.tenants.push(spec.tenants[0].clone());
    let err = generate_dev_pki(dir.path(), &spec).unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");

    let mut spec = DevPkiSpec::default_dev().unwrap();
    spec.valid_until_year = 2000;
    assert!(generate_dev_pki(dir.path(), &spec).is_err());
}

#[test]
fn dev_pki_has_agency_keys_that_load_and_match() {
    let dir = tempfile::tempdir().unwrap();
    let spec = DevPkiSpec::default_dev().unwrap();
    let pki = generate_dev_pki(dir.path(), &spec).unwrap();
    let keys = dir.path().join("keys");
    let hub = renkei_crypto::read_signing_key(&keys.join("hub.sign.key")).unwrap();
    assert_eq!(
        renkei_crypto::read_verifying_key(&keys.join("hub.sign.pub")).unwrap(),
        hub.public_key()
    );
    renkei_crypto::read_symbol_key(&keys.join("hub.symbol.key")).unwrap();
    for code in ["011002", "141003", "232025"] {
        let sign = renkei_crypto::read_signing_key(&keys.join(format!("{code}.sign.key"))).unwrap();
        let sign_pub =
            renkei_crypto::read_verifying_key(&keys.join(format!("{code}.sign.pub"))).unwrap();
        assert_eq!(sign.public_key(), sign_pub);
        let enc =
            renkei_crypto::read_encryption_key(&keys.join(format!("{code}.enc.key"))).unwrap();
        let enc_pub =
            renkei_crypto::read_encryption_public_key(&keys.join(format!("{code}.enc.pub")))
                .unwrap();
        assert_eq!(enc.public_key(), enc_pub);
        assert_ne!(sign_pub, hub.public_key());
    }
    let key_files = pki
        .files
        .iter()
        .filter(|f| f.kind == FileKind::AgencyKey)
        .count();
    assert_eq!(key_files, 3 + 3 * 4);
    let first = std::fs::read_to_string(keys.join("hub.symbol.key")).unwrap();
    assert!(first.starts_with(renkei_pki::DEV_KEY_HEADER));
}
