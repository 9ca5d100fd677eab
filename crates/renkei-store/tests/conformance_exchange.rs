//! The exchange-state conformance suite against sled.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use renkei_core::AgencyCode;
use renkei_store::conformance::exchange as suite;
use renkei_store::exchange::SledExchange;
use renkei_store::{Store, StoreOptions};

mod common;

use common::{Fresh, fresh};

impl Fresh {
    fn exchange(&self, code: &str) -> SledExchange {
        self.store
            .tenant(&AgencyCode::parse(code).unwrap())
            .exchange()
            .unwrap()
    }
}

#[tokio::test]
async fn an_idempotency_key_is_claimed_once() {
    let f = fresh();
    suite::an_idempotency_key_is_claimed_once(&f.exchange("011002")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_have_one_winner() {
    let f = fresh();
    suite::concurrent_claims_have_one_winner(Arc::new(f.exchange("011002"))).await;
}

#[tokio::test]
async fn inquiries_move_page_and_are_deleted() {
    let f = fresh();
    suite::inquiries_move_page_and_are_deleted(&f.exchange("011002")).await;
}

#[tokio::test]
async fn a_pending_inquiry_is_found_by_its_permit() {
    let f = fresh();
    suite::a_pending_inquiry_is_found_by_its_permit(&f.exchange("011002")).await;
}

#[tokio::test]
async fn a_permit_is_claimed_once() {
    let f = fresh();
    suite::a_permit_is_claimed_once(&f.exchange("011002")).await;
}

#[tokio::test]
async fn held_answers_are_kept_by_permit() {
    let f = fresh();
    suite::held_answers_are_kept_by_permit(&f.exchange("011002")).await;
}

#[tokio::test]
async fn an_unsent_answer_is_kept_until_sent() {
    let f = fresh();
    suite::an_unsent_answer_is_kept_until_sent(&f.exchange("011002")).await;
}

#[tokio::test]
async fn flags_block_items_and_whole_persons() {
    let f = fresh();
    suite::flags_block_items_and_whole_persons(&f.exchange("011002")).await;
}

#[tokio::test]
async fn tenants_do_not_see_each_other() {
    let f = fresh();
    suite::tenants_do_not_see_each_other(&f.exchange("011002"), &f.exchange("141003")).await;
}

/// Claims survive a reopen once committed: the group commit is the durability.
#[tokio::test]
async fn a_committed_claim_survives_a_reopen() {
    use renkei_store::exchange::{Claim, Inquiries as _};
    use renkei_store::registry::Commit as _;
    let dir = tempfile::tempdir().unwrap();
    let code = AgencyCode::parse("011002").unwrap();
    let inq = renkei_proto::v1::Inquiry {
        inquiry_id: "inq-1".into(),
        idempotency_key: "k".into(),
        ..Default::default()
    };
    {
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let ex = store.tenant(&code).exchange().unwrap();
        assert_eq!(ex.claim(&inq).await.unwrap(), Claim::Claimed);
        ex.commit().await.unwrap();
    }
    let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
    let ex = store.tenant(&code).exchange().unwrap();
    assert_eq!(
        ex.claim(&inq).await.unwrap(),
        Claim::Existing("inq-1".into())
    );
}
