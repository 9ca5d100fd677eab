//! Offline verification finds every kind of alteration and names the first bad record.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use renkei_crypto::{SigningKey, VerifyingKey};
use renkei_ledger::{HeadSigner, Ledger, LedgerOptions, VerifyReport, verify_log};

/// Written here from docs/decisions/0078, not taken from the crate, so that a change of
/// format shows up as a failing test: `len ‖ seq ‖ leaf hash ‖ mac: 16 ‖ check: 4`.
const HEADER: usize = 4 + 8 + 32 + 16 + 4;
/// The format version at the start of every segment and of `heads.log`.
const MAGIC: usize = 8;

/// First 4 bytes of SHA-256: the header check of segment and heads frames.
fn check4(bytes: &[u8]) -> [u8; 4] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref()[..4].try_into().unwrap()
}

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
    let mut off = MAGIC;
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
    let sum = check4(&b[off..off + HEADER - 4]);
    b[off + HEADER - 4..off + HEADER].copy_from_slice(&sum);
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
    let r = check(dir.path(), &key().public_key());
    let p = r.problem.expect("foreign key accepted");
    assert_eq!(p.head, Some(0));
    assert_eq!(p.record, 0);
    assert_eq!(
        p.offset, MAGIC as u64,
        "head #0 starts after the format version"
    );
    assert_eq!(p.kind, renkei_ledger::ProblemKind::WrongKey, "{p}");
    assert!(p.reason.contains("signed by a different key"), "{p}");
    assert_eq!(r.heads_verified, 0);
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
    let last = *head_offsets(&b).last().unwrap();
    b[last + 3] = b[last + 3].wrapping_add(7);
    std::fs::write(&heads, &b).unwrap();
    let r = check(dir.path(), &public);
    let p = r.problem.expect("a damaged head must not verify");
    // Heads were signed at 30 and 50; the second is the damaged one.
    assert_eq!(p.head, Some(1), "{p}");
    assert_eq!(p.offset, last as u64, "{p}");
    assert_eq!(p.record, 30, "the last good head covers 30: {p}");
    assert!(p.reason.contains("length prefix"), "{p}");
    assert!(p.reason.contains("damaged"), "{p}");
    // The ledger refuses it too, rather than cutting it as if a crash had torn it.
    let before = std::fs::read(&heads).unwrap();
    let err = Ledger::open(dir.path(), LedgerOptions::default()).unwrap_err();
    assert!(err.to_string().contains(&format!("offset {last}")), "{err}");
    assert_eq!(std::fs::read(&heads).unwrap(), before);
}

/// Offsets of the frames of a heads file: `len: u32 ‖ check: 4 ‖ body`.
fn head_offsets(b: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut off = MAGIC;
    while off + 8 <= b.len() {
        out.push(off);
        let len = u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]) as usize;
        off += 8 + len;
    }
    out
}

/// A log of 320 records with heads at 30, 60 and 320, then `tail` more records its
/// keeper wrote but has not signed a head over yet. Returns the keeper's key (PKCS#8).
fn build_with_tail(dir: &Path, tail: u32) -> (VerifyingKey, Vec<u8>) {
    let (k, pkcs8) = SigningKey::generate().unwrap();
    let public = build(dir, 320, k);
    let log = Ledger::open_signed(dir, LedgerOptions::default(), signer(&pkcs8)).unwrap();
    for i in 0..tail {
        log.append_blocking(format!("unsigned record {i:04}").into_bytes())
            .unwrap();
    }
    (public, pkcs8)
}

fn signer(pkcs8: &[u8]) -> HeadSigner {
    HeadSigner {
        log_id: "011002".into(),
        key: SigningKey::from_pkcs8(pkcs8).unwrap(),
    }
}

/// Every file of the log directory and its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

/// A frame as the format defines it, with the given MAC: what a forger without the key
/// can write.
fn forged_frame(seq: u64, entry: &[u8], mac: [u8; 16]) -> Vec<u8> {
    let mut f = (entry.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&renkei_ledger::leaf_hash(entry));
    f.extend_from_slice(&mac);
    let sum = check4(&f);
    f.extend_from_slice(&sum);
    f.extend_from_slice(entry);
    f
}

#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with the log lines it emits captured.
fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    let out = Captured::default();
    let sink = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let r = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&out.0.lock().unwrap()).into_owned();
    (r, text)
}

#[test]
fn a_damaged_length_in_the_unsigned_tail_refuses_to_open_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (public, pkcs8) = build_with_tail(dir.path(), 20);
    // Record 330 is in the middle of the unsigned tail: 9 records follow it.
    let (seg, off, _) = find(dir.path(), 330);
    let mut b = std::fs::read(&seg).unwrap();
    b[off + 3] ^= 0x01;
    std::fs::write(&seg, &b).unwrap();
    let before = snapshot(dir.path());
    for err in [
        Ledger::open(dir.path(), LedgerOptions::default()).unwrap_err(),
        Ledger::open_signed(dir.path(), LedgerOptions::default(), signer(&pkcs8)).unwrap_err(),
    ] {
        match &err {
            renkei_ledger::LedgerError::Corrupt { path, offset, .. } => {
                assert_eq!(path, &seg, "{err}");
                assert_eq!(*offset, off as u64, "{err}");
            }
            other => panic!("expected corruption, got {other}"),
        }
    }
    assert_eq!(
        snapshot(dir.path()),
        before,
        "a refused open changed the log"
    );
    let r = check(dir.path(), &public);
    assert_eq!(r.torn_tail_bytes, 0, "a damaged length is not a torn write");
    let p = r.problem.expect("a damaged length must not verify");
    assert_eq!((p.record, p.offset), (330, off as u64), "{p}");
    assert_eq!(p.file, seg);
    assert!(p.reason.contains("checksum"), "{p}");
}

