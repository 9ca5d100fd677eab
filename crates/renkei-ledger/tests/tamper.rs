//! Offline verification finds every kind of alteration and names the first bad record.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use renkei_crypto::{SigningKey, VerifyingKey};
use renkei_ledger::{HeadSigner, Ledger, LedgerOptions, VerifyReport, verify_log};

const HEADER: usize = 4 + 8 + 32;

fn key() -> SigningKey {
    SigningKey::generate().unwrap().0
}

/// A log of `n` records in small segments, with heads signed at 30, 60 and `n`.
fn build(dir: &Path, n: u32, key: SigningKey) -> VerifyingKey {
    let public = key.public_key();
    let log = Ledger::open_signed(
        dir,
        LedgerOptions {
            segment_bytes: 1000,
        },
        HeadSigner {
            log_id: "011002".into(),
            key,
        },
    )
    .unwrap();
    for i in 0..n {
        log.append_blocking(format!("record number {i:04}").into_bytes())
            .unwrap();
        if i + 1 == 30 || i + 1 == 60 || i + 1 == n {
            log.sign_head(i64::from(i)).unwrap();
        }
    }
    public
}

fn check(dir: &Path, key: &VerifyingKey) -> VerifyReport {
    verify_log(dir, key, &mut |_| {}).unwrap()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("seg-"))
        .collect();
    v.sort();
    v
}

/// (record seq, offset, frame length) of every frame in a segment.
fn frames(path: &Path) -> Vec<(u64, usize, usize)> {
    let b = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut off = 0;
    while off < b.len() {
        let len = u32::from_be_bytes(b[off..off + 4].try_into().unwrap()) as usize;
        let seq = u64::from_be_bytes(b[off + 4..off + 12].try_into().unwrap());
        out.push((seq, off, HEADER + len));
        off += HEADER + len;
    }
    out
}

/// The segment holding record `seq` and that frame.
fn find(dir: &Path, seq: u64) -> (PathBuf, usize, usize) {
    for s in segments(dir) {
        if let Some(&(_, off, len)) = frames(&s).iter().find(|f| f.0 == seq) {
            return (s, off, len);
        }
    }
    panic!("record {seq} not found");
}

#[test]
fn an_untouched_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let public = build(dir.path(), 100, key());
    let r = check(dir.path(), &public);
    assert!(r.is_ok(), "{:?}", r.problem);
    assert_eq!(r.records, 100);
    assert_eq!(r.heads, 3);
    assert_eq!(r.last_head_size, 100);
    assert!(r.segments > 2);
    let log = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    assert_eq!(log.root(100).unwrap(), r.root);
}

#[test]
fn a_flipped_byte_is_found_at_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let public = build(dir.path(), 100, key());
    let (seg, off, len) = find(dir.path(), 42);
    let mut b = std::fs::read(&seg).unwrap();
    b[off + len - 3] ^= 0x01;
    std::fs::write(&seg, &b).unwrap();
    let p = check(dir.path(), &public)
        .problem
        .expect("alteration not found");
    assert_eq!(p.record, 42, "{p}");
    assert_eq!(p.file, seg);
    assert!(p.reason.contains("altered"), "{p}");
    // The ledger itself refuses to open it.
    assert!(Ledger::open(dir.path(), LedgerOptions::default()).is_err());
}

#[test]
fn a_removed_record_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let public = build(dir.path(), 100, key());
    let (seg, off, len) = find(dir.path(), 57);
    let mut b = std::fs::read(&seg).unwrap();
    b.drain(off..off + len);
    std::fs::write(&seg, &b).unwrap();
    let p = check(dir.path(), &public)
        .problem
        .expect("removal not found");
    assert_eq!(p.record, 57, "{p}");
    assert!(p.reason.contains("removed"), "{p}");
}

#[test]
fn reordered_records_in_a_segment_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let public = build(dir.path(), 100, key());
    let seg = segments(dir.path())[2].clone();
    let fr = frames(&seg);
    let (first, second) = (fr[1], fr[2]);
    let mut b = std::fs::read(&seg).unwrap();
    let a = b[first.1..first.1 + first.2].to_vec();
    let c = b[second.1..second.1 + second.2].to_vec();
    let mut swapped = c.clone();
    swapped.extend_from_slice(&a);
    b.splice(first.1..second.1 + second.2, swapped);
    std::fs::write(&seg, &b).unwrap();
    let p = check(dir.path(), &public)
        .problem
        .expect("reordering not found");
    assert_eq!(p.record, first.0, "{p}");
}

