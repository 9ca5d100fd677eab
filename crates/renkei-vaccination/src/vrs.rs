//! The VRS (ワクチン接種記録システム) export for 予防接種台帳, a source of historical
//! COVID-19 records: one row per person, with a block of columns per dose number N
//! (N回目接種日, N回目接種自治体コード, N回目ワクチンロット番号…). VRS has kept only
//! records up to 2024-03-31, so it is import-only.

use std::collections::HashMap;
use std::path::Path;

use renkei_core::{AgencyCode, UnifiedAddressNumber};
use renkei_proto::v1::Dose;

use crate::ledger::parse_date;
use crate::model::{LocalMaster, canonical_order, same_dose};
use crate::text::{TextEncoding, read_text};
use crate::{RowError, VaccinationError};

pub const COL_PERSON: &str = "個別宛名番号";

/// The per-dose fields, as `N回目{suffix}`, with their maximum lengths.
const DOSE_FIELDS: [(&str, usize); 8] = [
    ("接種履歴登録日時", 14),
    ("接種日", 8),
    ("券番号", 10),
    ("接種自治体コード", 6),
    ("接種会場名", 30),
    ("接種医師名", 20),
    ("ワクチンメーカー", 20),
    ("ワクチンロット番号", 20),
];

/// What an import produced.
#[derive(Debug, Default)]
pub struct VrsReport {
    pub master: LocalMaster,
    pub rows: u64,
    pub doses: u64,
    pub errors: Vec<RowError>,
}

/// Reads a VRS export. `city` is this municipality's code: a dose given elsewhere is
/// marked outside the city. `mapping` turns 個別宛名番号 into unified address numbers;
/// without it the column must hold the unified address number itself.
pub fn read_vrs(
    path: &Path,
    enc: TextEncoding,
    city: &str,
    mapping: Option<&HashMap<String, String>>,
) -> Result<VrsReport, VaccinationError> {
    let (text, _) = read_text(path, enc)?;
    read_vrs_bytes(&path.display().to_string(), &text, city, mapping)
}

pub fn read_vrs_bytes(
    file: &str,
    text: &[u8],
    city: &str,
    mapping: Option<&HashMap<String, String>>,
) -> Result<VrsReport, VaccinationError> {
    read_vrs_bytes_on(file, text, city, mapping, crate::ledger::today_jst())
}

