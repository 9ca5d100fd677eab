use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::merkle::{Hash, leaf_hash};
use crate::{Index, LedgerError, Location};

/// `len: u32 BE ‖ seq: u64 BE ‖ leaf hash: 32 bytes` before each entry.
pub(crate) const HEADER: u64 = 4 + 8 + 32;
pub(crate) const MAX_ENTRY: usize = 16 * 1024 * 1024;

pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("seg-{first_seq:016x}.log")
}

/// The first sequence number a segment file name claims, if it is a segment.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("seg-")?.strip_suffix(".log")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Appends one frame to `buf`.
pub(crate) fn encode_frame(buf: &mut Vec<u8>, seq: u64, entry: &[u8]) -> Hash {
    let hash = leaf_hash(entry);
    buf.extend_from_slice(&(entry.len() as u32).to_be_bytes());
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(&hash);
    buf.extend_from_slice(entry);
    hash
}

/// One frame as read from a segment.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub(crate) seq: u64,
    pub(crate) stored_hash: &'a [u8],
    pub(crate) entry: &'a [u8],
}

/// The frame at `off`, or `None` if the bytes end before it does (a torn write).
pub(crate) fn frame_at(bytes: &[u8], off: usize) -> Option<(Frame<'_>, usize)> {
    let h = bytes.get(off..off.checked_add(HEADER as usize)?)?;
    let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&h[4..12]);
    let start = off + HEADER as usize;
    let entry = bytes.get(start..start.checked_add(len)?)?;
    Some((
        Frame {
            seq: u64::from_be_bytes(seq),
            stored_hash: &h[12..44],
            entry,
        },
        start + len,
    ))
}

/// Segment files of `dir`, ordered by the first sequence number in their names.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LedgerError> {
    let mut names: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            Some((parse_segment_name(&name)?, e.path()))
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Scans every segment in order, rebuilding the index and the tree. A short final frame
/// in the last segment is a torn write and is truncated away; anything else that fails
/// is corruption.
pub(crate) fn recover(dir: &Path) -> Result<Index, LedgerError> {
    let mut names = list_segments(dir)?;
    let mut index = Index::default();
    if let Some(p) = crate::purge::read_latest(dir)? {
        let path = dir.join(crate::purge::PURGED_FILE);
        index.tree = crate::merkle::Tree::seeded(&p).map_err(|reason| LedgerError::Corrupt {
            path,
            offset: 0,
            reason,
        })?;
        index.base = p.upto;
        index.purged_tail = p.tail;
        // Segments wholly before the purge point are what an interrupted purge left.
        let (gone, kept): (Vec<_>, Vec<_>) = names.into_iter().partition(|(s, _)| *s < p.upto);
        for (_, path) in gone {
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
        names = kept;
    }
    let count = names.len();
    for (i, (first_seq, path)) in names.into_iter().enumerate() {
        if first_seq != index.len() {
            return Err(LedgerError::Corrupt {
                path,
                offset: 0,
                reason: format!(
                    "segment starts at record {first_seq} but the log so far has {} records",
                    index.len()
                ),
            });
        }
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let seg = index.segments.len() as u32;
        let mut off = 0usize;
        while off < bytes.len() {
            let Some((frame, next)) = frame_at(&bytes, off) else {
                if i + 1 == count {
                    // Torn tail: cut it off so the next append starts on a frame boundary.
                    let f = std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(io(&path))?;
                    f.set_len(off as u64).map_err(io(&path))?;
                    f.sync_all().map_err(io(&path))?;
                    break;
                }
                return Err(LedgerError::Corrupt {
                    path,
                    offset: off as u64,
                    reason: "frame runs past the end of a sealed segment".into(),
                });
            };
            let expected = index.len();
            if frame.seq != expected {
                return Err(LedgerError::Corrupt {
                    path,
                    offset: off as u64,
                    reason: format!("frame holds record {} where {expected} belongs", frame.seq),
                });
            }
            let hash = leaf_hash(frame.entry);
            if frame.stored_hash != hash {
                return Err(LedgerError::Corrupt {
                    path,
                    offset: off as u64,
                    reason: format!("record {expected}: leaf hash does not match the entry"),
                });
            }
            index.entries.push(Location {
                segment: seg,
                offset: off as u64 + HEADER,
                len: frame.entry.len() as u32,
            });
            index.tree.push(hash);
            off = next;
        }
        index.segments.push(path);
    }
    Ok(index)
}

pub(crate) fn read_entry(path: &Path, offset: u64, len: u32) -> Result<Vec<u8>, LedgerError> {
    use std::io::{Seek, SeekFrom};
    let mut f = File::open(path).map_err(io(path))?;
    f.seek(SeekFrom::Start(offset)).map_err(io(path))?;
    let mut buf = vec![0u8; len as usize];
    f.read_exact(&mut buf).map_err(io(path))?;
    Ok(buf)
}

/// The stored leaf hashes of `locs`, which all lie in `path`.
pub(crate) fn read_leaf_hashes(path: &Path, locs: &[Location]) -> Result<Vec<Hash>, LedgerError> {
    use std::os::unix::fs::FileExt as _;
    let f = File::open(path).map_err(io(path))?;
    locs.iter()
        .map(|loc| {
            let mut h = [0u8; 32];
            f.read_exact_at(&mut h, loc.offset - 32).map_err(io(path))?;
            Ok(h)
        })
        .collect()
}
