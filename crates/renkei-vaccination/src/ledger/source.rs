//! Opening a ledger file as UTF-8 bytes, whatever encoding it was written in.

use std::path::Path;

use super::ReadOptions;
use crate::VaccinationError;
use crate::text::TextEncoding;

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
        // Decoded as it is read, a buffer at a time: a city's Shift_JIS export is as large
        // as its UTF-8 one, and holding it whole (raw and decoded) cost twice its size.
        // Invalid bytes become U+FFFD, which the row reader reports with the row's line.
        let f = std::fs::File::open(path).map_err(|e| VaccinationError::io(path, e))?;
        let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(Some(encoding_rs::SHIFT_JIS))
            .build_with_buffer(f, vec![0u8; 1 << 20])
            .map_err(|e| VaccinationError::io(path, e))?;
        Ok((
            Box::new(std::io::BufReader::with_capacity(1 << 20, decoded)),
            enc,
        ))
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