/// [`read_vrs_bytes`] with "today" given: a later dose date is refused as in the future.
pub fn read_vrs_bytes_on(
    file: &str,
    text: &[u8],
    city: &str,
    mapping: Option<&HashMap<String, String>>,
    today: time::Date,
) -> Result<VrsReport, VaccinationError> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(text);
    let headers = rdr
        .headers()
        .map_err(|e| VaccinationError::Format {
            path: file.into(),
            reason: format!("cannot read the header row: {e}"),
        })?
        .clone();
    let pos = |n: &str| headers.iter().position(|h| h.trim() == n);
    let person_col = pos(COL_PERSON).ok_or_else(|| VaccinationError::Format {
        path: file.into(),
        reason: format!("a VRS export needs the column {COL_PERSON}"),
    })?;
    // Dose blocks present: N = 1, 2, … while N回目接種日 exists.
    let mut blocks: Vec<(u32, [Option<usize>; 8])> = Vec::new();
    for n in 1..=99u32 {
        if pos(&format!("{n}回目接種日")).is_none() {
            break;
        }
        blocks.push((n, DOSE_FIELDS.map(|(f, _)| pos(&format!("{n}回目{f}")))));
    }
    if blocks.is_empty() {
        return Err(VaccinationError::Format {
            path: file.into(),
            reason: "no dose columns (1回目接種日, …) in the header".into(),
        });
    }
    let mut report = VrsReport::default();
    for rec in rdr.records() {
        report.rows += 1;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                report.errors.push(RowError {
                    person: None,
                    file: file.into(),
                    line: e.position().map_or(0, |p| p.line()),
                    entry: None,
                    column: None,
                    reason: format!("not a CSV row: {e}"),
                });
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        let bad = |column: String, reason: String| RowError {
            person: None,
            file: file.into(),
            line,
            entry: None,
            column: Some(column),
            reason,
        };
        if rec.len() != headers.len() {
            report.errors.push(RowError {
                person: None,
                file: file.into(),
                line,
                entry: None,
                column: None,
                reason: format!("expected {} columns, found {}", headers.len(), rec.len()),
            });
            continue;
        }
        let key = rec.get(person_col).unwrap_or("").trim();
        let uan = match mapping {
            _ if key.is_empty() => Err(bad(
                COL_PERSON.into(),
                "is empty: a VRS row without the municipality's own number cannot be matched to a person".into(),
            )),
            Some(m) => m
                .get(key)
                .cloned()
                .ok_or_else(|| bad(COL_PERSON.into(), format!("{key} is not in the mapping file"))),
            None => UnifiedAddressNumber::parse(key)
                .map(|u| u.to_string())
                .map_err(|e| bad(COL_PERSON.into(), e.to_string())),
        };
        let uan = match uan {
            Ok(u) => u,
            Err(e) => {
                report.errors.push(e);
                continue;
            }
        };
        let mut doses = Vec::new();
        let mut row_error = None;
        for (n, cols) in &blocks {
            let get = |i: usize| cols[i].and_then(|c| rec.get(c)).unwrap_or("").trim();
            let date = get(1);
            if date.is_empty() {
                continue; // no N-th dose
            }
            match vrs_dose(*n, &get, city, today) {
                Ok(d) => doses.push(d),
                Err((field, reason)) => {
                    row_error = Some(bad(format!("{n}回目{field}"), reason));
                    break;
                }
            }
        }
        if let Some(e) = row_error {
            report.errors.push(e);
            continue;
        }
        report.doses += doses.len() as u64;
        let person = report.master.persons.entry(uan).or_default();
        person.doses.extend(doses);
    }
    for p in report.master.persons.values_mut() {
        canonical_order(&mut p.doses);
    }
    Ok(report)
}

fn vrs_dose<'a>(
    n: u32,
    get: &dyn Fn(usize) -> &'a str,
    city: &str,
    today: time::Date,
) -> Result<Dose, (&'static str, String)> {
    for (i, (field, max)) in DOSE_FIELDS.iter().enumerate() {
        if get(i).chars().count() > *max {
            return Err((field, format!("is longer than {max} characters")));
        }
        if get(i).chars().any(char::is_control) {
            return Err((field, "contains control characters".into()));
        }
    }
    let raw = get(1);
    let date = (raw.len() == 8)
        .then(|| parse_date(raw))
        .flatten()
        .ok_or_else(|| ("接種日", format!("{raw:?} is not a date (YYYYMMDD)")))?;
    if date > today {
        return Err(("接種日", format!("{date} is in the future")));
    }
    let registered = get(0);
    if !(registered.is_empty()
        || (registered.len() == 14 && registered.bytes().all(|b| b.is_ascii_digit())))
    {
        return Err(("接種履歴登録日時", "must be YYYYMMDDHHMMSS".into()));
    }
    let voucher = get(2);
    if !(voucher.is_empty() || (voucher.len() == 10 && voucher.bytes().all(|b| b.is_ascii_digit())))
    {
        return Err(("券番号", "must be 10 digits".into()));
    }
    let at = get(3);
    let outside_city = if at.is_empty() {
        false
    } else {
        let code = AgencyCode::parse(at).map_err(|e| ("接種自治体コード", e.to_string()))?;
        code.as_str() != city
    };
    let venue = get(4);
    let remarks = if venue.is_empty() {
        "VRS".to_owned()
    } else {
        format!("VRS: {venue}")
    };
    Ok(Dose {
        vaccine_code: "COVID".into(),
        dose_number: n,
        date: date.to_string(),
        date_unknown: false,
        lot: get(7).to_owned(),
        maker: get(6).to_owned(),
        institution_code: String::new(),
        outside_city,
        remarks,
    })
}

