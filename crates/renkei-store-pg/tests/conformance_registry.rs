//! The registry conformance suite against PostgreSQL, plus what only PostgreSQL does
//! (COPY imports, links from two nodes).
#![allow(clippy::unwrap_used)]

mod common;

use common::code;
use renkei_store::conformance::registry as suite;

#[tokio::test]
async fn registration_is_idempotent() {
    let s = fresh_or_skip!();
    suite::registration_is_idempotent(&s.tenant(&code("011002")).registry()).await;
}

#[tokio::test]
async fn symbols_link_both_ways() {
    let s = fresh_or_skip!();
    suite::symbols_link_both_ways(&s.tenant(&code("011002")).registry()).await;
}

#[tokio::test]
async fn acquisitions_are_kept_by_serial() {
    let s = fresh_or_skip!();
    suite::acquisitions_are_kept_by_serial(&s.tenant(&code("011002")).registry()).await;
}

#[tokio::test]
async fn copies_round_trip() {
    let s = fresh_or_skip!();
    suite::copies_round_trip(&s.tenant(&code("011002")).registry()).await;
}

#[tokio::test]
async fn bulk_copies_keep_good_rows() {
    let s = fresh_or_skip!();
    suite::bulk_copies_keep_good_rows(&s.tenant(&code("011002")).registry()).await;
}

#[tokio::test]
async fn copies_page_in_key_order() {
    let s = fresh_or_skip!();
    suite::copies_page_in_key_order(&s.tenant(&code("011002")).registry()).await;
}

#[tokio::test]
async fn tenants_are_isolated() {
    let s = fresh_or_skip!();
    suite::tenants_are_isolated(
        &s.tenant(&code("011002")).registry(),
        &s.tenant(&code("141003")).registry(),
    )
    .await;
}
