//! The registry conformance suite against sled.
#![allow(clippy::unwrap_used)]

use renkei_core::AgencyCode;
use renkei_store::conformance::registry as suite;
use renkei_store::registry::SledRegistry;
use renkei_store::{Store, StoreOptions};

mod common;

use common::{Fresh, fresh};

impl Fresh {
    fn registry(&self, code: &str) -> SledRegistry {
        self.store
            .tenant(&AgencyCode::parse(code).unwrap())
            .registry()
            .unwrap()
    }
}

#[tokio::test]
async fn registration_is_idempotent() {
    suite::registration_is_idempotent(&fresh().registry("011002")).await;
}

#[tokio::test]
async fn symbols_link_both_ways() {
    suite::symbols_link_both_ways(&fresh().registry("011002")).await;
}

#[tokio::test]
async fn acquisitions_are_kept_by_serial() {
    suite::acquisitions_are_kept_by_serial(&fresh().registry("011002")).await;
}

#[tokio::test]
async fn copies_round_trip() {
    suite::copies_round_trip(&fresh().registry("011002")).await;
}

#[tokio::test]
async fn bulk_copies_keep_good_rows() {
    suite::bulk_copies_keep_good_rows(&fresh().registry("011002")).await;
}

#[tokio::test]
async fn copies_page_in_key_order() {
    suite::copies_page_in_key_order(&fresh().registry("011002")).await;
}

#[tokio::test]
async fn tenants_are_isolated() {
    let f = fresh();
    suite::tenants_are_isolated(&f.registry("011002"), &f.registry("141003")).await;
}

/// sled-specific: what was committed is there after a reopen.
#[tokio::test]
async fn committed_rows_survive_a_reopen() {
    use renkei_store::registry::{AddressNumbers as _, Commit as _, Symbols as _};
    let dir = tempfile::tempdir().unwrap();
    let code = AgencyCode::parse("011002").unwrap();
    let n = renkei_core::UnifiedAddressNumber::parse("42").unwrap();
    {
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let r = store.tenant(&code).registry().unwrap();
        r.register(&n, 1).await.unwrap();
        r.link(&[(n.clone(), b"sym".to_vec())]).await.unwrap();
        r.commit().await.unwrap();
    }
    let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
    let r = store.tenant(&code).registry().unwrap();
    assert!(r.is_registered(&n).await.unwrap());
    assert_eq!(r.person_of(b"sym").await.unwrap(), Some(n));
}
