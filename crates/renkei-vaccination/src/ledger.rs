//! The 予防接種台帳 CSV: one row per dose, in the shape of a vaccination system's export.
//! Columns are documented in docs/vaccination-csv.md. Every row is checked; a bad row is
//! reported with its file, line and reason, and the good rows go ahead.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use renkei_core::UnifiedAddressNumber;
use renkei_core::dose::{self, DoseIdentity};
use renkei_proto::v1::Dose;

use crate::model::{LocalMaster, Person, PersonInfo, Sex, canonical_order};
use crate::text::{TextEncoding, read_text};
use crate::{RowError, VaccinationError};

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

fn flag(s: &str) -> Option<bool> {
    match s {
        "" | "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

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

/// Opens a ledger file as UTF-8 bytes (BOM skipped, Shift_JIS decoded), with the
/// encoding it was read as.
fn open_ledger(
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
        let (text, enc) = read_text(path, enc)?;
        Ok((Box::new(std::io::Cursor::new(text)), enc))
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

/// What a streamed read saw besides the persons it handed on.
#[derive(Debug, Default)]
pub struct StreamReport {
    pub rows: u64,
    pub errors: Vec<RowError>,
    pub encoding: Option<TextEncoding>,
    /// Persons handed on: each once, with its first run of rows.
    pub groups: u64,
    /// Persons whose rows were not contiguous: only their first run of rows was handed on,
    /// so the caller must read them again whole ([`read_ledger_persons`]). May name a
    /// contiguous person too (a 64-bit hash collision: that person is then not handed on
    /// at all, and not counted in `groups`), never misses a split one.
    pub split: HashSet<String>,
    /// The reader stopped early because the consumer asked it to.
    pub stopped: bool,
}

/// Reads a ledger file person by person, without holding the population: each run of
/// consecutive rows of one person is handed to `each` (doses in canonical order) as soon as
/// the next person's row is read. Exports are grouped by person, so each person normally
/// comes whole; a person whose rows come back later is handed on with its first run only
/// and listed in [`StreamReport::split`].
/// `each` returns `false` to stop reading.
pub fn stream_ledger(
    path: &Path,
    opts: &ReadOptions,
    mut each: impl FnMut(String, Person) -> bool,
) -> Result<StreamReport, VaccinationError> {
    let file = path.display().to_string();
    let (text, enc) = open_ledger(path, opts)?;
    let mut out = StreamReport {
        encoding: Some(enc),
        ..Default::default()
    };
    // A 64-bit hash per person seen, to notice a person coming back: a set of the numbers
    // themselves would cost several times the memory.
    let mut seen: HashSet<u64> = HashSet::new();
    let hasher = std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default();
    let mut emit = |uan: String, mut p: Person, out: &mut StreamReport| -> bool {
        if !seen.insert(std::hash::BuildHasher::hash_one(&hasher, &uan)) {
            // A later run of rows of a person already handed on: not handed on again, the
            // caller reads the person whole in a second pass.
            out.split.insert(uan);
            return true;
        }
        canonical_order(&mut p.doses);
        out.groups += 1;
        each(uan, p)
    };
    let mut rows = RowReader::new(&file, text, opts, enc)?;
    let mut cur: Option<(String, Person, Vec<u64>)> = None;
    while let Some(row) = rows.next_row() {
        out.rows += 1;
        match row {
            RowOutcome::Bad(e) => out.errors.push(e),
            RowOutcome::Row {
                uan,
                info,
                dose,
                line,
            } => {
                if let Some(info) = info {
                    if let Some((u, p, _)) = cur.take()
                        && !emit(u, p, &mut out)
                    {
                        out.stopped = true;
                        return Ok(out);
                    }
                    cur = Some((
                        uan,
                        Person {
                            info,
                            doses: Vec::new(),
                        },
                        Vec::new(),
                    ));
                }
                if let Some((uan, person, lines)) = cur.as_mut()
                    && let Some(e) = add_csv_dose(&file, uan, person, lines, dose, line)
                {
                    out.errors.push(e);
                }
            }
        }
    }
    if let Some((u, p, _)) = cur.take()
        && !emit(u, p, &mut out)
    {
        out.stopped = true;
    }
    Ok(out)
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
fn add_csv_dose(
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

/// One row of a ledger: a good dose of a person, or the reason it is bad.
// Returned by value once per row and unpacked at once: boxing the large variant would cost
// an allocation for every good row.
#[allow(clippy::large_enum_variant)]
enum RowOutcome {
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
struct RowReader<'o, R: std::io::Read> {
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
    fn new(
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

    fn next_row(&mut self) -> Option<RowOutcome> {
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

struct Columns {
    idx: [Option<usize>; 15],
    width: usize,
}

type RowProblem = (Option<&'static str>, String);

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

const CSV_TERMS: Terms = Terms {
    name: csv_name,
    unknown_date: "set 接種日不明 to 1",
};

fn csv_problem((f, reason): Problem) -> RowProblem {
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

/// Writes the persons' doses as ledger rows (UTF-8, with a header, without a BOM).
pub fn write_ledger<W: Write>(out: W, master: &LocalMaster) -> Result<(), csv::Error> {
    let mut w = LedgerWriter::new(out)?;
    for (uan, p) in &master.persons {
        for d in &p.doses {
            w.write(uan, &p.info, d)?;
        }
    }
    w.finish()
}

/// Streams ledger rows, for writers that never hold a whole population (gen-data).
pub struct LedgerWriter<W: Write> {
    w: csv::Writer<W>,
}

impl<W: Write> std::fmt::Debug for LedgerWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LedgerWriter")
    }
}

impl<W: Write> LedgerWriter<W> {
    pub fn new(out: W) -> Result<Self, csv::Error> {
        let mut w = csv::WriterBuilder::new().from_writer(out);
        w.write_record(COLUMNS)?;
        Ok(LedgerWriter { w })
    }

    pub fn write(&mut self, uan: &str, info: &PersonInfo, d: &Dose) -> Result<(), csv::Error> {
        let dose = d.dose_number.to_string();
        self.w.write_record([
            info.local_number.as_str(),
            uan,
            &info.name,
            &info.name_kana,
            &info.birth_date,
            info.sex.map_or("", Sex::code),
            &d.vaccine_code,
            &dose,
            &d.date,
            if d.date_unknown { "1" } else { "0" },
            &d.lot,
            &d.maker,
            &d.institution_code,
            if d.outside_city { "1" } else { "0" },
            &d.remarks,
        ])
    }

    pub fn finish(mut self) -> Result<(), csv::Error> {
        self.w.flush()?;
        Ok(())
    }
}
