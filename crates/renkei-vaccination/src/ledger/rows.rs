//! The row loop shared by every read: the header check, then each row parsed and checked.

use renkei_proto::v1::Dose;

use super::check::{CSV_TERMS, RawDose, check_dose, csv_problem, resolve_person};
use super::{
    COL_BIRTH, COL_LOCAL, COL_OUTSIDE, COL_SEX, COL_UAN, COL_UNKNOWN, COLUMNS, REQUIRED,
    ReadOptions, format_date, parse_date, today_jst,
};
use crate::model::{PersonInfo, Sex};
use crate::text::TextEncoding;
use crate::{RowError, VaccinationError};

/// One row of a ledger: a good dose of a person, or the reason it is bad.
// Returned by value once per row and unpacked at once: boxing the large variant would cost
// an allocation for every good row.
#[allow(clippy::large_enum_variant)]
pub(super) enum RowOutcome {
    Row {
        uan: String,
        /// The person's basic items, built only when the person differs from the previous
        /// good row's (a person's later rows cost no allocation for them).
        info: Option<PersonInfo>,
        dose: Dose,
        line: u64,
    },
    Bad(RowError),
}

/// The row loop shared by whole-file and streamed reads: header check, then each row
/// parsed and validated.
pub(super) struct RowReader<'o, R: std::io::Read> {
    file: &'o str,
    rdr: csv::Reader<R>,
    rec: csv::ByteRecord,
    cols: Columns,
    opts: &'o ReadOptions,
    enc: TextEncoding,
    today: time::Date,
    prev_uan: String,
}

impl<'o, R: std::io::Read> RowReader<'o, R> {
    pub(super) fn new(
        file: &'o str,
        text: R,
        opts: &'o ReadOptions,
        enc: TextEncoding,
    ) -> Result<Self, VaccinationError> {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(text);
        let headers = rdr
            .byte_headers()
            .map_err(|e| VaccinationError::Format {
                path: file.into(),
                reason: format!("cannot read the header row: {e}"),
            })?
            .clone();
        let names: Vec<String> = headers
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().to_owned())
            .collect();
        let pos = |name: &str| names.iter().position(|h| h == name);
        let missing: Vec<&str> = REQUIRED
            .iter()
            .copied()
            .filter(|c| pos(c).is_none())
            .collect();
        if !missing.is_empty() || (pos(COL_UAN).is_none() && pos(COL_LOCAL).is_none()) {
            return Err(VaccinationError::Format {
                path: file.into(),
                reason: format!(
                    "the header row lacks {}{}; the columns are documented in docs/vaccination-csv.md{}",
                    missing.join(", "),
                    if pos(COL_UAN).is_none() && pos(COL_LOCAL).is_none() {
                        format!(" and both of {COL_UAN} / {COL_LOCAL}")
                    } else {
                        String::new()
                    },
                    if names.first().is_some_and(|n| n.starts_with('{')) {
                        " (the file looks like JSON: for a FHIR bundle use --input-format fhir)"
                    } else {
                        ""
                    }
                ),
            });
        }
        let cols = Columns {
            idx: COLUMNS.map(pos),
            width: names.len(),
        };
        Ok(RowReader {
            file,
            rdr,
            rec: csv::ByteRecord::new(),
            cols,
            opts,
            enc,
            today: opts.today.unwrap_or_else(today_jst),
            prev_uan: String::new(),
        })
    }

    /// The person a bad row still names, read leniently from its number columns: a sync
    /// must not delete that person's copy because this row was left out.
    fn person_of_bad_row(&self) -> Option<String> {
        let field = |name: &str| {
            let i = COLUMNS.iter().position(|c| *c == name)?;
            let raw = self.rec.get(self.cols.idx[i]?)?;
            std::str::from_utf8(raw).ok().map(str::trim)
        };
        resolve_person(
            field(COL_UAN).unwrap_or(""),
            field(COL_LOCAL).unwrap_or(""),
            self.opts.mapping.as_ref(),
            &CSV_TERMS,
        )
        .ok()
    }

    pub(super) fn next_row(&mut self) -> Option<RowOutcome> {
        match self.rdr.read_byte_record(&mut self.rec) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                return Some(RowOutcome::Bad(RowError {
                    person: None,
                    file: self.file.into(),
                    line: e.position().map_or(0, |p| p.line()),
                    entry: None,
                    column: None,
                    reason: format!("not a CSV row: {e}"),
                }));
            }
        }
        let line = self.rec.position().map_or(0, |p| p.line());
        match parse_row(&self.rec, &self.cols, self.opts, self.today, self.enc) {
            Ok((uan, info, dose)) => {
                let info = if uan != self.prev_uan {
                    self.prev_uan.clone_from(&uan);
                    Some(info.build())
                } else {
                    None
                };
                Some(RowOutcome::Row {
                    uan,
                    info,
                    dose,
                    line,
                })
            }
            Err((column, reason)) => Some(RowOutcome::Bad(RowError {
                person: self.person_of_bad_row(),
                file: self.file.into(),
                line,
                entry: None,
                column: column.map(str::to_owned),
                reason,
            })),
        }
    }
}

