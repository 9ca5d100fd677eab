//! What operator calls cost: a login (argon2id verification), the session check every
//! operator call makes, and one durable audit entry.
//!
//! Run: `cargo bench -p renkei-ops --bench operators`
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use renkei_core::AgencyCode;
use renkei_ops::{OperatorBook, OpsPolicy, Terminal};
use renkei_proto::v1::AuditEntry;
use renkei_store::{Store, StoreOptions};

fn operators(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
    let code = AgencyCode::parse("141003").unwrap();
    let book = OperatorBook::open("141003", &store.tenant(&code), OpsPolicy::default()).unwrap();
    let terminal = Terminal {
        name: "t1".into(),
        ..Default::default()
    };
    let otp = rt.block_on(book.bootstrap_admin("admin", "")).unwrap();

    c.bench_function("login + logout (argon2id verify)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let li = book.login("admin", &otp, &terminal).await.unwrap();
                let actor = book.authenticate(&li.token, &terminal).await.unwrap();
                book.logout(&actor).await.unwrap();
            })
        })
    });

    let li = rt.block_on(book.login("admin", &otp, &terminal)).unwrap();
    c.bench_function("session check of one operator call", |b| {
        b.iter(|| {
            rt.block_on(async {
                book.authenticate(&li.token, &terminal).await.unwrap();
            })
        })
    });

    c.bench_function("durable audit entry", |b| {
        b.iter(|| {
            rt.block_on(async {
                book.audit
                    .append(AuditEntry {
                        operator: "admin".into(),
                        action: "held.list".into(),
                        outcome: "ok".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = operators
}
criterion_main!(benches);
