//! Micro-benchmarks of a record-log append: the writer's own work (frame, leaf hash, Merkle
//! tree, publication) with the sync made nearly free, and durable appends sharing one
//! `fdatasync` per batch (group commit) on the real disk. Run with
//! `cargo bench -p renkei-ledger`; `renkei bench ledger` measures the same path at scale.
//!
//! "Without fsync" is the same code on tmpfs (`/dev/shm`), where `fdatasync` returns at
//! once: the ledger has no non-durable mode, on purpose.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use renkei_ledger::{HeadSigner, Ledger, LedgerOptions};

/// About the size of an encoded ExchangeRecord (ids, agency codes, two SHA-256 hex digests).
const ENTRY_BYTES: usize = 250;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn open(dir: &Path) -> Ledger {
    Ledger::open(dir, LedgerOptions::default()).unwrap()
}

/// `n` concurrent appends; returns when all are durable.
async fn appends(ledger: &Ledger, n: usize) {
    let all = (0..n).map(|_| ledger.append(vec![0x5a; ENTRY_BYTES]));
    for r in futures::future::join_all(all).await {
        r.unwrap();
    }
}

fn append(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("ledger append");
    g.measurement_time(Duration::from_secs(5));

    // One append at a time on tmpfs: the writer's CPU path plus two thread hand-offs.
    if Path::new("/dev/shm").is_dir() {
        let dir = tempfile::tempdir_in("/dev/shm").unwrap();
        let ledger = open(dir.path());
        g.throughput(Throughput::Elements(1));
        g.bench_function("one at a time, tmpfs (fsync ≈ free)", |b| {
            b.iter(|| rt.block_on(appends(&ledger, 1)))
        });
        for n in [64usize, 1024] {
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(
                BenchmarkId::new("batch, tmpfs (fsync ≈ free)", n),
                &n,
                |b, &n| b.iter(|| rt.block_on(appends(&ledger, n))),
            );
        }
    }

    // The real disk: every append waits for an fdatasync, shared by everything queued.
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let ledger = open(dir.path());
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    g.bench_function("one at a time, disk (one fdatasync each)", |b| {
        b.iter(|| rt.block_on(appends(&ledger, 1)))
    });
    for n in [64usize, 1024] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("group commit, disk", n), &n, |b, &n| {
            b.iter(|| rt.block_on(appends(&ledger, n)))
        });
    }
    g.finish();
}

/// The cost of the per-frame MAC (docs/decisions/0078): the same batches on tmpfs, by a
/// log opened without a key and by one opened with its keeper's key.
fn mac(c: &mut Criterion) {
    if !Path::new("/dev/shm").is_dir() {
        return;
    }
    let rt = runtime();
    let mut g = c.benchmark_group("frame mac");
    g.measurement_time(Duration::from_secs(5));
    let n = 1024usize;
    g.throughput(Throughput::Elements(n as u64));
    let plain_dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let plain = open(plain_dir.path());
    g.bench_function("batch 1024, tmpfs, no key (zero MAC)", |b| {
        b.iter(|| rt.block_on(appends(&plain, n)))
    });
    let signed_dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let signed = Ledger::open_signed(
        signed_dir.path(),
        LedgerOptions::default(),
        HeadSigner {
            log_id: "bench".into(),
            key: renkei_crypto::SigningKey::generate().unwrap().0,
        },
    )
    .unwrap();
    g.bench_function("batch 1024, tmpfs, keeper's key (HMAC per frame)", |b| {
        b.iter(|| rt.block_on(appends(&signed, n)))
    });
    g.finish();
}

criterion_group!(benches, append, mac);
criterion_main!(benches);
