//! Signed tree heads, kept next to the segments in `heads.log` so that an auditor with
//! only the log directory and the keeper's public key can check them offline.
//!
//! Frame: `len: u32 BE ‖ SignedTreeHead (protobuf)`. The content is signed, so the file
//! needs no checksum of its own; a frame cut short by a crash is truncated on open.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use prost::Message as _;
use renkei_proto::v1::{SignedTreeHead, TreeHead};

use crate::LedgerError;
use crate::segment::io;

pub(crate) const HEADS_FILE: &str = "heads.log";
const MAX_HEAD: usize = 64 * 1024;

/// Parses every complete frame of a heads file. Returns the heads and the length of the
/// valid prefix (anything after it is a torn write).
pub(crate) fn read_heads(path: &Path) -> Result<(Vec<SignedTreeHead>, u64), LedgerError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(io(path)(e)),
    };
    let mut heads = Vec::new();
    let mut off = 0usize;
    while let Some(h) = bytes.get(off..off + 4) {
        let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len > MAX_HEAD {
            return Err(LedgerError::Corrupt {
                path: path.to_owned(),
                offset: off as u64,
                reason: format!("tree head frame of {len} bytes"),
            });
        }
        let Some(body) = bytes.get(off + 4..off + 4 + len) else {
            break;
        };
        let head = SignedTreeHead::decode(body).map_err(|e| LedgerError::Corrupt {
            path: path.to_owned(),
            offset: off as u64,
            reason: format!("tree head {} does not decode: {e}", heads.len()),
        })?;
        heads.push(head);
        off += 4 + len;
    }
    Ok((heads, off as u64))
}

pub(crate) fn decode_head(path: &Path, signed: &SignedTreeHead) -> Result<TreeHead, LedgerError> {
    TreeHead::decode(signed.tree_head.as_slice()).map_err(|e| LedgerError::Corrupt {
        path: path.to_owned(),
        offset: 0,
        reason: format!("tree head does not decode: {e}"),
    })
}

/// The appendable heads file and the latest head.
#[derive(Debug)]
pub(crate) struct Heads {
    path: PathBuf,
    file: File,
    pub(crate) latest: Option<(SignedTreeHead, TreeHead)>,
}

impl Heads {
    pub(crate) fn open(dir: &Path) -> Result<Heads, LedgerError> {
        let path = dir.join(HEADS_FILE);
        let (heads, valid) = read_heads(&path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        let len = file.metadata().map_err(io(&path))?.len();
        if len > valid {
            file.set_len(valid).map_err(io(&path))?;
            file.sync_all().map_err(io(&path))?;
        }
        let latest = match heads.into_iter().last() {
            Some(h) => {
                let th = decode_head(&path, &h)?;
                Some((h, th))
            }
            None => None,
        };
        Ok(Heads { path, file, latest })
    }

    pub(crate) fn append(
        &mut self,
        signed: SignedTreeHead,
        head: TreeHead,
    ) -> Result<(), LedgerError> {
        let body = signed.encode_to_vec();
        let mut buf = Vec::with_capacity(body.len() + 4);
        buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
        buf.extend_from_slice(&body);
        self.file.write_all(&buf).map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))?;
        self.latest = Some((signed, head));
        Ok(())
    }
}
