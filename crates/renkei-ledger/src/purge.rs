//! Retention: whole segments of expired records are deleted, and the log stays verifiable.
//!
//! Before segments go, `purged.log` records the purge point P (the first record kept) and
//! what the tree needs of everything before it: the hashes of the complete subtrees that
//! make up `[0, ⌊P/16⌋·16)` (one per set bit, at most 60) and the ≤ 15 leaf hashes from
//! there to P. From these the tree's root at any size ≥ P, and every proof about a kept
//! record, can still be computed; any later signed head authenticates them. Signed heads
//! are never purged.
//!
//! Frame: `len: u32 BE ‖ P: u64 BE ‖ n: u32 BE ‖ n × 32 ‖ t: u32 BE ‖ t × 32`. Crash
//! safety: the frame is fsynced before any segment is deleted, and a segment wholly before
//! the latest P found on open is the remainder of an interrupted purge and is deleted.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;

use crate::LedgerError;
use crate::merkle::Hash;
use crate::segment::io;

pub(crate) const PURGED_FILE: &str = "purged.log";

/// The latest purge point and the hashes that stand in for what it removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PurgePoint {
    /// The first record kept.
    pub(crate) upto: u64,
    /// Complete subtrees covering `[0, upto & !15)`, largest first.
    pub(crate) blocks: Vec<Hash>,
    /// Leaf hashes of `[upto & !15, upto)`.
    pub(crate) tail: Vec<Hash>,
}

fn hashes(b: &[u8], off: &mut usize) -> Option<Vec<Hash>> {
    let n = u32::from_be_bytes(b.get(*off..*off + 4)?.try_into().ok()?) as usize;
    *off += 4;
    let mut out = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        out.push(b.get(*off..*off + 32)?.try_into().ok()?);
        *off += 32;
    }
    Some(out)
}

fn decode(body: &[u8]) -> Option<PurgePoint> {
    let upto = u64::from_be_bytes(body.get(0..8)?.try_into().ok()?);
    let mut off = 8;
    let blocks = hashes(body, &mut off)?;
    let tail = hashes(body, &mut off)?;
    (off == body.len()).then_some(PurgePoint { upto, blocks, tail })
}

/// The latest complete purge point in `dir`, if the log was ever purged.
pub(crate) fn read_latest(dir: &Path) -> Result<Option<PurgePoint>, LedgerError> {
    let path = dir.join(PURGED_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    let mut latest = None;
    let mut off = 0usize;
    while let Some(h) = bytes.get(off..off + 4) {
        let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let Some(body) = bytes.get(off + 4..off + 4 + len) else {
            break; // torn: the purge it describes never deleted anything
        };
        latest = Some(decode(body).ok_or_else(|| LedgerError::Corrupt {
            path: path.clone(),
            offset: off as u64,
            reason: "purge record does not decode".into(),
        })?);
        off += 4 + len;
    }
    Ok(latest)
}

pub(crate) fn append(dir: &Path, p: &PurgePoint) -> Result<(), LedgerError> {
    let path = dir.join(PURGED_FILE);
    let mut body = Vec::with_capacity(16 + 32 * (p.blocks.len() + p.tail.len()));
    body.extend_from_slice(&p.upto.to_be_bytes());
    for list in [&p.blocks, &p.tail] {
        body.extend_from_slice(&(list.len() as u32).to_be_bytes());
        for h in list.iter() {
            body.extend_from_slice(h);
        }
    }
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io(&path))?;
    f.write_all(&frame).map_err(io(&path))?;
    f.sync_data().map_err(io(&path))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}
