//! The format check (形式チェック) of one vaccination dose, written once.
//!
//! The gateway checks every provision copy with it before storing, and the adapter checks
//! every ledger row and FHIR entry with it before sending: were they two functions, the
//! adapter could accept a dose the gateway then refuses (or the reverse), and a sync
//! would fail far from the row at fault. The rules are those of docs/vaccination-csv.md.
//!
//! Each caller names the fields in its own terms (a CSV column, a FHIR element, a path
//! into the protobuf message), so a problem comes back typed, as a [`DoseField`] and a
//! [`DoseReason`], and is worded by [`DoseProblem::describe`] with the caller's words.

use std::fmt;

use crate::vaccines::{self, Vaccine};

/// Longest part of a rejected value repeated in a reason: enough to recognise it, not
/// enough to carry a pasted record into logs or status messages.
const ECHO_CHARS: usize = 20;

/// Upper bounds (in characters) of the free-text items.
pub const MAX_LOT_CHARS: usize = 20;
pub const MAX_MAKER_CHARS: usize = 40;
pub const MAX_REMARKS_CHARS: usize = 200;

/// The items of one dose as a source gives them, before they are checked.
#[derive(Clone, Copy, Debug)]
pub struct DoseInput<'a> {
    pub vaccine: &'a str,
    pub dose_number: DoseNumber<'a>,
    /// Empty when the source gives no date.
    pub date: &'a str,
    pub date_unknown: bool,
    pub lot: &'a str,
    pub maker: &'a str,
    pub institution: &'a str,
    pub remarks: &'a str,
}

/// A dose number as text (a CSV cell) or as a number already (a protobuf field).
#[derive(Clone, Copy, Debug)]
pub enum DoseNumber<'a> {
    Text(&'a str),
    Number(u32),
}

/// Which spellings of a date a source may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateForms {
    /// `YYYY-MM-DD` only: the wire form, the one stored copies carry.
    Iso,
    /// `YYYY-MM-DD`, `YYYYMMDD` or `YYYY/MM/DD`, all met in vaccination-system exports.
    Export,
}

impl fmt::Display for DateForms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DateForms::Iso => "YYYY-MM-DD",
            DateForms::Export => "YYYY-MM-DD, YYYYMMDD or YYYY/MM/DD",
        })
    }
}

/// What a dose is checked against besides its own items.
#[derive(Clone, Copy, Debug)]
pub struct DoseRules {
    /// Today in Japan: a later date is in the future.
    pub today: time::Date,
    /// The person's birth date when the caller knows it (the adapter does, the gateway
    /// never sees basic items).
    pub birth: Option<time::Date>,
    pub date_forms: DateForms,
}

/// A dose that passed: what the checks learnt, for the caller to build its record from.
#[derive(Clone, Copy, Debug)]
pub struct CheckedDose {
    pub vaccine: &'static Vaccine,
    pub dose_number: u32,
    /// `None` exactly when the date is marked unknown.
    pub date: Option<time::Date>,
}

/// The item a problem is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DoseField {
    Vaccine,
    DoseNumber,
    Date,
    Institution,
    Lot,
    Maker,
    Remarks,
}

/// Why a dose was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DoseReason {
    /// Not a code of [`vaccines::VACCINES`]; `given` is cut short.
    UnknownVaccine {
        given: String,
    },
    /// Not 1 to the vaccine's highest dose number; `given` as the source wrote it (quoted
    /// when it was text).
    DoseNumberOutOfRange {
        given: String,
        vaccine: &'static Vaccine,
    },
    /// A date is given although the date is marked unknown.
    DateGivenButUnknown,
    /// No date, and the date is not marked unknown.
    NoDate,
    NotADate {
        given: String,
        forms: DateForms,
    },
    InFuture(time::Date),
    Before1900(time::Date),
    BeforeBirth {
        date: time::Date,
        birth: time::Date,
    },
    /// Neither empty nor 10 digits; `given` is cut short.
    InstitutionCode {
        given: String,
    },
    ControlCharacters,
    TooLong {
        max: usize,
    },
}

/// A refused dose: the item at fault and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoseProblem {
    pub field: DoseField,
    pub reason: DoseReason,
}

/// How a caller's format names the things a reason may have to mention besides the
/// field at fault.
#[derive(Clone, Copy, Debug)]
pub struct DoseWords {
    /// The item that marks a date unknown (`接種日不明`, `date_unknown`, …).
    pub date_unknown: &'static str,
    /// What to do for a dose whose date is not known, said when a dose has no date
    /// ("set 接種日不明 to 1").
    pub unknown_date_hint: &'static str,
}

impl DoseProblem {
    fn new(field: DoseField, reason: DoseReason) -> Self {
        DoseProblem { field, reason }
    }

    /// The reason in words, naming other items as `words` says.
    pub fn describe(&self, words: &DoseWords) -> String {
        match &self.reason {
            DoseReason::UnknownVaccine { given } => {
                format!("{given:?} is not a known vaccine code (see docs/vaccination-csv.md)")
            }
            DoseReason::DoseNumberOutOfRange { given, vaccine } => format!(
                "{given} for {} ({}) must be 1 to {}",
                vaccine.code, vaccine.name_ja, vaccine.max_doses
            ),
            DoseReason::DateGivenButUnknown => format!(
                "must be empty when the date is marked unknown ({})",
                words.date_unknown
            ),
            DoseReason::NoDate => format!(
                "is empty; {} for a dose of unknown date",
                words.unknown_date_hint
            ),
            DoseReason::NotADate { given, forms } => {
                format!("{given:?} is not a date ({forms})")
            }
            DoseReason::InFuture(d) => format!("{d} is in the future"),
            DoseReason::Before1900(d) => format!("{d} is before 1900"),
            DoseReason::BeforeBirth { date, birth } => {
                format!("{date} is before the person's birth date {birth}")
            }
            DoseReason::InstitutionCode { given } => {
                format!("{given:?} must be empty or 10 digits (医療機関コード)")
            }
            DoseReason::ControlCharacters => "contains control characters".into(),
            DoseReason::TooLong { max } => format!("is longer than {max} characters"),
        }
    }
}