#[test]
fn swapped_segment_files_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let public = build(dir.path(), 100, key());
    let segs = segments(dir.path());
    let tmp = dir.path().join("tmp");
    std::fs::rename(&segs[1], &tmp).unwrap();
    std::fs::rename(&segs[2], &segs[1]).unwrap();
    std::fs::rename(&tmp, &segs[2]).unwrap();
    let first_of_second = frames(&segs[2])[0].0; // now holds the old second segment
    let p = check(dir.path(), &public).problem.expect("swap not found");
    assert_eq!(p.record, first_of_second, "{p}");
}

#[test]
fn a_rewritten_record_with_recomputed_hash_is_caught_by_the_signed_head() {
    let dir = tempfile::tempdir().unwrap();
    let public = build(dir.path(), 100, key());
    // A careful forger rewrites record 45 and its stored leaf hash; only the signed
    // heads (30 → 60) can tell.
    let (seg, off, len) = find(dir.path(), 45);
    let mut b = std::fs::read(&seg).unwrap();
    let entry_at = off + HEADER;
    b[entry_at] = b'R';
    let hash = renkei_ledger::leaf_hash(&b[entry_at..off + len]);
    b[off + 12..off + 44].copy_from_slice(&hash);
    std::fs::write(&seg, &b).unwrap();
    let p = check(dir.path(), &public)
        .problem
        .expect("rewrite not found");
    assert_eq!(p.record, 30, "{p}");
    assert_eq!(p.head, Some(1));
    assert!(p.reason.contains("30..60"), "{p}");
    let err = Ledger::open(dir.path(), LedgerOptions::default()).unwrap_err();
    assert!(err.to_string().contains("signed tree head"), "{err}");
}

#[test]
fn records_cut_from_the_end_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let public = build(dir.path(), 100, key());
    let last = segments(dir.path()).pop().unwrap();
    let fr = frames(&last);
    let (seq, off, _) = fr[fr.len() - 2];
    let f = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
    f.set_len(off as u64).unwrap();
    let p = check(dir.path(), &public)
        .problem
        .expect("truncation not found");
    assert_eq!(p.record, seq, "{p}");
    assert!(p.reason.contains("removed from the end"), "{p}");
}

#[test]
fn heads_signed_by_another_key_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 40, key());
    let p = check(dir.path(), &key().public_key())
        .problem
        .expect("foreign key accepted");
    assert_eq!(p.head, Some(0));
    assert_eq!(p.record, 0);
}

#[test]
fn a_torn_tail_after_the_last_head_is_not_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let public = build(dir.path(), 50, key());
    let last = segments(dir.path()).pop().unwrap();
    let mut b = std::fs::read(&last).unwrap();
    b.extend_from_slice(&[0, 0, 0, 9, 0, 0]);
    std::fs::write(&last, &b).unwrap();
    let r = check(dir.path(), &public);
    assert!(r.is_ok(), "{:?}", r.problem);
    assert_eq!(r.torn_tail_bytes, 6);
}

#[test]
fn a_deleted_heads_file_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let public = build(dir.path(), 50, key());
    std::fs::remove_file(dir.path().join("heads.log")).unwrap();
    let r = check(dir.path(), &public);
    let p = r.problem.expect("a log without heads.log must not verify");
    assert_eq!(p.record, 0, "{p}");
    assert!(p.reason.contains("heads.log is missing"), "{p}");
    assert!(p.reason.contains("50 records"), "{p}");
}

#[test]
fn a_damaged_length_prefix_of_the_last_head_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let public = build(dir.path(), 50, key());
    let heads = dir.path().join("heads.log");
    let mut b = std::fs::read(&heads).unwrap();
    // Find the last frame's offset, then make its length claim more bytes than there are.
    let mut off = 0usize;
    let mut last = 0usize;
    while off + 4 <= b.len() {
        last = off;
        let len = u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]) as usize;
        off += 4 + len;
    }
    b[last + 3] = b[last + 3].wrapping_add(7);
    std::fs::write(&heads, &b).unwrap();
    let r = check(dir.path(), &public);
    let p = r.problem.expect("a damaged head must not verify");
    // Heads were signed at 30 and 50; the second is the damaged one.
    assert_eq!(p.head, Some(1), "{p}");
    assert_eq!(p.offset, last as u64, "{p}");
    assert_eq!(p.record, 30, "the last good head covers 30: {p}");
    assert!(p.reason.contains("incomplete"), "{p}");
}
