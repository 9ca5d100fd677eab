//! Signed tree heads, kept next to the segments in `heads.log` so that an auditor with
//! only the log directory and the keeper's public key can check them offline.
//!
//! File: [`HEADS_MAGIC`] (the format version), then frames `len: u32 BE ‖ check: 4 ‖
//! SignedTreeHead (protobuf)`, where `check` is the first 4 bytes of SHA-256 of `len`. The
//! content is signed; the check exists so that a damaged length is told apart from a head
//! cut short by a crash, which is the only frame ever cut on open.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use prost::Message as _;
use renkei_proto::v1::{SignedTreeHead, TreeHead};

use crate::LedgerError;
use crate::segment::{TornTail, check_of, io};

pub(crate) const HEADS_FILE: &str = "heads.log";
pub(crate) const HEADS_MAGIC: &[u8; 8] = b"RNKHDS\x00\x03";
const FRAME_HEADER: usize = 8;
const MAX_HEAD: usize = 64 * 1024;

/// How a heads file ends.
#[derive(Debug, Clone)]
pub(crate) enum End {
    Clean,
    /// One incomplete final frame: a head whose signing was cut by a crash, never
    /// returned to anyone.
    Torn(TornTail),
    /// Something that is not a torn write, at `offset`.
    Damaged {
        offset: u64,
        reason: String,
    },
}

/// Every head of a heads file, with where its frame starts.
#[derive(Debug)]
pub(crate) struct HeadsFile {
    pub(crate) exists: bool,
    pub(crate) heads: Vec<(u64, SignedTreeHead)>,
    pub(crate) end: End,
}

/// Reads a heads file without changing it. A missing file reads as empty.
pub(crate) fn read_heads(path: &Path) -> Result<HeadsFile, LedgerError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(HeadsFile {
                exists: false,
                heads: Vec::new(),
                end: End::Clean,
            });
        }
        Err(e) => return Err(io(path)(e)),
    };
    let mut heads = Vec::new();
    let torn = |offset: usize| {
        End::Torn(TornTail {
            path: path.to_owned(),
            offset: offset as u64,
            bytes: (bytes.len() - offset) as u64,
        })
    };
    let end = 'scan: {
        match bytes.get(..HEADS_MAGIC.len()) {
            None if HEADS_MAGIC.starts_with(&bytes) => {
                break 'scan if bytes.is_empty() {
                    End::Clean
                } else {
                    torn(0)
                };
            }
            Some(m) if m == HEADS_MAGIC => {}
            _ => {
                break 'scan End::Damaged {
                    offset: 0,
                    reason: format!(
                        "not a heads file of format version {}: written before docs/decisions/0078, or not a heads file",
                        HEADS_MAGIC[7]
                    ),
                };
            }
        }
        let mut off = HEADS_MAGIC.len();
        while off < bytes.len() {
            let Some(h) = bytes.get(off..off + FRAME_HEADER) else {
                break 'scan torn(off);
            };
            if check_of(&h[..4]) != h[4..] {
                break 'scan End::Damaged {
                    offset: off as u64,
                    reason: format!(
                        "the frame of signed tree head #{} is damaged: its length prefix does not match its checksum",
                        heads.len()
                    ),
                };
            }
            let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
            if len > MAX_HEAD {
                break 'scan End::Damaged {
                    offset: off as u64,
                    reason: format!("tree head frame of {len} bytes"),
                };
            }
            let start = off + FRAME_HEADER;
            let Some(body) = bytes.get(start..start + len) else {
                break 'scan torn(off);
            };
            match SignedTreeHead::decode(body) {
                Ok(head) => heads.push((off as u64, head)),
                Err(e) => {
                    break 'scan End::Damaged {
                        offset: off as u64,
                        reason: format!("signed tree head #{} does not decode: {e}", heads.len()),
                    };
                }
            }
            off = start + len;
        }
        End::Clean
    };
    Ok(HeadsFile {
        exists: true,
        heads,
        end,
    })
}

pub(crate) fn decode_head(
    path: &Path,
    offset: u64,
    signed: &SignedTreeHead,
) -> Result<TreeHead, LedgerError> {
    TreeHead::decode(signed.tree_head.as_slice()).map_err(|e| LedgerError::Corrupt {
        path: path.to_owned(),
        offset,
        reason: format!("tree head does not decode: {e}"),
    })
}

fn encode(signed: &SignedTreeHead) -> Vec<u8> {
    let body = signed.encode_to_vec();
    let len = (body.len() as u32).to_be_bytes();
    let mut buf = Vec::with_capacity(body.len() + FRAME_HEADER);
    buf.extend_from_slice(&len);
    buf.extend_from_slice(&check_of(&len));
    buf.extend_from_slice(&body);
    buf
}

/// The heads file as found on open, before anything on disk changes.
#[derive(Debug)]
pub(crate) struct HeadsScan {
    path: PathBuf,
    torn: Option<TornTail>,
    /// The latest head and where its frame starts.
    pub(crate) latest: Option<(SignedTreeHead, TreeHead, u64)>,
}

impl HeadsScan {
    pub(crate) fn read(dir: &Path) -> Result<HeadsScan, LedgerError> {
        let path = dir.join(HEADS_FILE);
        let file = read_heads(&path)?;
        let torn = match file.end {
            End::Clean => None,
            End::Torn(t) => Some(t),
            End::Damaged { offset, reason } => {
                return Err(LedgerError::Corrupt {
                    path,
                    offset,
                    reason,
                });
            }
        };
        let latest = match file.heads.into_iter().last() {
            Some((off, h)) => {
                let th = decode_head(&path, off, &h)?;
                Some((h, th, off))
            }
            None => None,
        };
        Ok(HeadsScan { path, torn, latest })
    }

    /// Cuts a torn final head (logged) and opens the file for appending.
    pub(crate) fn open(self) -> Result<Heads, LedgerError> {
        let path = self.path;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        if let Some(t) = &self.torn {
            file.set_len(t.offset).map_err(io(&path))?;
            file.sync_all().map_err(io(&path))?;
            tracing::warn!(
                file = %path.display(),
                offset = t.offset,
                bytes = t.bytes,
                "record log: cut an incomplete final tree head (signing interrupted by a crash)"
            );
        }
        if file.metadata().map_err(io(&path))?.len() == 0 {
            file.write_all(HEADS_MAGIC)
                .and_then(|()| file.sync_data())
                .map_err(io(&path))?;
        }
        Ok(Heads {
            path,
            file,
            latest: self.latest.map(|(s, h, _)| (s, h)),
        })
    }
}

/// The appendable heads file and the latest head.
#[derive(Debug)]
pub(crate) struct Heads {
    path: PathBuf,
    file: File,
    pub(crate) latest: Option<(SignedTreeHead, TreeHead)>,
}

impl Heads {
    pub(crate) fn append(
        &mut self,
        signed: SignedTreeHead,
        head: TreeHead,
    ) -> Result<(), LedgerError> {
        self.file
            .write_all(&encode(&signed))
            .map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))?;
        self.latest = Some((signed, head));
        Ok(())
    }
}
