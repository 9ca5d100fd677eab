//! Character encodings met in municipal exports: UTF-8 with or without a BOM, and
//! Shift_JIS (strictly, Microsoft's code page 932, which is what Windows tools write).

use std::io::Read;
use std::path::Path;

use crate::VaccinationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextEncoding {
    /// UTF-8 (a BOM is skipped) when the bytes are valid UTF-8, Shift_JIS otherwise.
    #[default]
    Auto,
    Utf8,
    ShiftJis,
}

impl std::str::FromStr for TextEncoding {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "auto" => Ok(TextEncoding::Auto),
            "utf8" | "utf_8" => Ok(TextEncoding::Utf8),
            "shift_jis" | "sjis" | "cp932" | "windows_31j" => Ok(TextEncoding::ShiftJis),
            _ => Err(format!(
                "unknown encoding {s:?}: use auto, utf-8 or shift_jis"
            )),
        }
    }
}

/// The whole file as UTF-8 bytes with any BOM removed, and the encoding it was read as.
///
/// Bytes that are not valid in the chosen encoding do not fail the file: they become
/// U+FFFD and the row holding them is reported by the reader, so the other rows go ahead.
pub fn read_text(
    path: &Path,
    enc: TextEncoding,
) -> Result<(Vec<u8>, TextEncoding), VaccinationError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| VaccinationError::io(path, e))?;
    Ok(decode(bytes, enc))
}

pub fn decode(bytes: Vec<u8>, enc: TextEncoding) -> (Vec<u8>, TextEncoding) {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let enc = match enc {
        TextEncoding::Auto if bytes.starts_with(BOM) => TextEncoding::Utf8,
        TextEncoding::Auto if std::str::from_utf8(&bytes).is_ok() => TextEncoding::Utf8,
        TextEncoding::Auto => TextEncoding::ShiftJis,
        e => e,
    };
    match enc {
        TextEncoding::ShiftJis => {
            let (text, _) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(&bytes);
            (text.into_owned().into_bytes(), enc)
        }
        _ => {
            let mut bytes = bytes;
            if bytes.starts_with(BOM) {
                bytes.drain(..BOM.len());
            }
            (bytes, enc)
        }
    }
}

/// Whether the start of a file is UTF-8: a BOM, or valid UTF-8 up to a possibly cut last
/// character.
pub fn looks_utf8(head: &[u8]) -> bool {
    if head.starts_with(b"\xEF\xBB\xBF") {
        return true;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    }
}

/// Encodes UTF-8 text as Shift_JIS, for writing exports a Shift_JIS system reads. Fails
/// on a character Shift_JIS cannot hold rather than writing a substitute.
pub fn encode_shift_jis(text: &str) -> Result<Vec<u8>, VaccinationError> {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    if unmappable {
        return Err(VaccinationError::Invalid(
            "the text holds characters that Shift_JIS cannot represent".into(),
        ));
    }
    Ok(bytes.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_bom_utf8_and_shift_jis() {
        let (t, e) = decode(b"\xEF\xBB\xBFabc".to_vec(), TextEncoding::Auto);
        assert_eq!((t.as_slice(), e), (&b"abc"[..], TextEncoding::Utf8));
        let sjis = encode_shift_jis("予防接種").unwrap();
        assert!(std::str::from_utf8(&sjis).is_err());
        let (t, e) = decode(sjis, TextEncoding::Auto);
        assert_eq!(e, TextEncoding::ShiftJis);
        assert_eq!(String::from_utf8(t).unwrap(), "予防接種");
        assert!(encode_shift_jis("🙂").is_err());
    }

    #[test]
    fn a_utf8_head_cut_inside_a_character_is_still_utf8() {
        let text = "予防接種".as_bytes();
        assert!(looks_utf8(&text[..text.len() - 1]));
        assert!(looks_utf8(b"\xEF\xBB\xBFabc"));
        assert!(!looks_utf8(&encode_shift_jis("予防接種の記録").unwrap()));
    }
}
