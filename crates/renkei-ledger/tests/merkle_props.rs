//! The log's Merkle tree against a naive RFC 9162 §2.1 implementation.
//!
//! The ledger keeps only chunk hashes in memory and reads leaf hashes back from segment
//! frames, so its root and proof code is far from the RFC's recursive definitions. This
//! test writes those definitions out again, as plainly as possible, and checks that the
//! ledger agrees with them for random sizes, indices and tree pairs: roots, inclusion
//! proofs (PATH) and consistency proofs (PROOF/SUBPROOF), byte for byte. It also checks
//! that the public verifiers accept the naive proofs and refuse any altered one.
#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use proptest::prelude::*;
use renkei_ledger::{
    CompactRange, Hash, Ledger, LedgerOptions, empty_root, leaf_hash, node_hash,
    verify_consistency, verify_inclusion,
};

/// Enough records to cross several in-memory chunks (16 leaves) and segment files.
const RECORDS: u64 = 300;

/// Largest power of two strictly less than `n`, the RFC's `k`.
fn k(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]), RFC 9162 §2.1.1.
fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => empty_root(),
        1 => d[0],
        n => {
            let k = k(n);
            node_hash(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

/// PATH(m, D[n]), RFC 9162 §2.1.3.1.
fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = k(n);
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// SUBPROOF(m, D[n], b), RFC 9162 §2.1.4.1.
fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(d)] };
    }
    let k = k(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

/// PROOF(m, D[n]) for 0 < m ≤ n.
fn proof(m: usize, d: &[Hash]) -> Vec<Hash> {
    subproof(m, d, true)
}

fn entry(i: u64) -> Vec<u8> {
    // Entries of different lengths, so a frame-size slip would show.
    format!("record {i} {}", "x".repeat((i % 7) as usize)).into_bytes()
}

/// One ledger for every case: building it per case would spend the test on fsyncs.
fn fixture() -> &'static (tempfile::TempDir, Ledger, Vec<Hash>) {
    static FIXTURE: OnceLock<(tempfile::TempDir, Ledger, Vec<Hash>)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let log = Ledger::open(
            dir.path(),
            LedgerOptions {
                segment_bytes: 2000,
            },
        )
        .unwrap();
        let mut leaves = Vec::new();
        for i in 0..RECORDS {
            let e = entry(i);
            leaves.push(leaf_hash(&e));
            log.append_blocking(e).unwrap();
        }
        assert!(
            log.segment_starts().unwrap().len() > 2,
            "the fixture should span several segments"
        );
        (dir, log, leaves)
    })
}

fn flip(proof: &mut [Hash], at: usize, bit: u8) {
    let i = at % proof.len();
    proof[i][(bit as usize) % 32] ^= 1 << (bit % 8);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn root_matches_the_rfc(size in 0..=RECORDS) {
        let (_dir, log, leaves) = fixture();
        let want = mth(&leaves[..size as usize]);
        prop_assert_eq!(log.root(size).unwrap(), want);
        let mut compact = CompactRange::new();
        for leaf in &leaves[..size as usize] {
            compact.push(*leaf);
        }
        prop_assert_eq!(compact.root(), want);
    }

    #[test]
    fn inclusion_proof_matches_the_rfc(size in 1..=RECORDS, pick in any::<u64>(), bit in any::<u8>()) {
        let (_dir, log, leaves) = fixture();
        let index = pick % size;
        let d = &leaves[..size as usize];
        let want = path(index as usize, d);
        let got = log.inclusion_proof(index, size).unwrap();
        prop_assert_eq!(&got, &want);
        let root = mth(d);
        prop_assert!(verify_inclusion(&d[index as usize], index, size, &want, &root));
        if !want.is_empty() {
            let mut bad = want.clone();
            flip(&mut bad, pick as usize, bit);
            prop_assert!(!verify_inclusion(&d[index as usize], index, size, &bad, &root));
        }
        // The proof of one leaf never proves a neighbour.
        if size > 1 {
            let other = (index + 1) % size;
            prop_assert!(!verify_inclusion(&d[other as usize], index, size, &want, &root));
        }
    }

    #[test]
    fn consistency_proof_matches_the_rfc(a in 1..=RECORDS, b in 1..=RECORDS, pick in any::<usize>(), bit in any::<u8>()) {
        let (_dir, log, leaves) = fixture();
        let (first, second) = if a <= b { (a, b) } else { (b, a) };
        let d = &leaves[..second as usize];
        let want = proof(first as usize, d);
        let got = log.consistency_proof(first, second).unwrap();
        prop_assert_eq!(&got, &want);
        let old = mth(&leaves[..first as usize]);
        let new = mth(d);
        prop_assert!(verify_consistency(first, second, &want, &old, &new));
        if !want.is_empty() {
            let mut bad = want.clone();
            flip(&mut bad, pick, bit);
            prop_assert!(!verify_consistency(first, second, &bad, &old, &new));
        }
        if first < second {
            // A rewritten history (a different old root) is never consistent.
            let mut forged = old;
            forged[0] ^= 1;
            prop_assert!(!verify_consistency(first, second, &want, &forged, &new));
        }
    }

    #[test]
    fn compact_range_matches_the_rfc_for_any_leaves(entries in proptest::collection::vec(any::<Vec<u8>>(), 0..80)) {
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        let mut compact = CompactRange::new();
        for leaf in &leaves {
            compact.push(*leaf);
        }
        prop_assert_eq!(compact.size(), leaves.len() as u64);
        prop_assert_eq!(compact.root(), mth(&leaves));
    }
}
