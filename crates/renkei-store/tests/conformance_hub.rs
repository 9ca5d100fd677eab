//! The hub store conformance suite against sled.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use renkei_store::conformance::hub as suite;
use renkei_store::hub::{HubStore, SledHubStore};
use renkei_store::{Store, StoreOptions};

mod common;

use common::{Fresh, fresh};

impl Fresh {
    fn hub(&self) -> SledHubStore {
        SledHubStore::open(&self.store).unwrap()
    }
}

#[tokio::test]
async fn pending_is_kept_until_taken_once() {
    suite::pending_is_kept_until_taken_once(&fresh().hub()).await;
}

#[tokio::test]
async fn a_second_put_replaces_the_first() {
    suite::a_second_put_replaces_the_first(&fresh().hub()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_takes_yield_one_winner() {
    let f = fresh();
    suite::concurrent_takes_yield_one_winner(Arc::new(f.hub())).await;
}

#[tokio::test]
async fn expiry_forgets_only_what_is_due() {
    suite::expiry_forgets_only_what_is_due(&fresh().hub()).await;
}

#[tokio::test]
async fn master_version_keeps_the_last_set() {
    suite::master_version_keeps_the_last_set(&fresh().hub()).await;
}

#[tokio::test]
async fn witnessed_heads_replace_only_what_was_read() {
    suite::witnessed_heads_replace_only_what_was_read(&fresh().hub()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_witnesses_yield_one_winner() {
    let f = fresh();
    suite::concurrent_witnesses_yield_one_winner(Arc::new(f.hub())).await;
}

/// sled-specific: a stored exchange and the master version survive a restart.
#[tokio::test]
async fn the_hub_state_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let p = renkei_store::hub::PendingAnswer {
        permit_id: "p-1".into(),
        record: Default::default(),
        keep_until_ms: 77,
    };
    {
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let hub = SledHubStore::open(&store).unwrap();
        hub.put_pending(p.clone()).await.unwrap();
        hub.set_master_version(9).await.unwrap();
    }
    // sled's background flusher lets go of the directory lock a moment after the last
    // handle is dropped; a restarted process never sees that, a reopen in one process can.
    let mut tries = 0;
    let store = loop {
        match Store::open(dir.path(), &StoreOptions::default()) {
            Ok(store) => break store,
            Err(e) if tries < 50 && e.to_string().contains("lock") => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => panic!("reopen failed: {e}"),
        }
    };
    let hub = SledHubStore::open(&store).unwrap();
    assert_eq!(hub.pending("p-1").await.unwrap(), Some(p));
    assert_eq!(hub.master_version().await.unwrap(), 9);
}
