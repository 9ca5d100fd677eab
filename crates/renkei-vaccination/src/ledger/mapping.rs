//! The mapping file (宛名番号,統合宛名番号), for ledgers keyed by the system's own number.

use std::collections::HashMap;
use std::path::Path;

use renkei_core::UnifiedAddressNumber;

use super::{COL_LOCAL, COL_UAN};
use crate::text::{TextEncoding, read_text};
use crate::{RowError, VaccinationError};

/// Reads a mapping file (宛名番号,統合宛名番号) into a map.
pub fn read_mapping(
    path: &Path,
    enc: TextEncoding,
) -> Result<(HashMap<String, String>, Vec<RowError>), VaccinationError> {
    let (text, _) = read_text(path, enc)?;
    let file = path.display().to_string();
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_slice());
    let headers = rdr
        .headers()
        .map_err(|e| VaccinationError::Format {
            path: path.into(),
            reason: e.to_string(),
        })?
        .clone();
    let pos = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(li), Some(ui)) = (pos(COL_LOCAL), pos(COL_UAN)) else {
        return Err(VaccinationError::Format {
            path: path.into(),
            reason: format!("a mapping file needs the columns {COL_LOCAL} and {COL_UAN}"),
        });
    };
    let mut map = HashMap::new();
    let mut errors = Vec::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(RowError {
                    person: None,
                    file: file.clone(),
                    line: e.position().map_or(0, |p| p.line()),
                    entry: None,
                    column: None,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        let local = rec.get(li).unwrap_or("").trim();
        let uan = rec.get(ui).unwrap_or("").trim();
        if local.is_empty() {
            errors.push(RowError {
                person: None,
                file: file.clone(),
                line,
                entry: None,
                column: Some(COL_LOCAL.into()),
                reason: "is empty".into(),
            });
            continue;
        }
        if let Err(e) = UnifiedAddressNumber::parse(uan) {
            errors.push(RowError {
                person: None,
                file: file.clone(),
                line,
                entry: None,
                column: Some(COL_UAN.into()),
                reason: e.to_string(),
            });
            continue;
        }
        map.insert(local.to_owned(), uan.to_owned());
    }
    Ok((map, errors))
}
