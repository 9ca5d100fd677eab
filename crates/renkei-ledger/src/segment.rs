use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::merkle::{Hash, leaf_hash};
use crate::{Index, LedgerError, Location};

/// The first bytes of every segment file: the format version, so a log written in an
/// older frame format is refused by name instead of read as garbage (docs/decisions/0078).
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"RNKLOG\x00\x03";
/// `len: u32 BE ‖ seq: u64 BE ‖ leaf hash: 32 ‖ mac: 16 ‖ check: u32 BE` before each entry.
pub(crate) const HEADER: u64 = 4 + 8 + 32 + MAC_LEN as u64 + 4;
pub(crate) const MAC_LEN: usize = 16;
/// From the start of an entry back to its stored leaf hash.
pub(crate) const LEAF_BACK: u64 = 32 + MAC_LEN as u64 + 4;
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

/// The first four bytes of SHA-256 over `bytes`: enough to tell a damaged header from a
/// torn one, which is all the check is for (the entry itself is covered by its leaf hash).
pub(crate) fn check_of(bytes: &[u8]) -> [u8; 4] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 4];
    out.copy_from_slice(&d.as_ref()[..4]);
    out
}

/// The key of the per-frame authenticators (docs/decisions/0078). It is derived from the
/// keeper's signing key, which is never kept beside the log, so whoever can write to the
/// log directory still cannot append a record the ledger will accept.
pub struct FrameKey(ring::hmac::Key);

impl FrameKey {
    /// Deterministic (Ed25519 signatures are), so every open of the log derives the same
    /// key; the context string keeps the signature from ever meaning anything else.
    pub fn derive(key: &renkei_crypto::SigningKey) -> FrameKey {
        let sig = key.sign(b"renkei/v1/ledger-frame-key\0");
        let secret = ring::digest::digest(&ring::digest::SHA256, &sig);
        FrameKey(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            secret.as_ref(),
        ))
    }

    pub(crate) fn mac(&self, seq: u64, leaf: &[u8]) -> [u8; MAC_LEN] {
        let mut ctx = ring::hmac::Context::with_key(&self.0);
        ctx.update(&seq.to_be_bytes());
        ctx.update(leaf);
        let tag = ctx.sign();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&tag.as_ref()[..MAC_LEN]);
        out
    }

    pub(crate) fn accepts(&self, frame: &Frame<'_>) -> bool {
        // Compared in the clear: the forger is offline and learns nothing from timing.
        self.mac(frame.seq, frame.stored_hash).as_slice() == frame.mac
    }
}

impl std::fmt::Debug for FrameKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrameKey(..)")
    }
}

/// Appends one frame to `buf`. Without a key (a log opened unsigned) the MAC is zero,
/// which no signed open accepts after its last head.
pub(crate) fn encode_frame(
    buf: &mut Vec<u8>,
    seq: u64,
    entry: &[u8],
    key: Option<&FrameKey>,
) -> Hash {
    let hash = leaf_hash(entry);
    let start = buf.len();
    buf.extend_from_slice(&(entry.len() as u32).to_be_bytes());
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(&hash);
    buf.extend_from_slice(&key.map_or([0u8; MAC_LEN], |k| k.mac(seq, &hash)));
    let check = check_of(&buf[start..]);
    buf.extend_from_slice(&check);
    buf.extend_from_slice(entry);
    hash
}

/// One frame as read from a segment.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub(crate) seq: u64,
    pub(crate) stored_hash: &'a [u8],
    pub(crate) mac: &'a [u8],
    pub(crate) entry: &'a [u8],
}

/// What lies at an offset of a segment.
#[derive(Debug)]
pub(crate) enum At<'a> {
    /// A whole frame whose header checks, and where the next one starts.
    Frame(Frame<'a>, usize),
    /// The bytes end inside this frame: a torn write if nothing follows, which is the
    /// only place it can be (a length that checks cannot point anywhere else).
    Short,
    /// The header does not check: a damaged length, sequence number, hash or MAC.
    Damaged(String),
}

/// The frame at `off`. A header is trusted only once its check matches, so a damaged
/// length can never pass for a torn write.
pub(crate) fn frame_at(bytes: &[u8], off: usize) -> At<'_> {
    let Some(h) = off
        .checked_add(HEADER as usize)
        .and_then(|end| bytes.get(off..end))
    else {
        return At::Short;
    };
    let body = HEADER as usize - 4;
    if check_of(&h[..body]) != h[body..] {
        return At::Damaged(
            "the frame header does not match its checksum: its length, sequence number, leaf hash or authenticator was damaged".into(),
        );
    }
    let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
    if len > MAX_ENTRY {
        return At::Damaged(format!("frame claims an entry of {len} bytes"));
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&h[4..12]);
    let start = off + HEADER as usize;
    let Some(entry) = bytes.get(start..start + len) else {
        return At::Short;
    };
    At::Frame(
        Frame {
            seq: u64::from_be_bytes(seq),
            stored_hash: &h[12..44],
            mac: &h[44..44 + MAC_LEN],
            entry,
        },
        start + len,
    )
}

