use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{Index, LedgerError, Location};

pub(crate) const HEADER: u64 = 4 + 32;
pub(crate) const MAX_ENTRY: usize = 16 * 1024 * 1024;

/// RFC 9162 leaf hash: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&[0]);
    ctx.update(entry);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("seg-{first_seq:016x}.log")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Scans every segment in order, rebuilding the index. A short final frame in the last
/// segment is a torn write and is truncated away; anything else that fails is corruption.
pub(crate) fn recover(dir: &Path) -> Result<Index, LedgerError> {
    let mut names: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let hex = name.strip_prefix("seg-")?.strip_suffix(".log")?;
            Some((u64::from_str_radix(hex, 16).ok()?, e.path()))
        })
        .collect();
    names.sort();
    let mut index = Index::default();
    let count = names.len();
    for (i, (first_seq, path)) in names.into_iter().enumerate() {
        if first_seq != index.entries.len() as u64 {
            return Err(LedgerError::Corrupt {
                path,
                offset: 0,
                reason: format!(
                    "segment starts at record {first_seq} but the log so far has {} records",
                    index.entries.len()
                ),
            });
        }
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let seg = index.segments.len() as u32;
        let mut off = 0usize;
        while off < bytes.len() {
            let header = bytes.get(off..off + HEADER as usize);
            let frame = header.and_then(|h| {
                let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
                bytes
                    .get(off + HEADER as usize..off + HEADER as usize + len)
                    .map(|e| (h, e, len))
            });
            let Some((h, entry, len)) = frame else {
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
            if h[4..36] != leaf_hash(entry) {
                return Err(LedgerError::Corrupt {
                    path,
                    offset: off as u64,
                    reason: "leaf hash does not match the entry".into(),
                });
            }
            index.entries.push(Location {
                segment: seg,
                offset: off as u64 + HEADER,
                len: len as u32,
            });
            off += HEADER as usize + len;
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
