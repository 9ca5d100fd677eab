//! What only a shared database has to get right: two nodes (two pools on one database)
//! racing for the same key, permit, pending answer or audit number; two nodes migrating
//! at once; bulk batches through COPY. And the COPY-versus-INSERT measurement (ignored).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::code;
use renkei_core::UnifiedAddressNumber;
use renkei_proto::v1::{AuditEntry, Inquiry, ProvisionCopy};
use renkei_store::exchange::{Claim, ExchangeStore};
use renkei_store::hub::{HubStore, PendingAnswer};
use renkei_store::operators::OperatorStore;
use renkei_store::registry::{AddressNumbers as _, Copies as _, CopyRow};
use renkei_store_pg::PgStore;

use prost::Message as _;

/// Two nodes: two stores, each with its own pool, on one fresh database.
async fn two_nodes() -> Option<(PgStore, PgStore)> {
    let url = common::fresh_url()?;
    let a = common::open(&url).await;
    let b = common::open(&url).await;
    Some((a, b))
}

macro_rules! nodes_or_skip {
    () => {
        match two_nodes().await {
            Some(n) => n,
            None => return,
        }
    };
}

fn uan(n: u64) -> UnifiedAddressNumber {
    UnifiedAddressNumber::parse(&n.to_string()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_permit_is_claimed_once_across_two_nodes() {
    let (a, b) = nodes_or_skip!();
    let nodes: [Arc<dyn ExchangeStore>; 2] = [
        Arc::new(a.tenant(&code("141003")).exchange()),
        Arc::new(b.tenant(&code("141003")).exchange()),
    ];
    for round in 0..10 {
        let permit = format!("permit-{round}");
        let mut tasks = Vec::new();
        for i in 0..24 {
            let node = nodes[i % 2].clone();
            let permit = permit.clone();
            tasks.push(tokio::spawn(async move {
                node.claim_permit(&permit, 1_000).await.unwrap()
            }));
        }
        let mut firsts = 0;
        for t in tasks {
            firsts += usize::from(t.await.unwrap());
        }
        assert_eq!(
            firsts, 1,
            "{permit}: exactly one claimer of 24 on two nodes wins"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idempotency_key_is_claimed_once_across_two_nodes() {
    let (a, b) = nodes_or_skip!();
    let nodes: [Arc<dyn ExchangeStore>; 2] = [
        Arc::new(a.tenant(&code("011002")).exchange()),
        Arc::new(b.tenant(&code("011002")).exchange()),
    ];
    for round in 0..5 {
        let key = format!("key-{round}");
        let mut tasks = Vec::new();
        for i in 0..20 {
            let node = nodes[i % 2].clone();
            let inquiry = Inquiry {
                inquiry_id: format!("inq-{round}-{i:02}"),
                idempotency_key: key.clone(),
                ..Default::default()
            };
            tasks.push(tokio::spawn(
                async move { node.claim(&inquiry).await.unwrap() },
            ));
        }
        let mut winners = 0;
        let mut named = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Claim::Claimed => winners += 1,
                Claim::Existing(id) => named.push(id),
            }
        }
        assert_eq!(winners, 1, "{key}: one claim wins");
        let winner = nodes[1].claimed_by(&key).await.unwrap().unwrap();
        assert!(named.iter().all(|n| *n == winner), "losers name the winner");
        assert!(
            nodes[0].inquiry(&winner).await.unwrap().is_some(),
            "the winner's inquiry is stored with its key"
        );
    }
    let stored = nodes[0].inquiries_after("", 1000).await.unwrap();
    assert_eq!(stored.len(), 5, "losing claims stored nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pending_answer_is_taken_once_across_two_nodes() {
    let (a, b) = nodes_or_skip!();
    let hubs: [Arc<dyn HubStore>; 2] = [Arc::new(a.hub()), Arc::new(b.hub())];
    hubs[0]
        .put_pending(PendingAnswer {
            permit_id: "p".into(),
            record: Default::default(),
            keep_until_ms: i64::MAX,
        })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let hub = hubs[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            hub.take_pending("p").await.unwrap().is_some()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1, "the late answer is recorded once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_numbers_from_two_nodes_are_unique_and_gapless() {
    let (a, b) = nodes_or_skip!();
    let nodes: [Arc<dyn OperatorStore>; 2] = [
        Arc::new(a.tenant(&code("141003")).operators()),
        Arc::new(b.tenant(&code("141003")).operators()),
    ];
    let mut tasks = Vec::new();
    for i in 0..20 {
        let node = nodes[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let entries = (0..3)
                .map(|_| AuditEntry {
                    action: "login".into(),
                    at_ms: 1,
                    ..Default::default()
                })
                .collect();
            node.append_audit(entries).await.unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        let batch: Vec<u64> = t.await.unwrap().iter().map(|e| e.sequence).collect();
        assert!(
            batch.windows(2).all(|w| w[1] == w[0] + 1),
            "one append's numbers are consecutive: {batch:?}"
        );
        seqs.extend(batch);
    }
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=60).collect::<Vec<u64>>(),
        "no number twice, none skipped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_migrating_at_once_apply_each_migration_once() {
    let Some(url) = common::fresh_url() else {
        return;
    };
    let cfg = renkei_store_pg::PgConfig::new(url);
    let a = PgStore::connect(&cfg).unwrap();
    let b = PgStore::connect(&cfg).unwrap();
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let all: Vec<i32> = renkei_store_pg::MIGRATIONS
        .iter()
        .map(|m| m.version)
        .collect();
    assert!(
        (ra == all && rb.is_empty()) || (rb == all && ra.is_empty()),
        "one node migrates, the other finds nothing to do: {ra:?} {rb:?}"
    );
    assert!(
        a.migrate().await.unwrap().is_empty(),
        "a third run is a no-op"
    );
    let client = a.pool().get().await.unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, all.len() as i64);
}

#[tokio::test]
async fn large_batches_go_through_copy_and_keep_their_good_rows() {
    let s = fresh_or_skip!();
    let r = s.tenant(&code("011002")).registry();
    let other = s.tenant(&code("141003")).registry();
    let n = renkei_store_pg::COPY_THRESHOLD as u64 * 4;
    // Every even number, each twice: repeats are accepted and count once.
    let numbers: Vec<_> = (0..n)
        .flat_map(|i| [uan(2 * i + 2), uan(2 * i + 2)])
        .collect();
    let report = r.register_many(&numbers, 5).await.unwrap();
    assert_eq!(report.accepted, 2 * n);
    assert_eq!(r.registered_count().await.unwrap(), n);
    assert_eq!(
        other.registered_count().await.unwrap(),
        0,
        "COPY kept the tenant"
    );

    // Copies for 1..=2n: the odd ones are not registered and are refused by position;
    // the person 2 appears twice and the later copy wins.
    let copy = |p: u64, at: i64| ProvisionCopy {
        unified_address_number: p.to_string(),
        item: 25,
        updated_at_ms: at,
        ..Default::default()
    };
    let mut rows: Vec<CopyRow> = (1..=2 * n)
        .map(|p| CopyRow {
            item: 25,
            uan: uan(p),
            encoded: copy(p, 1).encode_to_vec(),
        })
        .collect();
    rows.push(CopyRow {
        item: 25,
        uan: uan(2),
        encoded: copy(2, 9).encode_to_vec(),
    });
    let total = rows.len();
    let report = r.put_copies(rows).await.unwrap();
    assert_eq!(report.rejected.len() as u64, n, "every odd person refused");
    assert!(
        report.rejected.iter().all(|x| x.position % 2 == 0),
        "positions are of the odd persons (1 at position 0, 3 at 2, …)"
    );
    assert_eq!(report.accepted, total as u64 - n);
    assert_eq!(
        r.copy_count().await.unwrap(),
        n,
        "one copy per registered person"
    );
    assert_eq!(r.copy(25, &uan(2)).await.unwrap().unwrap().updated_at_ms, 9);
    assert_eq!(r.copy(25, &uan(1)).await.unwrap(), None);
    assert_eq!(other.copy_count().await.unwrap(), 0);
}

#[tokio::test]
async fn a_swap_of_symbols_in_one_batch_keeps_both_directions() {
    use renkei_store::registry::Symbols as _;
    let s = fresh_or_skip!();
    let r = s.tenant(&code("011002")).registry();
    let (a, b) = (uan(1), uan(2));
    r.link(&[(a.clone(), b"s1".to_vec()), (b.clone(), b"s2".to_vec())])
        .await
        .unwrap();
    r.link(&[(a.clone(), b"s2".to_vec()), (b.clone(), b"s1".to_vec())])
        .await
        .unwrap();
    assert_eq!(r.person_of(b"s2").await.unwrap(), Some(a.clone()));
    assert_eq!(r.person_of(b"s1").await.unwrap(), Some(b.clone()));
    assert_eq!(r.symbol_of(&a).await.unwrap().as_deref(), Some(&b"s2"[..]));
    assert_eq!(r.symbol_of(&b).await.unwrap().as_deref(), Some(&b"s1"[..]));
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `cargo test -p renkei-store-pg --test platform -- --ignored --nocapture copy_vs`
#[tokio::test]
#[ignore = "a measurement, not a test: run it with --ignored --nocapture"]
async fn copy_vs_row_by_row_insert_of_100k_address_numbers() {
    const N: u64 = 100_000;
    let s = fresh_or_skip!();
    let numbers: Vec<_> = (1..=N).map(uan).collect();
    let (mut copy, mut rows) = (Vec::new(), Vec::new());
    for run in 0..3 {
        // A tenant per run and method, so each starts from an empty key range.
        let r = s
            .tenant(&code(["011002", "012025", "012033"][run]))
            .registry();
        let t = Instant::now();
        assert_eq!(r.register_many_by_copy(&numbers, 1).await.unwrap(), N);
        copy.push(t.elapsed().as_secs_f64());
        let r = s
            .tenant(&code(["141003", "131016", "271004"][run]))
            .registry();
        let t = Instant::now();
        r.register_row_by_row(&numbers, 1).await.unwrap();
        rows.push(t.elapsed().as_secs_f64());
        assert_eq!(r.registered_count().await.unwrap(), N);
    }
    let (c, i) = (median(copy.clone()), median(rows.clone()));
    println!(
        "100k address numbers: COPY median {c:.3} s ({:.0}/s), row-by-row INSERT median \
         {i:.3} s ({:.0}/s), {:.1}x; runs COPY {copy:?} INSERT {rows:?}",
        N as f64 / c,
        N as f64 / i,
        i / c
    );
}