struct Columns {
    idx: [Option<usize>; 15],
    width: usize,
}

pub(super) type RowProblem = (Option<&'static str>, String);

/// The basic items of a row, built into a `PersonInfo` only for a person's first row.
struct InfoParts<'r> {
    local: &'r str,
    name: &'r str,
    kana: &'r str,
    birth: Option<time::Date>,
    sex: Sex,
}

impl InfoParts<'_> {
    fn build(&self) -> PersonInfo {
        PersonInfo {
            local_number: self.local.to_owned(),
            name: self.name.to_owned(),
            name_kana: self.kana.to_owned(),
            birth_date: self.birth.map(format_date).unwrap_or_default(),
            sex: Some(self.sex),
        }
    }
}

fn parse_row<'r>(
    rec: &'r csv::ByteRecord,
    cols: &Columns,
    opts: &ReadOptions,
    today: time::Date,
    enc: TextEncoding,
) -> Result<(String, InfoParts<'r>, Dose), RowProblem> {
    if rec.len() != cols.width {
        return Err((
            None,
            format!("expected {} columns, found {}", cols.width, rec.len()),
        ));
    }
    let mut fields: [&str; 15] = [""; 15];
    for (i, name) in COLUMNS.iter().enumerate() {
        let Some(ix) = cols.idx[i] else { continue };
        let raw = rec.get(ix).unwrap_or(b"");
        let s = std::str::from_utf8(raw).map_err(|_| {
            (
                Some(*name),
                "is not valid UTF-8 (is the file Shift_JIS? use --encoding shift_jis)".to_owned(),
            )
        })?;
        if s.contains('\u{FFFD}') {
            let what = match enc {
                TextEncoding::ShiftJis => "Shift_JIS",
                _ => "UTF-8",
            };
            return Err((
                Some(*name),
                format!("holds bytes that are not valid {what}"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err((Some(*name), "contains control characters".into()));
        }
        fields[i] = s.trim();
    }
    let [
        local,
        uan,
        name,
        kana,
        birth,
        sex,
        vaccine,
        dose_no,
        date,
        unknown,
        lot,
        maker,
        inst,
        outside,
        remarks,
    ] = fields;

    let uan = resolve_person(uan, local, opts.mapping.as_ref(), &CSV_TERMS).map_err(csv_problem)?;

    let birth_date = if birth.is_empty() {
        None
    } else {
        Some(parse_date(birth).ok_or_else(|| {
            (
                Some(COL_BIRTH),
                format!("{birth:?} is not a date (YYYY-MM-DD)"),
            )
        })?)
    };
    let sex = Sex::parse(sex).ok_or_else(|| {
        (
            Some(COL_SEX),
            format!("{sex:?} is not a sex code (1 男, 2 女, 9 不明)"),
        )
    })?;
    let date_unknown =
        flag(unknown).ok_or_else(|| (Some(COL_UNKNOWN), format!("{unknown:?} must be 0 or 1")))?;
    let outside_city =
        flag(outside).ok_or_else(|| (Some(COL_OUTSIDE), format!("{outside:?} must be 0 or 1")))?;
    let dose = check_dose(
        &RawDose {
            vaccine,
            dose_number: dose_no,
            date,
            date_unknown,
            lot,
            maker,
            institution: inst,
            outside_city,
            remarks,
        },
        birth_date,
        today,
        &CSV_TERMS,
    )
    .map_err(csv_problem)?;
    let info = InfoParts {
        local,
        name,
        kana,
        birth: birth_date,
        sex,
    };
    Ok((uan, info, dose))
}

fn flag(s: &str) -> Option<bool> {
    match s {
        "" | "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}
