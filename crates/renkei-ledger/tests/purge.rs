//! Retention purges delete whole segments, and the log stays verifiable and provable.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use renkei_crypto::SigningKey;
use renkei_ledger::{
    HeadSigner, Ledger, LedgerError, LedgerOptions, leaf_hash, verify_consistency,
    verify_inclusion, verify_log,
};

fn open(dir: &Path, key: &[u8]) -> Ledger {
    Ledger::open_signed(
        dir,
        LedgerOptions { segment_bytes: 700 },
        HeadSigner {
            log_id: "141003".into(),
            key: SigningKey::from_pkcs8(key).unwrap(),
        },
    )
    .unwrap()
}

/// The RFC's MTH over leaf hashes, computed independently of the ledger's tree.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => unreachable!(),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            renkei_ledger::node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// Root, every inclusion proof of a kept record, and a consistency proof from just after
/// the purge point, against the independently computed tree.
fn check(log: &Ledger, leaves: &[[u8; 32]], kept: u64, size: u64) {
    let root = mth(&leaves[..size as usize]);
    assert_eq!(log.root(size).unwrap(), root);
    for m in kept..size {
        let path = log.inclusion_proof(m, size).unwrap();
        assert!(
            verify_inclusion(&leaves[m as usize], m, size, &path, &root),
            "{m}"
        );
    }
    let first = kept + 3;
    let proof = log.consistency_proof(first, size).unwrap();
    assert!(verify_consistency(
        first,
        size,
        &proof,
        &mth(&leaves[..first as usize]),
        &root
    ));
}

#[test]
fn a_purged_log_still_verifies_proves_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let (key, pkcs8) = SigningKey::generate().unwrap();
    let public = key.public_key();
    let mut leaves = Vec::new();
    let log = open(dir.path(), &pkcs8);
    for i in 0..230u32 {
        let e = format!("record {i:05} of the retention test").into_bytes();
        leaves.push(leaf_hash(&e));
        log.append_blocking(e).unwrap();
        if [40, 100, 229].contains(&i) {
            log.sign_head(i64::from(i)).unwrap();
        }
    }
    let starts = log.segment_starts().unwrap();
    assert!(starts.len() > 5, "{starts:?}");
    // Cut at 150: everything before the last segment start ≤ 150 goes.
    let kept = log.purge_before(150).unwrap();
    assert!(
        kept <= 150 && kept > 100 && starts.contains(&kept),
        "{kept}"
    );
    assert_eq!(log.first_kept(), kept);
    assert_eq!(log.len(), 230);
    assert!(log.get(kept - 1).unwrap().is_none());
    assert!(log.get(kept).unwrap().is_some());
    assert_eq!(log.segment_starts().unwrap()[0], kept);

    check(&log, &leaves, kept, 230);
    // Proofs about purged records are refused, clearly.
    let err = log.inclusion_proof(kept - 1, 230).unwrap_err();
    assert!(
        matches!(err, LedgerError::OutOfRange(ref m) if m.contains("purged")),
        "{err}"
    );
    assert!(log.consistency_proof(101, 230).is_err());

    // More records after the purge, a new head, then a restart.
    for i in 230..260u32 {
        let e = format!("record {i:05} after the purge").into_bytes();
        leaves.push(leaf_hash(&e));
        log.append_blocking(e).unwrap();
    }
    log.sign_head(300).unwrap();
    drop(log);
    let report = verify_log(dir.path(), &public, &mut |_| {}).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(report.records, 260);
    assert_eq!(report.heads, 4);
    assert_eq!(report.root, mth(&leaves));
    let log = open(dir.path(), &pkcs8);
    assert_eq!(log.first_kept(), kept);
    check(&log, &leaves, kept, 260);
    check(&log, &leaves, kept, 230);

    // Tampering with the hashes that stand for the purged records is caught.
    drop(log);
    let purged = dir.path().join("purged.log");
    let good = std::fs::read(&purged).unwrap();
    let mut b = good.clone();
    b[4 + 8 + 4 + 7] ^= 1; // inside the first subtree hash
    std::fs::write(&purged, &b).unwrap();
    let p = verify_log(dir.path(), &public, &mut |_| {})
        .unwrap()
        .problem
        .expect("altered purge record accepted");
    assert!(p.reason.contains("do not hash"), "{p}");
    assert!(Ledger::open(dir.path(), LedgerOptions::default()).is_err());
    let mut b = good;
    b[4 + 8 + 3] ^= 1; // the count of subtree hashes
    std::fs::write(&purged, &b).unwrap();
    let p = verify_log(dir.path(), &public, &mut |_| {})
        .unwrap()
        .problem
        .expect("unreadable purge record accepted");
    assert!(p.file.ends_with("purged.log"), "{p}");
}

#[test]
fn an_interrupted_purge_is_completed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (key, pkcs8) = SigningKey::generate().unwrap();
    let public = key.public_key();
    let log = open(dir.path(), &pkcs8);
    for i in 0..120u32 {
        log.append_blocking(format!("r{i:04}").into_bytes())
            .unwrap();
    }
    log.sign_head(1).unwrap();
    let starts = log.segment_starts().unwrap();
    let cut = starts[2];
    // Copy the first segments aside, purge, and put them back: as if the process died
    // after recording the purge and before deleting the files.
    let saved: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("seg-"))
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    assert_eq!(log.purge_before(cut).unwrap(), cut);
    drop(log);
    for (p, b) in saved {
        if !p.exists() {
            std::fs::write(&p, b).unwrap();
        }
    }
    let report = verify_log(dir.path(), &public, &mut |_| {}).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    let log = open(dir.path(), &pkcs8);
    assert_eq!(log.first_kept(), cut);
    assert_eq!(log.segment_starts().unwrap()[0], cut);
    assert_eq!(log.len(), 120);
}
