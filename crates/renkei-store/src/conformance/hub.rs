//! What every [`HubStore`] backend must do. Each function takes a fresh, empty store.

use std::sync::Arc;

use renkei_proto::v1::{ExchangeRecord, Outcome, SignedTreeHead, WitnessedHead};

use crate::hub::{HubStore, PendingAnswer};

fn pending(permit_id: &str, keep_until_ms: i64) -> PendingAnswer {
    PendingAnswer {
        permit_id: permit_id.into(),
        record: ExchangeRecord {
            recorded_at_ms: 1_000,
            keeper: "hub".into(),
            permit_id: permit_id.into(),
            inquirer: "011002".into(),
            provider: "141003".into(),
            outcome: Outcome::Pending as i32,
            person_ref: vec![7; 32],
            ..Default::default()
        },
        keep_until_ms,
    }
}

/// A stored exchange reads back whole, stays until taken, and is taken once.
pub async fn pending_is_kept_until_taken_once(s: &dyn HubStore) {
    assert_eq!(
        s.pending("p-1").await.unwrap(),
        None,
        "an empty store waits on nothing"
    );
    assert_eq!(s.take_pending("p-1").await.unwrap(), None);
    let p = pending("p-1", 5_000);
    s.put_pending(p.clone()).await.unwrap();
    assert_eq!(s.pending("p-1").await.unwrap(), Some(p.clone()));
    assert_eq!(
        s.pending("p-1").await.unwrap(),
        Some(p.clone()),
        "reading leaves it in place"
    );
    assert_eq!(
        s.pending("p-2").await.unwrap(),
        None,
        "other permits are not it"
    );
    assert_eq!(s.take_pending("p-1").await.unwrap(), Some(p));
    assert_eq!(
        s.take_pending("p-1").await.unwrap(),
        None,
        "taken once only"
    );
    assert_eq!(s.pending("p-1").await.unwrap(), None);
}

/// Putting under the same permit replaces: the last relay record is the one kept.
pub async fn a_second_put_replaces_the_first(s: &dyn HubStore) {
    s.put_pending(pending("p-1", 5_000)).await.unwrap();
    let mut later = pending("p-1", 9_000);
    later.record.note = "again".into();
    s.put_pending(later.clone()).await.unwrap();
    assert_eq!(s.pending("p-1").await.unwrap(), Some(later));
}

/// Of many concurrent takers of one permit, exactly one gets the exchange.
pub async fn concurrent_takes_yield_one_winner(s: Arc<dyn HubStore>) {
    s.put_pending(pending("p-race", i64::MAX)).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.take_pending("p-race").await.unwrap().is_some()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        if t.await.unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "one taker must win, and only one");
}

/// Expiry forgets exactly the exchanges kept until `now` or earlier.
pub async fn expiry_forgets_only_what_is_due(s: &dyn HubStore) {
    s.put_pending(pending("p-early", 1_000)).await.unwrap();
    s.put_pending(pending("p-due", 2_000)).await.unwrap();
    s.put_pending(pending("p-late", 2_001)).await.unwrap();
    assert_eq!(
        s.expire_pending(999).await.unwrap(),
        0,
        "nothing is due yet"
    );
    assert_eq!(s.expire_pending(2_000).await.unwrap(), 2);
    assert_eq!(s.pending("p-early").await.unwrap(), None);
    assert_eq!(
        s.pending("p-due").await.unwrap(),
        None,
        "due at exactly now"
    );
    assert_eq!(
        s.pending("p-late").await.unwrap(),
        Some(pending("p-late", 2_001))
    );
    assert_eq!(
        s.expire_pending(2_000).await.unwrap(),
        0,
        "expiry is idempotent"
    );
    assert_eq!(s.expire_pending(i64::MAX).await.unwrap(), 1);
    assert_eq!(s.pending("p-late").await.unwrap(), None);
}

/// The master version starts at 0 and keeps the last one set.
pub async fn master_version_keeps_the_last_set(s: &dyn HubStore) {
    assert_eq!(s.master_version().await.unwrap(), 0);
    s.set_master_version(1_800_000_000_000).await.unwrap();
    assert_eq!(s.master_version().await.unwrap(), 1_800_000_000_000);
    s.set_master_version(1_800_000_000_001).await.unwrap();
    assert_eq!(s.master_version().await.unwrap(), 1_800_000_000_001);
    // Storing pending exchanges does not touch it.
    s.put_pending(pending("p-1", 5)).await.unwrap();
    s.expire_pending(i64::MAX).await.unwrap();
    assert_eq!(s.master_version().await.unwrap(), 1_800_000_000_001);
}

fn witnessed(size: u8, at_ms: i64) -> WitnessedHead {
    WitnessedHead {
        head: Some(SignedTreeHead {
            tree_head: vec![size; 40],
            signature: vec![1; 64],
            key_id: vec![2; 8],
        }),
        witnessed_at_ms: at_ms,
        cosignature: vec![3; 64],
        key_id: vec![4; 8],
    }
}

/// Witnessed heads are kept per log, read back whole, and replaced only over the head the
/// caller last read: a stale writer loses, so the witnessed head never goes back.
pub async fn witnessed_heads_replace_only_what_was_read(s: &dyn HubStore) {
    assert_eq!(s.witnessed_head("011002").await.unwrap(), None);
    let first = witnessed(5, 1_000);
    assert!(
        s.replace_witnessed_head("011002", None, &first)
            .await
            .unwrap()
    );
    assert_eq!(
        s.witnessed_head("011002").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        s.witnessed_head("141003").await.unwrap(),
        None,
        "other logs are not it"
    );
    // A writer that read nothing, after the first was stored, loses.
    let stale = witnessed(4, 1_500);
    assert!(
        !s.replace_witnessed_head("011002", None, &stale)
            .await
            .unwrap()
    );
    let second = witnessed(9, 2_000);
    assert!(
        !s.replace_witnessed_head("011002", Some(&witnessed(6, 1_000)), &second)
            .await
            .unwrap(),
        "a head that was never stored is not the one to replace"
    );
    assert!(
        s.replace_witnessed_head("011002", Some(&first), &second)
            .await
            .unwrap()
    );
    assert_eq!(
        s.witnessed_head("011002").await.unwrap(),
        Some(second.clone())
    );
    // The first writer's view is now outdated.
    assert!(
        !s.replace_witnessed_head("011002", Some(&first), &stale)
            .await
            .unwrap()
    );
    assert_eq!(s.witnessed_head("011002").await.unwrap(), Some(second));
}

/// Of concurrent writers that all read the same head, exactly one replaces it.
pub async fn concurrent_witnesses_yield_one_winner(s: Arc<dyn HubStore>) {
    let base = witnessed(1, 1);
    assert!(
        s.replace_witnessed_head("011002", None, &base)
            .await
            .unwrap()
    );
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let s = s.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            s.replace_witnessed_head("011002", Some(&base), &witnessed(10 + i, 2))
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        if t.await.unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "one writer must win, and only one");
}
