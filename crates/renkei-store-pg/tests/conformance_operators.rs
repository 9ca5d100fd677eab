//! The operator-store conformance suite against PostgreSQL.
#![allow(clippy::unwrap_used)]

mod common;

use common::code;
use renkei_store::conformance::operators as suite;

#[tokio::test]
async fn accounts_round_trip() {
    let s = fresh_or_skip!();
    suite::accounts_round_trip(&s.tenant(&code("141003")).operators()).await;
}

#[tokio::test]
async fn one_session_per_operator() {
    let s = fresh_or_skip!();
    suite::one_session_per_operator(&s.tenant(&code("141003")).operators()).await;
}

#[tokio::test]
async fn audit_is_append_only_and_numbered() {
    let s = fresh_or_skip!();
    suite::audit_is_append_only_and_numbered(&s.tenant(&code("141003")).operators()).await;
}

#[tokio::test]
async fn jobs_are_kept_by_number() {
    let s = fresh_or_skip!();
    suite::jobs_are_kept_by_number(&s.tenant(&code("141003")).operators()).await;
}

#[tokio::test]
async fn tenants_are_isolated() {
    let s = fresh_or_skip!();
    suite::tenants_are_isolated(
        &s.tenant(&code("141003")).operators(),
        &s.tenant(&code("011002")).operators(),
    )
    .await;
}