fn echo(s: &str) -> String {
    s.chars().take(ECHO_CHARS).collect()
}

/// The checks every dose passes, whatever it was read from: a known vaccine, a dose
/// number in its range, a real date (not in the future, not before 1900 or the person's
/// birth) or the date marked unknown, an empty or 10-digit institution code, and text
/// items of bounded length without control characters. The first item at fault is
/// reported, in that order.
pub fn check_dose(input: &DoseInput<'_>, rules: &DoseRules) -> Result<CheckedDose, DoseProblem> {
    let Some(vaccine) = vaccines::lookup(input.vaccine) else {
        return Err(DoseProblem::new(
            DoseField::Vaccine,
            DoseReason::UnknownVaccine {
                given: echo(input.vaccine),
            },
        ));
    };
    let (number, given) = match input.dose_number {
        DoseNumber::Number(n) => (Some(n), None),
        DoseNumber::Text(s) => (s.parse::<u32>().ok(), Some(s)),
    };
    let Some(dose_number) = number.filter(|n| (1..=vaccine.max_doses).contains(n)) else {
        let given = match (given, number) {
            (Some(s), _) => format!("{:?}", echo(s)),
            (None, Some(n)) => n.to_string(),
            (None, None) => String::new(),
        };
        return Err(DoseProblem::new(
            DoseField::DoseNumber,
            DoseReason::DoseNumberOutOfRange { given, vaccine },
        ));
    };
    let date = check_date(input, rules)?;
    let inst = input.institution;
    if !(inst.is_empty() || (inst.len() == 10 && inst.bytes().all(|b| b.is_ascii_digit()))) {
        return Err(DoseProblem::new(
            DoseField::Institution,
            DoseReason::InstitutionCode { given: echo(inst) },
        ));
    }
    for (field, value, max) in [
        (DoseField::Lot, input.lot, MAX_LOT_CHARS),
        (DoseField::Maker, input.maker, MAX_MAKER_CHARS),
        (DoseField::Remarks, input.remarks, MAX_REMARKS_CHARS),
    ] {
        // One pass per item: this runs for every row of a large import.
        let mut n = 0;
        for c in value.chars() {
            if c.is_control() {
                return Err(DoseProblem::new(field, DoseReason::ControlCharacters));
            }
            n += 1;
        }
        if n > max {
            return Err(DoseProblem::new(field, DoseReason::TooLong { max }));
        }
    }
    Ok(CheckedDose {
        vaccine,
        dose_number,
        date,
    })
}

fn check_date(input: &DoseInput<'_>, rules: &DoseRules) -> Result<Option<time::Date>, DoseProblem> {
    let bad = |reason| Err(DoseProblem::new(DoseField::Date, reason));
    let date = input.date;
    if input.date_unknown {
        if !date.is_empty() {
            return bad(DoseReason::DateGivenButUnknown);
        }
        return Ok(None);
    }
    if date.is_empty() {
        return bad(DoseReason::NoDate);
    }
    let Some(d) = parse_date(date, rules.date_forms) else {
        return bad(DoseReason::NotADate {
            given: echo(date),
            forms: rules.date_forms,
        });
    };
    if d > rules.today {
        return bad(DoseReason::InFuture(d));
    }
    if d.year() < 1900 {
        return bad(DoseReason::Before1900(d));
    }
    if let Some(birth) = rules.birth
        && d < birth
    {
        return bad(DoseReason::BeforeBirth { date: d, birth });
    }
    Ok(Some(d))
}

/// Parses a calendar date in one of `forms`, without a format description (this runs
/// once per row).
pub fn parse_date(s: &str, forms: DateForms) -> Option<time::Date> {
    let b = s.as_bytes();
    let digits: [u8; 8] = match (b.len(), forms) {
        (8, DateForms::Export) => b.try_into().ok()?,
        (10, _) if b[4] == b'-' && b[7] == b'-' => [b[0], b[1], b[2], b[3], b[5], b[6], b[8], b[9]],
        (10, DateForms::Export) if b[4] == b'/' && b[7] == b'/' => {
            [b[0], b[1], b[2], b[3], b[5], b[6], b[8], b[9]]
        }
        _ => return None,
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| {
        digits[r]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let m = time::Month::try_from(u8::try_from(n(4..6)).ok()?).ok()?;
    time::Date::from_calendar_date(i32::try_from(n(0..4)).ok()?, m, u8::try_from(n(6..8)).ok()?)
        .ok()
}

/// What makes two records of one history the same dose, so that a history holds it once:
/// vaccine, dose number and date, two doses of unknown date counting as the same date
/// (docs/vaccination-csv.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DoseIdentity<'a> {
    vaccine: &'a str,
    dose_number: u32,
    /// `None` for a dose of unknown date.
    date: Option<&'a str>,
}

impl<'a> DoseIdentity<'a> {
    pub fn of(vaccine: &'a str, dose_number: u32, date: &'a str, date_unknown: bool) -> Self {
        DoseIdentity {
            vaccine,
            dose_number,
            date: (!date_unknown).then_some(date),
        }
    }
}

#[cfg(test)]
mod tests;
