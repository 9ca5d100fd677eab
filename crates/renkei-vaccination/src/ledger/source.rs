//! Opening a ledger file as UTF-8 bytes, whatever encoding it was written in.

use std::path::Path;

use super::ReadOptions;
use crate::VaccinationError;
use crate::text::{TextEncoding, read_text};

/// Opens a ledger file as UTF-8 bytes (BOM skipped, Shift_JIS decoded), with the
/// encoding it was read as.
pub(super) fn open_ledger(
    path: &Path,
    opts: &ReadOptions,
) -> Result<(Box<dyn std::io::Read + Send>, TextEncoding), VaccinationError> {
    let enc = match opts.encoding {
        TextEncoding::Auto => {
            let mut head = vec![0u8; 64 * 1024];
            let n = std::fs::File::open(path)
                .and_then(|mut f| read_up_to(&mut f, &mut head))
                .map_err(|e| VaccinationError::io(path, e))?;
            head.truncate(n);
            if crate::text::looks_utf8(&head) {
                TextEncoding::Utf8
            } else {
                TextEncoding::ShiftJis
            }
        }
        e => e,
    };
    if enc == TextEncoding::ShiftJis {
        let (text, enc) = read_text(path, enc)?;
        Ok((Box::new(std::io::Cursor::new(text)), enc))
    } else {
        let f = std::fs::File::open(path).map_err(|e| VaccinationError::io(path, e))?;
        let mut r = std::io::BufReader::with_capacity(1 << 20, f);
        skip_bom(&mut r).map_err(|e| VaccinationError::io(path, e))?;
        Ok((Box::new(r), enc))
    }
}

fn read_up_to(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn skip_bom(r: &mut impl std::io::BufRead) -> std::io::Result<()> {
    if r.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        r.consume(3);
    }
    Ok(())
}
