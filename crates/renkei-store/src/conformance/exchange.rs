//! What every [`ExchangeStore`] backend must do. Each function takes a fresh, empty store
//! (two, of different tenants of one store, for the isolation test).

use std::sync::Arc;

use renkei_proto::v1::{
    DeliverLateAnswerRequest, Flag, FlagReason, HeldInquiry, HeldState, Inquiry, InquiryState,
};

use crate::exchange::{Claim, ExchangeStore, HeldEntry};

fn inquiry(id: &str, key: &str) -> Inquiry {
    Inquiry {
        inquiry_id: id.into(),
        idempotency_key: key.into(),
        unified_address_number: "1001".into(),
        provider: "141003".into(),
        procedure: "vaccination".into(),
        item: 25,
        state: InquiryState::Pending as i32,
        ..Default::default()
    }
}

/// The first claim of a key stores its inquiry; a second returns the first's id and
/// stores nothing.
pub async fn an_idempotency_key_is_claimed_once(s: &dyn ExchangeStore) {
    let a = inquiry("inq-a", "key-1");
    assert_eq!(s.claim(&a).await.unwrap(), Claim::Claimed);
    assert_eq!(s.inquiry("inq-a").await.unwrap(), Some(a.clone()));
    let b = inquiry("inq-b", "key-1");
    assert_eq!(
        s.claim(&b).await.unwrap(),
        Claim::Existing("inq-a".into()),
        "a second claim names the first inquiry"
    );
    assert_eq!(
        s.inquiry("inq-b").await.unwrap(),
        None,
        "a lost claim stores nothing"
    );
    assert_eq!(
        s.claimed_by("key-1").await.unwrap().as_deref(),
        Some("inq-a")
    );
    s.commit().await.unwrap();
}

/// Of many concurrent claims of one key exactly one wins, and all see the winner.
pub async fn concurrent_claims_have_one_winner(s: Arc<dyn ExchangeStore>) {
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.claim(&inquiry(&format!("inq-{i:02}"), "shared"))
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    let mut named = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Claim::Claimed => winners += 1,
            Claim::Existing(id) => named.push(id),
        }
    }
    assert_eq!(winners, 1, "exactly one claim wins");
    let winner = s.claimed_by("shared").await.unwrap().unwrap();
    assert!(named.iter().all(|n| *n == winner), "losers name the winner");
    assert_eq!(s.inquiries_after("", 100).await.unwrap().len(), 1);
}

/// Saved states are read back; pages run in id order; a deleted inquiry frees its key.
pub async fn inquiries_move_page_and_are_deleted(s: &dyn ExchangeStore) {
    for i in 0..5 {
        s.claim(&inquiry(&format!("inq-{i}"), &format!("k{i}")))
            .await
            .unwrap();
    }
    let mut answered = s.inquiry("inq-2").await.unwrap().unwrap();
    answered.state = InquiryState::Answered as i32;
    s.save_inquiry(&answered).await.unwrap();
    assert_eq!(
        s.inquiry("inq-2").await.unwrap().unwrap().state,
        InquiryState::Answered as i32
    );
    let first = s.inquiries_after("", 2).await.unwrap();
    let ids: Vec<_> = first.iter().map(|i| i.inquiry_id.as_str()).collect();
    assert_eq!(ids, ["inq-0", "inq-1"]);
    let rest = s.inquiries_after("inq-1", 10).await.unwrap();
    let ids: Vec<_> = rest.iter().map(|i| i.inquiry_id.as_str()).collect();
    assert_eq!(
        ids,
        ["inq-2", "inq-3", "inq-4"],
        "a page starts after its token"
    );
    s.delete_inquiry(&answered).await.unwrap();
    assert_eq!(s.inquiry("inq-2").await.unwrap(), None);
    assert_eq!(
        s.claimed_by("k2").await.unwrap(),
        None,
        "the key is free again"
    );
    assert_eq!(
        s.claim(&inquiry("inq-9", "k2")).await.unwrap(),
        Claim::Claimed
    );
}

/// A late answer finds its inquiry by permit until it is answered.
pub async fn a_pending_inquiry_is_found_by_its_permit(s: &dyn ExchangeStore) {
    assert_eq!(s.awaiting("permit-1").await.unwrap(), None);
    s.await_answer("permit-1", "inq-1").await.unwrap();
    assert_eq!(
        s.awaiting("permit-1").await.unwrap().as_deref(),
        Some("inq-1")
    );
    s.answered("permit-1").await.unwrap();
    assert_eq!(s.awaiting("permit-1").await.unwrap(), None);
}

/// A permit is claimed once; forgetting only drops permits expired before the cutoff.
pub async fn a_permit_is_claimed_once(s: &dyn ExchangeStore) {
    assert!(s.claim_permit("p-old", 1_000).await.unwrap());
    assert!(!s.claim_permit("p-old", 1_000).await.unwrap(), "a replay");
    assert!(s.claim_permit("p-new", 5_000).await.unwrap());
    assert_eq!(s.forget_permits(1_000).await.unwrap(), 0, "not before 1000");
    assert_eq!(s.forget_permits(1_001).await.unwrap(), 1);
    assert!(
        !s.claim_permit("p-new", 5_000).await.unwrap(),
        "an unexpired permit stays claimed"
    );
    s.commit().await.unwrap();
}

