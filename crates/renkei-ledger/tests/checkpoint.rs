//! A signed head published as a C2SP checkpoint reads and verifies with a parser written
//! here from c2sp.org/tlog-checkpoint and c2sp.org/signed-note, sharing no code with the
//! ledger's (its own base64 decoder, key hash and Ed25519 check through ring).
#![allow(clippy::unwrap_used)]

use renkei_crypto::SigningKey;
use renkei_ledger::{HeadSigner, Ledger, LedgerOptions};

/// RFC 4648 standard base64 with padding; `None` if not exactly that.
fn unbase64(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::new();
    for q in b.chunks(4) {
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        let mut n = 0u32;
        for (i, &c) in q.iter().enumerate() {
            n <<= 6;
            if i < 4 - pad {
                n |= val(c)?;
            }
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

struct Checkpoint {
    origin: String,
    size: u64,
    root: Vec<u8>,
}

/// Parses a signed note and checks the signature of the key `name` with `public`.
fn open_checkpoint(note: &str, name: &str, public: &[u8; 32]) -> Result<Checkpoint, String> {
    let (text, sigs) = note
        .split_once("\n\n")
        .ok_or("no blank line between text and signatures")?;
    let text = format!("{text}\n");
    let mut key_id = name.as_bytes().to_vec();
    key_id.extend_from_slice(b"\n\x01");
    key_id.extend_from_slice(public);
    let key_id = ring::digest::digest(&ring::digest::SHA256, &key_id).as_ref()[..4].to_vec();
    let mut verified = false;
    for line in sigs.lines() {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or_else(|| format!("not a signature line: {line:?}"))?;
        let (n, b64) = rest.split_once(' ').ok_or("signature line without blob")?;
        let blob = unbase64(b64).ok_or("signature is not base64")?;
        if n != name || blob.len() != 4 + 64 || blob[..4] != key_id {
            continue;
        }
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public)
            .verify(text.as_bytes(), &blob[4..])
            .map_err(|_| "signature does not verify".to_string())?;
        verified = true;
    }
    if !sigs.ends_with('\n') || !verified {
        return Err("no valid signature by the key".into());
    }
    let mut lines = text.lines();
    let origin = lines.next().ok_or("no origin")?.to_string();
    let size = lines
        .next()
        .ok_or("no size")?
        .parse()
        .map_err(|e| format!("size: {e}"))?;
    let root = unbase64(lines.next().ok_or("no root")?).ok_or("root is not base64")?;
    if root.len() != 32 {
        return Err("root is not 32 bytes".into());
    }
    Ok(Checkpoint { origin, size, root })
}

#[test]
fn the_latest_head_as_a_checkpoint_verifies_independently() {
    let dir = tempfile::tempdir().unwrap();
    let (key, pkcs8) = SigningKey::generate().unwrap();
    let public = *key.public_key().as_bytes();
    let log = Ledger::open_signed(
        dir.path(),
        LedgerOptions::default(),
        HeadSigner {
            log_id: "011002".into(),
            key,
        },
    )
    .unwrap();
    assert_eq!(log.checkpoint("renkei.example/011002").unwrap(), None);
    for i in 0..37u32 {
        log.append_blocking(format!("record {i}").into_bytes())
            .unwrap();
    }
    log.sign_head(1).unwrap();
    let origin = "renkei.example/records/011002";
    let note = log.checkpoint(origin).unwrap().unwrap();
    let cp = open_checkpoint(&note, origin, &public).unwrap();
    assert_eq!(cp.origin, origin);
    assert_eq!(cp.size, 37);
    assert_eq!(cp.root, log.root(37).unwrap().to_vec());

    // Read offline from the directory, as `renkei ledger checkpoint` does.
    let head = renkei_ledger::read_latest_head(dir.path())
        .unwrap()
        .unwrap();
    let key = SigningKey::from_pkcs8(&pkcs8).unwrap();
    let th = renkei_crypto::verify_tree_head(&key.public_key(), &head).unwrap();
    let offline = renkei_ledger::signed_checkpoint(origin, &key, &th).unwrap();
    assert_eq!(offline, note, "Ed25519 is deterministic: the same note");

    // Altered text, another key, another name: each refused.
    let bumped = note.replacen("\n37\n", "\n38\n", 1);
    assert!(open_checkpoint(&bumped, origin, &public).is_err());
    let other = *SigningKey::generate().unwrap().0.public_key().as_bytes();
    assert!(open_checkpoint(&note, origin, &other).is_err());
    assert!(open_checkpoint(&note, "renkei.example/other", &public).is_err());
    assert!(renkei_ledger::signed_checkpoint("has space", &key, &th).is_err());
}
