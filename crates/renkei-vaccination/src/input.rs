//! Choosing the reader of a records file: the 予防接種台帳 CSV or a FHIR R4 bundle. Both give
//! the same [`ReadReport`]: the persons of the good records and one error per bad one.

use std::io::Read as _;
use std::path::Path;

use crate::VaccinationError;
use crate::ledger::{ReadOptions, ReadReport, read_ledger};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// FHIR for a `.json` file or one whose first character is `{`, CSV otherwise.
    #[default]
    Auto,
    Csv,
    Fhir,
}

impl std::str::FromStr for InputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(InputFormat::Auto),
            "csv" => Ok(InputFormat::Csv),
            "fhir" | "json" => Ok(InputFormat::Fhir),
            _ => Err(format!("unknown input format {s:?}: use auto, csv or fhir")),
        }
    }
}

impl std::fmt::Display for InputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InputFormat::Auto => "auto",
            InputFormat::Csv => "CSV",
            InputFormat::Fhir => "FHIR",
        })
    }
}

/// The format a file will be read as: `Csv` or `Fhir`, never `Auto`. A ledger CSV starts
/// with its header row, never with `{`, so the first character tells them apart when the
/// name does not.
pub fn resolve(path: &Path, format: InputFormat) -> Result<InputFormat, VaccinationError> {
    if format != InputFormat::Auto {
        return Ok(format);
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        return Ok(InputFormat::Fhir);
    }
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| VaccinationError::Io {
            path: path.into(),
            source: e,
        })?;
    let head = &head[..n];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    Ok(match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => InputFormat::Fhir,
        _ => InputFormat::Csv,
    })
}

/// Reads a records file whole, in the given format (or the one [`resolve`] picks), and
/// says which format it was read as.
pub fn read_records(
    path: &Path,
    format: InputFormat,
    opts: &ReadOptions,
) -> Result<(ReadReport, InputFormat), VaccinationError> {
    let format = resolve(path, format)?;
    let report = match format {
        InputFormat::Fhir => crate::fhir::read_fhir(path, opts)?,
        _ => read_ledger(path, opts)?,
    };
    Ok((report, format))
}
