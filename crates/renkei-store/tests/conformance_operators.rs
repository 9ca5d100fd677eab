//! The operator-store conformance suite against sled.
#![allow(clippy::unwrap_used)]

use renkei_core::AgencyCode;
use renkei_store::conformance::operators as suite;
use renkei_store::operators::SledOperators;

mod common;

use common::{Fresh, fresh};

impl Fresh {
    fn ops(&self, code: &str) -> SledOperators {
        self.store
            .tenant(&AgencyCode::parse(code).unwrap())
            .operators()
            .unwrap()
    }
}

#[tokio::test]
async fn accounts_round_trip() {
    suite::accounts_round_trip(&fresh().ops("141003")).await;
}

#[tokio::test]
async fn one_session_per_operator() {
    suite::one_session_per_operator(&fresh().ops("141003")).await;
}

#[tokio::test]
async fn audit_is_append_only_and_numbered() {
    suite::audit_is_append_only_and_numbered(&fresh().ops("141003")).await;
}

#[tokio::test]
async fn jobs_are_kept_by_number() {
    suite::jobs_are_kept_by_number(&fresh().ops("141003")).await;
}

#[tokio::test]
async fn tenants_are_isolated() {
    let f = fresh();
    suite::tenants_are_isolated(&f.ops("141003"), &f.ops("011002")).await;
}
