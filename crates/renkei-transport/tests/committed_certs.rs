//! The development PKI checked into `certs-dev/` must stay loadable: every certificate with
//! its key, naming the identity the README promises.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use renkei_transport::{Credentials, Role};

fn certs_dev() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../certs-dev")
}

#[test]
fn every_committed_identity_loads_and_names_its_role() {
    let dir = certs_dev();
    let mut expected = vec![
        ("hub", "urn:renkei:hub".to_owned()),
        ("gateway", "urn:renkei:gateway:gw1".to_owned()),
        ("auditor", "urn:renkei:auditor:demo".to_owned()),
        ("portal", "urn:renkei:portal:mynaportal".to_owned()),
    ];
    for code in ["011002", "141003", "232025"] {
        expected.push(("tenant", format!("urn:renkei:tenant:{code}")));
        expected.push((
            "backoffice",
            format!("urn:renkei:backoffice:{code}:vaccination"),
        ));
        expected.push(("terminal", format!("urn:renkei:terminal:{code}:t1")));
    }
    for (kind, uri) in expected {
        let stem = match kind {
            "tenant" | "backoffice" | "terminal" => {
                format!("{kind}-{}", uri.split(':').nth(3).unwrap())
            }
            _ => kind.to_owned(),
        };
        let creds = Credentials::load(
            &dir.join("ca.pem"),
            &dir.join(format!("{stem}.pem")),
            &dir.join(format!("{stem}.key.pem")),
        )
        .unwrap_or_else(|e| panic!("certs-dev/{stem}: {e}"));
        assert_eq!(creds.own_role().unwrap(), Role::parse_uri(&uri).unwrap());
        creds.client_config().unwrap();
        if matches!(kind, "hub" | "gateway") {
            creds.server_config().unwrap();
        }
    }
}
