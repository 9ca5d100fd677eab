//! Whole-file reads: every person of a ledger (or of a chosen few) into a local master.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use renkei_core::dose::DoseIdentity;
use renkei_proto::v1::Dose;

use super::rows::{RowOutcome, RowReader};
use super::source::open_ledger;
use super::{ReadOptions, ReadReport};
use crate::model::{Person, PersonInfo, canonical_order};
use crate::text::TextEncoding;
use crate::{RowError, VaccinationError};

/// Reads a ledger file.
///
/// A UTF-8 file is streamed (memory holds the persons, not the file); a Shift_JIS file is
/// decoded whole first. With `Auto`, a file whose first 64 KiB are UTF-8 (or that starts with
/// a BOM) is read as UTF-8, and a later invalid byte fails only its row.
pub fn read_ledger(path: &Path, opts: &ReadOptions) -> Result<ReadReport, VaccinationError> {
    let file = path.display().to_string();
    let (text, enc) = open_ledger(path, opts)?;
    let mut report = read_ledger_from(&file, text, opts, enc, None)?;
    report.encoding = Some(enc);
    Ok(report)
}

/// Reads ledger rows from UTF-8 bytes; `file` names the source in row errors.
pub fn read_ledger_bytes(
    file: &str,
    text: &[u8],
    opts: &ReadOptions,
    enc: TextEncoding,
) -> Result<ReadReport, VaccinationError> {
    read_ledger_from(file, text, opts, enc, None)
}

/// Reads only the rows of the given persons (every row is still checked, and bad rows
/// are reported): the second pass of a streamed sync, for persons whose rows were not
/// contiguous in the file.
pub fn read_ledger_persons(
    path: &Path,
    opts: &ReadOptions,
    only: &HashSet<String>,
) -> Result<ReadReport, VaccinationError> {
    let file = path.display().to_string();
    let (text, enc) = open_ledger(path, opts)?;
    let mut report = read_ledger_from(&file, text, opts, enc, Some(only))?;
    report.encoding = Some(enc);
    Ok(report)
}

/// Adds a dose to a person unless it duplicates one already there (the same
/// [`DoseIdentity`]: the gateway would refuse the history); a duplicate is refused with a
/// reason naming the position of the first (`at` says how a reader names a position: a
/// CSV line, a FHIR bundle entry).
pub(crate) fn add_dose(
    person: &mut Person,
    person_positions: &mut Vec<u64>,
    dose: Dose,
    position: u64,
    at: fn(u64) -> String,
) -> Result<(), String> {
    let key = DoseIdentity::of(
        &dose.vaccine_code,
        dose.dose_number,
        &dose.date,
        dose.date_unknown,
    );
    let dup = person.doses.iter().position(|d| {
        DoseIdentity::of(&d.vaccine_code, d.dose_number, &d.date, d.date_unknown) == key
    });
    if let Some(i) = dup {
        let first = person_positions.get(i).copied().unwrap_or(0);
        return Err(format!(
            "duplicates {} (same person, vaccine {}, dose {} and date {})",
            at(first),
            dose.vaccine_code,
            dose.dose_number,
            if dose.date_unknown {
                "不明"
            } else {
                &dose.date
            }
        ));
    }
    person.doses.push(dose);
    person_positions.push(position);
    Ok(())
}

fn csv_line(n: u64) -> String {
    format!("line {n}")
}

/// Adds a dose read from a CSV line, reporting a duplicate against that line.
pub(super) fn add_csv_dose(
    file: &str,
    uan: &str,
    person: &mut Person,
    person_lines: &mut Vec<u64>,
    dose: Dose,
    line: u64,
) -> Option<RowError> {
    add_dose(person, person_lines, dose, line, csv_line)
        .err()
        .map(|reason| RowError {
            person: Some(uan.to_owned()),
            file: file.into(),
            line,
            entry: None,
            column: None,
            reason,
        })
}

fn read_ledger_from(
    file: &str,
    text: impl std::io::Read,
    opts: &ReadOptions,
    enc: TextEncoding,
    only: Option<&HashSet<String>>,
) -> Result<ReadReport, VaccinationError> {
    let mut rows = RowReader::new(file, text, opts, enc)?;
    let mut report = ReadReport::default();
    // The line of each dose of each person, parallel to `Person::doses` until the final
    // sort, for duplicate reports.
    let mut lines: HashMap<String, Vec<u64>> = HashMap::new();
    let mut cur: Option<(String, Person, Vec<u64>)> = None;
    // The basic items of the person of the previous good row (rows carry them on a
    // person's first row only; with a filter, that row may have been skipped).
    let mut last_info = PersonInfo::default();
    while let Some(row) = rows.next_row() {
        report.rows += 1;
        let (uan, info, dose, line) = match row {
            RowOutcome::Bad(e) => {
                report.errors.push(e);
                continue;
            }
            RowOutcome::Row {
                uan,
                info,
                dose,
                line,
            } => (uan, info, dose, line),
        };
        if let Some(info) = info {
            last_info = info;
        }
        if only.is_some_and(|o| !o.contains(&uan)) {
            continue;
        }
        // Exports are usually grouped by person: the current person is kept out of the map
        // until the key changes, so a row costs no map lookup.
        if cur.as_ref().is_none_or(|c| c.0 != uan) {
            if let Some((u, p, l)) = cur.take() {
                lines.insert(u.clone(), l);
                report.master.persons.insert(u, p);
            }
            cur = Some(match report.master.persons.remove(&uan) {
                Some(p) => {
                    let l = lines.remove(&uan).unwrap_or_default();
                    (uan, p, l)
                }
                None => (
                    uan,
                    Person {
                        info: last_info.clone(),
                        doses: Vec::new(),
                    },
                    Vec::new(),
                ),
            });
        }
        let Some((uan, person, person_lines)) = cur.as_mut() else {
            continue;
        };
        if let Some(e) = add_csv_dose(file, uan, person, person_lines, dose, line) {
            report.errors.push(e);
        }
    }
    if let Some((u, p, _)) = cur.take() {
        report.master.persons.insert(u, p);
    }
    drop(lines);
    for p in report.master.persons.values_mut() {
        canonical_order(&mut p.doses);
    }
    Ok(report)
}
