//! The checks of a person and a dose shared by every reader (CSV and FHIR), each naming
//! the items in its own terms; the dose check itself is `renkei_core::dose`'s, the
//! gateway's too.

use std::collections::HashMap;

use renkei_core::UnifiedAddressNumber;
use renkei_core::dose;
use renkei_proto::v1::Dose;

use super::rows::RowProblem;
use super::{
    COL_DATE, COL_DOSE, COL_INSTITUTION, COL_LOCAL, COL_LOT, COL_MAKER, COL_REMARKS, COL_UAN,
    COL_UNKNOWN, COL_VACCINE, format_date,
};

/// An item of a record, named by each reader in its own terms (a CSV column, a FHIR
/// element), so that the checks of a person and a dose are written once for every format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    LocalNumber,
    Uan,
    Vaccine,
    DoseNumber,
    Date,
    DateUnknown,
    Institution,
    Lot,
    Maker,
    Remarks,
}

/// How a reader names the items and positions of its format in the reasons it reports.
pub(crate) struct Terms {
    pub(crate) name: fn(Field) -> &'static str,
    /// What to do for a dose whose date is not known, said when a dose has no date.
    pub(crate) unknown_date: &'static str,
}

pub(crate) type Problem = (Field, String);

fn csv_name(f: Field) -> &'static str {
    match f {
        Field::LocalNumber => COL_LOCAL,
        Field::Uan => COL_UAN,
        Field::Vaccine => COL_VACCINE,
        Field::DoseNumber => COL_DOSE,
        Field::Date => COL_DATE,
        Field::DateUnknown => COL_UNKNOWN,
        Field::Institution => COL_INSTITUTION,
        Field::Lot => COL_LOT,
        Field::Maker => COL_MAKER,
        Field::Remarks => COL_REMARKS,
    }
}

pub(super) const CSV_TERMS: Terms = Terms {
    name: csv_name,
    unknown_date: "set 接種日不明 to 1",
};

pub(super) fn csv_problem((f, reason): Problem) -> RowProblem {
    (Some(csv_name(f)), reason)
}

/// The person a record names: its unified address number, given directly or looked up
/// from the system's own number in the mapping file.
pub(crate) fn resolve_person(
    uan: &str,
    local: &str,
    mapping: Option<&HashMap<String, String>>,
    t: &Terms,
) -> Result<String, Problem> {
    let name = t.name;
    if !uan.is_empty() {
        if uan.len() > UnifiedAddressNumber::MAX_LEN || !uan.bytes().all(|b| b.is_ascii_digit()) {
            // Let the core type say what is wrong, in its words.
            UnifiedAddressNumber::parse(uan).map_err(|e| (Field::Uan, e.to_string()))?;
        }
        return Ok(uan.to_owned());
    }
    if local.is_empty() {
        return Err((
            Field::Uan,
            format!(
                "the record names no person: both {} and {} are empty",
                name(Field::Uan),
                name(Field::LocalNumber)
            ),
        ));
    }
    match mapping {
        Some(m) => m.get(local).cloned().ok_or_else(|| {
            (
                Field::LocalNumber,
                format!("{local} is not in the mapping file"),
            )
        }),
        None => Err((
            Field::Uan,
            format!(
                "is empty and no mapping file was given to look up {} {local}",
                name(Field::LocalNumber)
            ),
        )),
    }
}

/// The items of one dose as a source gives them, before they are checked.
pub(crate) struct RawDose<'a> {
    pub(crate) vaccine: &'a str,
    pub(crate) dose_number: &'a str,
    /// Empty when the source gives no date.
    pub(crate) date: &'a str,
    pub(crate) date_unknown: bool,
    pub(crate) lot: &'a str,
    pub(crate) maker: &'a str,
    pub(crate) institution: &'a str,
    pub(crate) outside_city: bool,
    pub(crate) remarks: &'a str,
}

/// The checks every dose passes, whatever format it was read from: the one check of
/// `renkei_core::dose` (the gateway's too), with the date spellings exports use and the
/// person's birth date, worded in the reader's terms.
pub(crate) fn check_dose(
    raw: &RawDose<'_>,
    birth: Option<time::Date>,
    today: time::Date,
    t: &Terms,
) -> Result<Dose, Problem> {
    let input = dose::DoseInput {
        vaccine: raw.vaccine,
        dose_number: dose::DoseNumber::Text(raw.dose_number),
        date: raw.date,
        date_unknown: raw.date_unknown,
        lot: raw.lot,
        maker: raw.maker,
        institution: raw.institution,
        remarks: raw.remarks,
    };
    let rules = dose::DoseRules {
        today,
        birth,
        date_forms: dose::DateForms::Export,
    };
    let checked = dose::check_dose(&input, &rules).map_err(|p| {
        let words = dose::DoseWords {
            date_unknown: (t.name)(Field::DateUnknown),
            unknown_date_hint: t.unknown_date,
        };
        (field_of(p.field), p.describe(&words))
    })?;
    Ok(Dose {
        vaccine_code: checked.vaccine.code.to_owned(),
        dose_number: checked.dose_number,
        date: checked.date.map(format_date).unwrap_or_default(),
        date_unknown: raw.date_unknown,
        lot: raw.lot.to_owned(),
        maker: raw.maker.to_owned(),
        institution_code: raw.institution.to_owned(),
        outside_city: raw.outside_city,
        remarks: raw.remarks.to_owned(),
    })
}

fn field_of(f: dose::DoseField) -> Field {
    match f {
        dose::DoseField::Vaccine => Field::Vaccine,
        dose::DoseField::DoseNumber => Field::DoseNumber,
        dose::DoseField::Date => Field::Date,
        dose::DoseField::Institution => Field::Institution,
        dose::DoseField::Lot => Field::Lot,
        dose::DoseField::Maker => Field::Maker,
        dose::DoseField::Remarks => Field::Remarks,
    }
}
