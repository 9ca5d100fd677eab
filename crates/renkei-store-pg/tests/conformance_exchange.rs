//! The exchange-state conformance suite against PostgreSQL.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::code;
use renkei_store::conformance::exchange as suite;

#[tokio::test]
async fn an_idempotency_key_is_claimed_once() {
    let s = fresh_or_skip!();
    suite::an_idempotency_key_is_claimed_once(&s.tenant(&code("011002")).exchange()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_have_one_winner() {
    let s = fresh_or_skip!();
    suite::concurrent_claims_have_one_winner(Arc::new(s.tenant(&code("011002")).exchange())).await;
}

#[tokio::test]
async fn inquiries_move_page_and_are_deleted() {
    let s = fresh_or_skip!();
    suite::inquiries_move_page_and_are_deleted(&s.tenant(&code("011002")).exchange()).await;
}

#[tokio::test]
async fn a_pending_inquiry_is_found_by_its_permit() {
    let s = fresh_or_skip!();
    suite::a_pending_inquiry_is_found_by_its_permit(&s.tenant(&code("011002")).exchange()).await;
}

#[tokio::test]
async fn a_permit_is_claimed_once() {
    let s = fresh_or_skip!();
    suite::a_permit_is_claimed_once(&s.tenant(&code("011002")).exchange()).await;
}

#[tokio::test]
async fn held_answers_are_kept_by_permit() {
    let s = fresh_or_skip!();
    suite::held_answers_are_kept_by_permit(&s.tenant(&code("011002")).exchange()).await;
}

#[tokio::test]
async fn flags_block_items_and_whole_persons() {
    let s = fresh_or_skip!();
    suite::flags_block_items_and_whole_persons(&s.tenant(&code("011002")).exchange()).await;
}

#[tokio::test]
async fn tenants_do_not_see_each_other() {
    let s = fresh_or_skip!();
    suite::tenants_do_not_see_each_other(
        &s.tenant(&code("011002")).exchange(),
        &s.tenant(&code("141003")).exchange(),
    )
    .await;
}

#[tokio::test]
async fn an_unsent_answer_is_kept_until_sent() {
    let s = fresh_or_skip!();
    suite::an_unsent_answer_is_kept_until_sent(&s.tenant(&code("011002")).exchange()).await;
}
