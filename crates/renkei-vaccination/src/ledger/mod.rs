//! The 予防接種台帳 CSV: one row per dose, in the shape of a vaccination system's export.
//! Columns are documented in docs/vaccination-csv.md. Every row is checked; a bad row is
//! reported with its file, line and reason, and the good rows go ahead.
//!
//! - `source`: opening a file as UTF-8 bytes, whatever its encoding;
//! - `rows`: the header check and the row loop, each row parsed and checked;
//! - `check`: the checks shared with the FHIR reader (the person a record names, the dose
//!   check of `renkei_core::dose`), in each format's terms;
//! - `read` and `stream`: whole-file and person-by-person reads over the row loop;
//! - `mapping`: the 宛名番号 → 統合宛名番号 mapping file;
//! - `write`: writing ledgers.

mod check;
mod mapping;
mod read;
mod rows;
mod source;
mod stream;
mod write;

use std::collections::HashMap;

use renkei_core::dose;

use crate::RowError;
use crate::model::LocalMaster;
use crate::text::TextEncoding;

pub(crate) use check::{Field, RawDose, Terms, check_dose, resolve_person};
pub use mapping::read_mapping;
pub(crate) use read::add_dose;
pub use read::{read_ledger, read_ledger_bytes, read_ledger_persons};
pub use stream::{StreamReport, stream_ledger};
pub use write::{LedgerWriter, write_ledger};

pub const COL_LOCAL: &str = "宛名番号";
pub const COL_UAN: &str = "統合宛名番号";
pub const COL_NAME: &str = "氏名";
pub const COL_KANA: &str = "氏名カナ";
pub const COL_BIRTH: &str = "生年月日";
pub const COL_SEX: &str = "性別";
pub const COL_VACCINE: &str = "ワクチンコード";
pub const COL_DOSE: &str = "接種回数";
pub const COL_DATE: &str = "接種日";
pub const COL_UNKNOWN: &str = "接種日不明";
pub const COL_LOT: &str = "ロット番号";
pub const COL_MAKER: &str = "メーカー";
pub const COL_INSTITUTION: &str = "医療機関コード";
pub const COL_OUTSIDE: &str = "市外フラグ";
pub const COL_REMARKS: &str = "備考";

/// Every column, in the order Renkei writes them.
pub const COLUMNS: [&str; 15] = [
    COL_LOCAL,
    COL_UAN,
    COL_NAME,
    COL_KANA,
    COL_BIRTH,
    COL_SEX,
    COL_VACCINE,
    COL_DOSE,
    COL_DATE,
    COL_UNKNOWN,
    COL_LOT,
    COL_MAKER,
    COL_INSTITUTION,
    COL_OUTSIDE,
    COL_REMARKS,
];

/// Columns a file must have; the person may be given by either number column.
const REQUIRED: [&str; 4] = [COL_VACCINE, COL_DOSE, COL_DATE, COL_UNKNOWN];

/// How to read a ledger file.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub encoding: TextEncoding,
    /// 宛名番号 → 統合宛名番号, for rows that carry only the system's own number.
    pub mapping: Option<HashMap<String, String>>,
    /// Dates after this are refused as being in the future (default: today in JST).
    pub today: Option<time::Date>,
}

/// What a read produced: the persons of the good rows, and the bad rows.
#[derive(Debug, Default)]
pub struct ReadReport {
    pub master: LocalMaster,
    /// Rows of a CSV, entries of a FHIR bundle.
    pub rows: u64,
    pub errors: Vec<RowError>,
    pub encoding: Option<TextEncoding>,
    /// Entries passed over without being an error, by what they were: resources other than
    /// Patient and Immunization, Immunizations not given (`not-done`, `entered-in-error`).
    /// Always empty for a CSV.
    pub skipped: std::collections::BTreeMap<String, u64>,
}

/// Today in Japan by the system clock: the default "today" of a read.
pub fn today_jst() -> time::Date {
    renkei_core::jst::today(&renkei_core::SystemClock)
}

/// Parses YYYY-MM-DD, YYYYMMDD or YYYY/MM/DD (all met in exports) to a date.
pub fn parse_date(s: &str) -> Option<time::Date> {
    dose::parse_date(s, dose::DateForms::Export)
}

/// YYYY-MM-DD ([`renkei_core::jst::format_date`]).
pub fn format_date(d: time::Date) -> String {
    renkei_core::jst::format_date(d)
}
