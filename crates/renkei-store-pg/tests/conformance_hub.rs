//! The hub store conformance suite against PostgreSQL.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use renkei_store::conformance::hub as suite;

#[tokio::test]
async fn pending_is_kept_until_taken_once() {
    let s = fresh_or_skip!();
    suite::pending_is_kept_until_taken_once(&s.hub()).await;
}

#[tokio::test]
async fn a_second_put_replaces_the_first() {
    let s = fresh_or_skip!();
    suite::a_second_put_replaces_the_first(&s.hub()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_takes_yield_one_winner() {
    let s = fresh_or_skip!();
    suite::concurrent_takes_yield_one_winner(Arc::new(s.hub())).await;
}

#[tokio::test]
async fn expiry_forgets_only_what_is_due() {
    let s = fresh_or_skip!();
    suite::expiry_forgets_only_what_is_due(&s.hub()).await;
}

#[tokio::test]
async fn master_version_keeps_the_last_set() {
    let s = fresh_or_skip!();
    suite::master_version_keeps_the_last_set(&s.hub()).await;
}

#[tokio::test]
async fn witnessed_heads_replace_only_what_was_read() {
    let s = fresh_or_skip!();
    suite::witnessed_heads_replace_only_what_was_read(&s.hub()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_witnesses_yield_one_winner() {
    let s = fresh_or_skip!();
    suite::concurrent_witnesses_yield_one_winner(Arc::new(s.hub())).await;
}
