//! What statistics cost on a seven-year log (docs/decisions/0046): a query answered from
//! the per-day counters, against the baseline of counting the log on every call, and the
//! cost of folding records into the counters (paid once per record, off the append path).
//!
//! Run: `cargo bench -p renkei-records --bench stats` (RENKEI_STATS_RECORDS sets the log
//! size, default 200,000 records over 2,557 days).
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use renkei_ledger::{Ledger, LedgerOptions};
use renkei_proto::v1::{Direction, ExchangeRecord, Outcome};
use renkei_records::{RecordBook, Statistics};
use renkei_store::{Store, StoreOptions};

const DAYS: i64 = 2557;

fn record(i: i64, n: i64) -> ExchangeRecord {
    // 2019-04-01 JST onwards, evenly over seven years, in time order.
    let t = 1_554_044_400_000 + i * (DAYS * 86_400_000 / n);
    let outcomes = [
        Outcome::Provided,
        Outcome::Provided,
        Outcome::NoData,
        Outcome::Refused,
        Outcome::Held,
        Outcome::NotProvided,
    ];
    ExchangeRecord {
        recorded_at_ms: t,
        keeper: "141003".into(),
        direction: if i % 2 == 0 {
            Direction::Inquiry
        } else {
            Direction::Provision
        } as i32,
        counterparty: "011002".into(),
        procedure: ["vaccination", "vaccination-fee", "child-allowance"][(i % 3) as usize].into(),
        item: 25,
        inquiry_id: format!("inq-{i:012}"),
        permit_id: format!("pmt-{i:012}"),
        outcome: outcomes[(i % 6) as usize] as i32,
        unified_address_number: format!("{}", 141_003_000_000 + i % 50_000),
        envelope_sha256: "ab".repeat(32),
        sealed_answer_sha256: "cd".repeat(32),
        operator: "sato".into(),
        ..Default::default()
    }
}

fn stats(c: &mut Criterion) {
    let n: i64 = std::env::var("RENKEI_STATS_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
    let ledger = Ledger::open(&dir.path().join("log"), LedgerOptions::default()).unwrap();
    let index = store.global("idx").unwrap();
    let book = RecordBook::open(ledger, index.clone()).unwrap();
    // Durable appends from 1,024 concurrent tasks, as the servers append (group commit).
    rt.block_on(async {
        let mut next = 0;
        while next < n {
            let mut set = tokio::task::JoinSet::new();
            for i in next..(next + 1024).min(n) {
                let book = book.clone();
                set.spawn(async move { book.append(record(i, n)).await.unwrap() });
            }
            set.join_all().await;
            next += 1024;
        }
    });
    let log = dir.path().join("log");

    let mut g = c.benchmark_group(format!("statistics, {n} records over {DAYS} days"));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("baseline: count the whole log on every call", |b| {
        b.iter(|| {
            let mut s = Statistics::new(None, None);
            renkei_ledger::scan_log(&log, &mut |_, e| s.add_entry(e)).unwrap();
            assert_eq!(s.rows.values().sum::<u64>(), n as u64);
        })
    });
    // The first call folds everything; every later one finds nothing new.
    book.update_counters().unwrap();
    g.bench_function("from the counters (seven years)", |b| {
        b.iter(|| {
            let s = book.statistics(None, None).unwrap();
            assert_eq!(s.rows.values().sum::<u64>(), n as u64);
        })
    });
    g.bench_function("from the counters (one month)", |b| {
        b.iter(|| {
            book.statistics(Some("2025-04-01"), Some("2025-05-01"))
                .unwrap()
        })
    });
    g.bench_function(
        "rebuild the counters from the log (fold every record)",
        |b| {
            b.iter_batched(
                || index.clear().unwrap(),
                |()| assert_eq!(book.update_counters().unwrap(), n as u64),
                BatchSize::PerIteration,
            )
        },
    );
    g.finish();
}

criterion_group!(benches, stats);
criterion_main!(benches);