/// Checks a segment's format version. `Ok(None)`: too short to hold one (a segment
/// created by a crash before its first write).
pub(crate) fn check_magic(bytes: &[u8]) -> Result<Option<usize>, String> {
    match bytes.get(..SEGMENT_MAGIC.len()) {
        None if SEGMENT_MAGIC.starts_with(bytes) => Ok(None),
        Some(m) if m == SEGMENT_MAGIC => Ok(Some(SEGMENT_MAGIC.len())),
        Some(m) if m.starts_with(b"RNKLOG\x00") => Err(format!(
            "segment format version {} (this build reads version {} only)",
            m[7], SEGMENT_MAGIC[7]
        )),
        _ => Err(format!(
            "not a segment of format version {}: a log written before docs/decisions/0078 (frames without checksums), or not a record log; it cannot be read by this build",
            SEGMENT_MAGIC[7]
        )),
    }
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

/// An incomplete final frame: a write cut by a crash, never acknowledged.
#[derive(Debug, Clone)]
pub(crate) struct TornTail {
    pub(crate) path: PathBuf,
    pub(crate) offset: u64,
    pub(crate) bytes: u64,
}

/// What [`recover`] found, before anything on disk is changed.
#[derive(Debug)]
pub(crate) struct Scan {
    pub(crate) index: Index,
    pub(crate) torn: Option<TornTail>,
    /// Segments wholly before the purge point, which an interrupted purge left.
    pub(crate) leftover: Vec<PathBuf>,
}

impl Scan {
    /// Makes the disk match the scan: cuts the torn tail (logged with where and how
    /// much) and deletes what a purge left. Called only once every check has passed.
    pub(crate) fn apply(&self) -> Result<(), LedgerError> {
        if let Some(t) = &self.torn {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&t.path)
                .map_err(io(&t.path))?;
            f.set_len(t.offset).map_err(io(&t.path))?;
            f.sync_all().map_err(io(&t.path))?;
            tracing::warn!(
                file = %t.path.display(),
                offset = t.offset,
                bytes = t.bytes,
                "record log: cut an incomplete final frame (a write interrupted by a crash, never acknowledged)"
            );
        }
        for path in &self.leftover {
            std::fs::remove_file(path).map_err(io(path))?;
        }
        Ok(())
    }
}

/// Scans every segment in order, rebuilding the index and the tree, and changes nothing
/// on disk. One incomplete final frame in the last segment is a torn write (reported in
/// [`Scan::torn`]); anything else that fails is corruption, named by file and offset.
/// With `auth`, every record from `auth.1` on must carry a valid MAC under `auth.0`.
pub(crate) fn recover(dir: &Path, auth: Option<(&FrameKey, u64)>) -> Result<Scan, LedgerError> {
    let mut names = list_segments(dir)?;
    let mut index = Index::default();
    let mut leftover = Vec::new();
    if let Some(p) = crate::purge::read_latest(dir)? {
        let path = dir.join(crate::purge::PURGED_FILE);
        index.tree = crate::merkle::Tree::seeded(&p).map_err(|reason| LedgerError::Corrupt {
            path,
            offset: 0,
            reason,
        })?;
        index.base = p.upto;
        index.purged_tail = p.tail;
        let (gone, kept): (Vec<_>, Vec<_>) = names.into_iter().partition(|(s, _)| *s < p.upto);
        leftover = gone.into_iter().map(|(_, p)| p).collect();
        names = kept;
    }
    let mut torn = None;
    let mut unauthenticated: Option<(PathBuf, u64, u64)> = None;
    let mut unauthenticated_count = 0u64;
    let count = names.len();
    for (i, (first_seq, path)) in names.into_iter().enumerate() {
        let last = i + 1 == count;
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
        let corrupt = |offset: usize, reason: String| LedgerError::Corrupt {
            path: path.clone(),
            offset: offset as u64,
            reason,
        };
        let mut off = match check_magic(&bytes) {
            Ok(Some(n)) => n,
            Ok(None) if last => {
                // Created, then the crash came before its first frame was written.
                torn = Some(TornTail {
                    path: path.clone(),
                    offset: 0,
                    bytes: bytes.len() as u64,
                });
                index.segments.push(path);
                break;
            }
            Ok(None) => return Err(corrupt(0, "a sealed segment is empty".into())),
            Err(reason) => return Err(corrupt(0, reason)),
        };
        let seg = index.segments.len() as u32;
        while off < bytes.len() {
            let (frame, next) = match frame_at(&bytes, off) {
                At::Frame(f, next) => (f, next),
                At::Short if last => {
                    torn = Some(TornTail {
                        path: path.clone(),
                        offset: off as u64,
                        bytes: (bytes.len() - off) as u64,
                    });
                    break;
                }
                At::Short => {
                    return Err(corrupt(
                        off,
                        "frame runs past the end of a sealed segment".into(),
                    ));
                }
                At::Damaged(reason) => {
                    return Err(corrupt(off, format!("record {}: {reason}", index.len())));
                }
            };
            let expected = index.len();
            if frame.seq != expected {
                return Err(corrupt(
                    off,
                    format!("frame holds record {} where {expected} belongs", frame.seq),
                ));
            }
            let hash = leaf_hash(frame.entry);
            if frame.stored_hash != hash {
                return Err(corrupt(
                    off,
                    format!("record {expected}: leaf hash does not match the entry"),
                ));
            }
            if let Some((key, from)) = auth
                && expected >= from
                && !key.accepts(&frame)
            {
                unauthenticated_count += 1;
                if unauthenticated.is_none() {
                    unauthenticated = Some((path.clone(), off as u64, expected));
                }
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
    if let Some((path, offset, record)) = unauthenticated {
        return Err(LedgerError::Unauthenticated {
            path,
            offset,
            record,
            count: unauthenticated_count,
        });
    }
    Ok(Scan {
        index,
        torn,
        leftover,
    })
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
            f.read_exact_at(&mut h, loc.offset - LEAF_BACK)
                .map_err(io(path))?;
            Ok(h)
        })
        .collect()
}