/// Adds the VRS doses to the ledger's persons; a dose already in the ledger is kept as
/// the ledger has it. Returns how many doses were added.
pub fn merge_into(master: &mut LocalMaster, vrs: LocalMaster) -> u64 {
    let mut added = 0;
    for (uan, p) in vrs.persons {
        let target = master.persons.entry(uan).or_default();
        for d in p.doses {
            if !target.doses.iter().any(|k| same_dose(k, &d)) {
                target.doses.push(d);
                added += 1;
            }
        }
        canonical_order(&mut target.doses);
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "個別宛名番号,1回目接種履歴登録日時,1回目接種日,1回目券番号,1回目接種自治体コード,1回目接種会場名,1回目接種医師名,1回目ワクチンメーカー,1回目ワクチンロット番号,2回目接種履歴登録日時,2回目接種日,2回目券番号,2回目接種自治体コード,2回目接種会場名,2回目接種医師名,2回目ワクチンメーカー,2回目ワクチンロット番号";

    #[test]
    fn a_dose_after_the_given_today_is_in_the_future() {
        let text = format!(
            "{HEADER}\n100,20210601101010,20210601,0000000001,141003,会場,医師,ファイザー,FA1,,,,,,,,\n"
        );
        let day_before = time::macros::date!(2021 - 05 - 31);
        let r = read_vrs_bytes_on("vrs.csv", text.as_bytes(), "141003", None, day_before).unwrap();
        assert_eq!(r.doses, 0);
        assert!(
            r.errors[0].reason.contains("in the future"),
            "{:?}",
            r.errors
        );
        let same_day = time::macros::date!(2021 - 06 - 01);
        let r = read_vrs_bytes_on("vrs.csv", text.as_bytes(), "141003", None, same_day).unwrap();
        assert_eq!(r.doses, 1, "{:?}", r.errors);
    }

    #[test]
    fn reads_dose_blocks_and_reports_bad_rows() {
        let text = format!(
            "{HEADER}\n\
             100,20210601101010,20210601,0000000001,141003,横浜市集団接種会場,医師A,ファイザー,FA1234,20210622101010,20210622,0000000001,011002,札幌会場,医師B,ファイザー,FA5678\n\
             200,20210701101010,20210701,0000000002,141003,会場,医師,武田/モデルナ,MO1,,,,,,,,\n\
             ,20210701101010,20210701,0000000003,141003,会場,医師,武田/モデルナ,MO1,,,,,,,,\n\
             300,20210701101010,20210732,0000000004,141003,会場,医師,武田/モデルナ,MO1,,,,,,,,\n\
             400,20210701101010,20210701,0000000005,141004,会場,医師,武田/モデルナ,MO1,,,,,,,,\n\
             500,20210701101010,20210701,12345,141003,会場,医師,武田/モデルナ,MO1,,,,,,,,\n"
        );
        let r = read_vrs_bytes("vrs.csv", text.as_bytes(), "141003", None).unwrap();
        assert_eq!(r.rows, 6);
        assert_eq!(r.doses, 3);
        let lines: Vec<(u64, &str)> = r
            .errors
            .iter()
            .map(|e| (e.line, e.column.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            lines,
            vec![
                (4, "個別宛名番号"),
                (5, "1回目接種日"),
                (6, "1回目接種自治体コード"),
                (7, "1回目券番号")
            ]
        );
        let p = &r.master.persons["100"];
        assert_eq!(p.doses.len(), 2);
        assert!(!p.doses[0].outside_city && p.doses[1].outside_city);
        assert_eq!(p.doses[1].date, "2021-06-22");
        assert_eq!(p.doses[1].dose_number, 2);

        let mut ledger = LocalMaster::default();
        ledger
            .persons
            .entry("100".into())
            .or_default()
            .doses
            .push(p.doses[0].clone());
        assert_eq!(merge_into(&mut ledger, r.master), 2);
        assert_eq!(ledger.persons["100"].doses.len(), 2);
    }
}