fn held(permit: &str, state: HeldState) -> HeldInquiry {
    HeldInquiry {
        permit_id: permit.into(),
        inquiry_id: format!("inq-{permit}"),
        state: state as i32,
        expires_at_ms: 10,
        ..Default::default()
    }
}

/// Held and deferred entries are stored, replaced, listed and deleted by permit.
pub async fn held_answers_are_kept_by_permit(s: &dyn ExchangeStore) {
    let waiting = HeldEntry {
        held: held("p1", HeldState::Waiting),
        deferred: false,
        ready_at_ms: 0,
        unsent: None,
    };
    let deferred = HeldEntry {
        held: held("p2", HeldState::Waiting),
        deferred: true,
        ready_at_ms: 77,
        unsent: None,
    };
    s.put_held(&waiting).await.unwrap();
    s.put_held(&deferred).await.unwrap();
    assert_eq!(s.held("p2").await.unwrap(), Some(deferred.clone()));
    let mut decided = waiting.clone();
    decided.held.state = HeldState::Approved as i32;
    s.put_held(&decided).await.unwrap();
    assert_eq!(s.held("p1").await.unwrap(), Some(decided.clone()));
    assert_eq!(s.all_held().await.unwrap().len(), 2);
    assert!(s.delete_held("p2").await.unwrap());
    assert!(!s.delete_held("p2").await.unwrap());
    assert_eq!(s.all_held().await.unwrap(), vec![decided]);
}

/// A decision stored before it was sent keeps its sealed answer until the send is done,
/// and the answer is found again from the entry alone (the redelivery after a restart).
pub async fn an_unsent_answer_is_kept_until_sent(s: &dyn ExchangeStore) {
    let mut decided = HeldEntry {
        held: held("p1", HeldState::Approved),
        deferred: false,
        ready_at_ms: 0,
        unsent: Some(DeliverLateAnswerRequest {
            answer: Some(renkei_proto::v1::SealedAnswer {
                permit_id: "p1".into(),
                ciphertext: vec![1, 2, 3],
                ..Default::default()
            }),
            outcome: 2,
        }),
    };
    s.put_held(&decided).await.unwrap();
    s.commit().await.unwrap();
    assert_eq!(s.held("p1").await.unwrap(), Some(decided.clone()));
    assert_eq!(
        s.all_held()
            .await
            .unwrap()
            .iter()
            .filter(|e| e.unsent.is_some())
            .count(),
        1
    );
    decided.unsent = None;
    s.put_held(&decided).await.unwrap();
    assert_eq!(s.held("p1").await.unwrap().unwrap().unsent, None);
}

fn flag(uan: &str, item: u32) -> Flag {
    Flag {
        unified_address_number: uan.into(),
        item,
        reason: FlagReason::SupportMeasure as i32,
        ..Default::default()
    }
}

/// A whole-person flag blocks every item; a person's flags are theirs only.
pub async fn flags_block_items_and_whole_persons(s: &dyn ExchangeStore) {
    s.put_flag(&flag("1001", 25)).await.unwrap();
    assert_eq!(
        s.flag_for("1001", 25).await.unwrap(),
        Some(flag("1001", 25))
    );
    assert_eq!(s.flag_for("1001", 26).await.unwrap(), None);
    s.put_flag(&flag("1001", 0)).await.unwrap();
    assert_eq!(
        s.flag_for("1001", 26).await.unwrap(),
        Some(flag("1001", 0)),
        "the whole-person flag applies to every item"
    );
    s.put_flag(&flag("10011", 25)).await.unwrap();
    assert_eq!(
        s.flags("1001").await.unwrap().len(),
        2,
        "a longer number sharing the prefix is another person"
    );
    assert_eq!(s.flags("").await.unwrap().len(), 3);
    assert!(s.remove_flag("1001", 0).await.unwrap());
    assert!(!s.remove_flag("1001", 0).await.unwrap());
    assert_eq!(s.flag_for("1001", 26).await.unwrap(), None);
}

/// Two tenants of one store share nothing.
pub async fn tenants_do_not_see_each_other(a: &dyn ExchangeStore, b: &dyn ExchangeStore) {
    a.claim(&inquiry("inq-1", "key")).await.unwrap();
    a.claim_permit("p", 1).await.unwrap();
    a.put_flag(&flag("1001", 0)).await.unwrap();
    a.put_held(&HeldEntry {
        held: held("p", HeldState::Waiting),
        deferred: false,
        ready_at_ms: 0,
        unsent: None,
    })
    .await
    .unwrap();
    assert_eq!(b.inquiry("inq-1").await.unwrap(), None);
    assert_eq!(
        b.claim(&inquiry("inq-2", "key")).await.unwrap(),
        Claim::Claimed
    );
    assert!(b.claim_permit("p", 1).await.unwrap());
    assert_eq!(b.flag_for("1001", 25).await.unwrap(), None);
    assert_eq!(b.held("p").await.unwrap(), None);
}