#[test]
fn a_torn_final_frame_is_cut_at_open_and_logged_and_nothing_before_it_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (public, pkcs8) = build_with_tail(dir.path(), 5);
    // A crash in the middle of writing record 325: its frame is cut inside the entry.
    let last = segments(dir.path()).pop().unwrap();
    let (_, off, len) = find(dir.path(), 324);
    let torn_at = off + len;
    let mut b = std::fs::read(&last).unwrap();
    let frame = forged_frame(325, b"the record being written", [7; 16]);
    b.extend_from_slice(&frame[..HEADER + 5]);
    std::fs::write(&last, &b).unwrap();
    let r = check(dir.path(), &public);
    assert!(r.is_ok(), "{:?}", r.problem);
    assert_eq!(r.torn_tail_bytes, (HEADER + 5) as u64);

    let (log, lines) = logged(|| {
        Ledger::open_signed(dir.path(), LedgerOptions::default(), signer(&pkcs8)).unwrap()
    });
    assert!(lines.contains("WARN"), "{lines}");
    assert!(lines.contains("incomplete final frame"), "{lines}");
    assert!(lines.contains(&format!("offset={torn_at}")), "{lines}");
    assert!(lines.contains(&format!("bytes={}", HEADER + 5)), "{lines}");
    assert!(lines.contains(&last.display().to_string()), "{lines}");
    assert_eq!(std::fs::metadata(&last).unwrap().len(), torn_at as u64);
    assert_eq!(log.len(), 325);
    for seq in [0u64, 319, 320, 324] {
        assert!(log.get(seq).unwrap().is_some(), "record {seq} lost");
    }
    assert_eq!(log.append_blocking(b"next".to_vec()).unwrap(), 325);
    log.sign_head(1000).unwrap();
    drop(log);
    let r = check(dir.path(), &public);
    assert!(r.is_ok(), "{:?}", r.problem);
    assert_eq!((r.records, r.last_head_size), (326, 326));
}

#[test]
fn a_record_appended_offline_after_the_last_head_is_refused_at_open_and_found_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (public, pkcs8) = build_with_tail(dir.path(), 3);
    let frame_key = renkei_ledger::FrameKey::derive(&SigningKey::from_pkcs8(&pkcs8).unwrap());
    // The keeper's own unsigned records authenticate by their MACs.
    let r =
        renkei_ledger::verify_log_with(dir.path(), &public, Some(&frame_key), &mut |_| {}).unwrap();
    assert!(r.is_ok(), "{:?}", r.problem);
    assert!(r.tail_authenticated);

    // Someone with write access but not the key appends record 323, well formed.
    let last = segments(dir.path()).pop().unwrap();
    let forged_at = std::fs::metadata(&last).unwrap().len();
    let mut b = std::fs::read(&last).unwrap();
    b.extend_from_slice(&forged_frame(323, b"a forged exchange record", [0x42; 16]));
    std::fs::write(&last, &b).unwrap();
    let before = snapshot(dir.path());

    let err =
        Ledger::open_signed(dir.path(), LedgerOptions::default(), signer(&pkcs8)).unwrap_err();
    match &err {
        renkei_ledger::LedgerError::Unauthenticated {
            path,
            offset,
            record,
            count,
        } => {
            assert_eq!((path, *offset, *record, *count), (&last, forged_at, 323, 1));
        }
        other => panic!("expected an unauthenticated record, got {other}"),
    }
    assert!(
        err.to_string().contains("never signed into a head"),
        "{err}"
    );
    assert_eq!(
        snapshot(dir.path()),
        before,
        "a refused open changed the log"
    );

    let r =
        renkei_ledger::verify_log_with(dir.path(), &public, Some(&frame_key), &mut |_| {}).unwrap();
    let p = r.problem.expect("a forged append must not verify");
    assert_eq!(p.kind, renkei_ledger::ProblemKind::Unauthenticated, "{p}");
    assert_eq!((p.record, p.offset), (323, forged_at), "{p}");
    assert_eq!(p.file, last);
    assert!(p.reason.contains("unauthenticated records"), "{p}");
    // With the public key alone it cannot be told from the keeper's unsigned records.
    let r = check(dir.path(), &public);
    assert!(r.is_ok(), "{:?}", r.problem);
    assert_eq!((r.records, r.last_head_size), (324, 320));
    assert!(!r.tail_authenticated);
}

#[test]
fn a_damaged_head_in_the_middle_is_named_by_its_offset() {
    use prost::Message as _;
    let dir = tempfile::tempdir().unwrap();
    let public = build(dir.path(), 100, key());
    let heads = dir.path().join("heads.log");
    let mut b = std::fs::read(&heads).unwrap();
    let offs = head_offsets(&b);
    let at = offs[1];
    let len = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let body = &b[at + 8..at + 8 + len];
    let sig = renkei_proto::v1::SignedTreeHead::decode(body)
        .unwrap()
        .signature;
    let sig_at = at + 8 + body.windows(sig.len()).position(|w| w == sig).unwrap();
    b[sig_at + 10] ^= 0x01;
    std::fs::write(&heads, &b).unwrap();
    let r = check(dir.path(), &public);
    let p = r.problem.expect("a damaged head must not verify");
    assert_eq!(p.head, Some(1), "{p}");
    assert_eq!(p.offset, at as u64, "{p}");
    assert_eq!(p.file, heads);
    assert_eq!(p.kind, renkei_ledger::ProblemKind::Altered);
    assert!(p.reason.contains("altered"), "{p}");
    assert_eq!(r.heads_verified, 1);
}
