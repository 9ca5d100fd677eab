//! HL7 FHIR R4: a `collection` Bundle of `Patient` and `Immunization` resources, shaped
//! after the JP Core profiles (JP_Patient, JP_Immunization).
//!
//! JP Core codes vaccines with HOT or YJ codes, which name products; the ledger records
//! the vaccine (MR, DPT-IPV-HIB…), not the product, so `vaccineCode` carries Renkei's own
//! code system (docs/vaccination-csv.md) and the Japanese name as text. Names carry the
//! ISO 21090 representation extension JP Core uses for kanji (IDE) and kana (SYL).

use std::collections::HashMap;
use std::path::Path;

use serde_json::value::RawValue;
use serde_json::{Value, json};

use renkei_core::vaccines;
use renkei_proto::v1::Dose;

use crate::ledger::{
    Field, RawDose, ReadOptions, ReadReport, Terms, add_dose, check_dose, format_date, parse_date,
    resolve_person, today_jst,
};
use crate::model::{LocalMaster, Person, PersonInfo, Sex, canonical_order};
use crate::text::{TextEncoding, read_text};
use crate::{RowError, VaccinationError};

pub const VACCINE_SYSTEM: &str = "http://renkei.invalid/fhir/CodeSystem/vaccine";
pub const OUTSIDE_CITY_URL: &str = "http://renkei.invalid/fhir/StructureDefinition/outside-city";
pub const UAN_SYSTEM_PREFIX: &str =
    "http://renkei.invalid/fhir/NamingSystem/unified-address-number/";
pub const LOCAL_NUMBER_SYSTEM_PREFIX: &str =
    "http://renkei.invalid/fhir/NamingSystem/address-number/";
/// JP Core's identifier system for the 10-digit medical institution code.
pub const INSTITUTION_SYSTEM: &str =
    "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no";
const JP_PATIENT: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient";
const JP_IMMUNIZATION: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Immunization";
const REPRESENTATION: &str = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";
const UNKNOWN_DATE: &str = "接種日不明";

/// A deterministic urn:uuid from a name, so the same data gives the same bundle.
fn uuid_of(name: &str) -> String {
    let h = renkei_crypto::sha256(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0F) | 0x50; // version 5-style (name-based)
    b[8] = (b[8] & 0x3F) | 0x80;
    let x = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

fn split_name(full: &str) -> (String, Vec<String>) {
    let mut parts = full.split(['　', ' ']).filter(|s| !s.is_empty());
    let family = parts.next().unwrap_or("").to_owned();
    (family, parts.map(str::to_owned).collect())
}

fn human_name(text: &str, representation: &str) -> Value {
    let (family, given) = split_name(text);
    let mut n = json!({
        "extension": [{"url": REPRESENTATION, "valueCode": representation}],
        "use": "official",
        "text": text,
    });
    if !family.is_empty() {
        n["family"] = json!(family);
    }
    if !given.is_empty() {
        n["given"] = json!(given);
    }
    n
}

fn patient(city: &str, uan: &str, info: &PersonInfo) -> Value {
    let mut identifier =
        vec![json!({"system": format!("{UAN_SYSTEM_PREFIX}{city}"), "value": uan})];
    if !info.local_number.is_empty() {
        identifier.push(json!({"system": format!("{LOCAL_NUMBER_SYSTEM_PREFIX}{city}"), "value": info.local_number}));
    }
    let mut p = json!({
        "resourceType": "Patient",
        "meta": {"profile": [JP_PATIENT]},
        "identifier": identifier,
    });
    let mut names = Vec::new();
    if !info.name.is_empty() {
        names.push(human_name(&info.name, "IDE"));
    }
    if !info.name_kana.is_empty() {
        names.push(human_name(&info.name_kana, "SYL"));
    }
    if !names.is_empty() {
        p["name"] = json!(names);
    }
    if let Some(s) = info.sex {
        p["gender"] = json!(s.fhir());
    }
    if !info.birth_date.is_empty() {
        p["birthDate"] = json!(info.birth_date);
    }
    p
}

fn immunization(patient_ref: &str, d: &Dose) -> Value {
    let name = vaccines::lookup(&d.vaccine_code).map_or(d.vaccine_code.as_str(), |v| v.name_ja);
    let mut i = json!({
        "resourceType": "Immunization",
        "meta": {"profile": [JP_IMMUNIZATION]},
        "status": "completed",
        "vaccineCode": {
            "coding": [{"system": VACCINE_SYSTEM, "code": d.vaccine_code, "display": name}],
            "text": name,
        },
        "patient": {"reference": patient_ref},
        "protocolApplied": [{"doseNumberPositiveInt": d.dose_number}],
    });
    if d.date_unknown {
        i["occurrenceString"] = json!(UNKNOWN_DATE);
    } else {
        i["occurrenceDateTime"] = json!(d.date);
    }
    if d.outside_city {
        i["extension"] = json!([{"url": OUTSIDE_CITY_URL, "valueBoolean": true}]);
    }
    if !d.lot.is_empty() {
        i["lotNumber"] = json!(d.lot);
    }
    if !d.maker.is_empty() {
        i["manufacturer"] = json!({"display": d.maker});
    }
    if !d.institution_code.is_empty() {
        i["performer"] = json!([{
            "function": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0443", "code": "AP", "display": "Administering Provider"}]},
            "actor": {"identifier": {"system": INSTITUTION_SYSTEM, "value": d.institution_code}},
        }]);
    }
    if !d.remarks.is_empty() {
        i["note"] = json!([{"text": d.remarks}]);
    }
    i
}

/// The whole master as one Bundle.
pub fn to_bundle(city: &str, master: &LocalMaster) -> Value {
    let mut entries = Vec::new();
    for (uan, p) in &master.persons {
        push_person(&mut entries, city, uan, p);
    }
    json!({"resourceType": "Bundle", "type": "collection", "entry": entries})
}

pub fn push_person(entries: &mut Vec<Value>, city: &str, uan: &str, p: &Person) {
    let patient_url = uuid_of(&format!("Patient/{city}/{uan}"));
    entries.push(json!({"fullUrl": patient_url, "resource": patient(city, uan, &p.info)}));
    for d in &p.doses {
        let url = uuid_of(&format!(
            "Immunization/{city}/{uan}/{}/{}/{}",
            d.vaccine_code, d.dose_number, d.date
        ));
        entries.push(json!({"fullUrl": url, "resource": immunization(&patient_url, d)}));
    }
}

/// FHIR elements, as the shared checks name them in their reasons.
fn fhir_name(f: Field) -> &'static str {
    match f {
        Field::LocalNumber => "Patient.identifier (address-number)",
        Field::Uan => "Patient.identifier (unified-address-number)",
        Field::Vaccine => "Immunization.vaccineCode",
        Field::DoseNumber => "Immunization.protocolApplied.doseNumber[x]",
        Field::Date => "Immunization.occurrenceDateTime",
        Field::DateUnknown => "Immunization.occurrenceString",
        Field::Institution => "Immunization.performer.actor.identifier",
        Field::Lot => "Immunization.lotNumber",
        Field::Maker => "Immunization.manufacturer.display",
        Field::Remarks => "Immunization.note.text",
    }
}

fn entry_at(i: u64) -> String {
    format!("Bundle.entry[{i}]")
}

const FHIR_TERMS: Terms = Terms {
    name: fhir_name,
    unknown_date: "give occurrenceString \"接種日不明\" instead",
};

/// Only what the first pass needs of an entry: serde skips the rest without building it.
#[derive(serde::Deserialize)]
struct EntryPeek {
    resource: Option<ResourcePeek>,
}

#[derive(serde::Deserialize)]
struct ResourcePeek {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
}

#[derive(serde::Deserialize)]
struct BundlePeek<'a> {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    #[serde(borrow, default)]
    entry: Option<Vec<&'a RawValue>>,
}

/// Reads a Bundle of Patient and Immunization resources, checking every entry as the CSV
/// reader checks every row: a bad Immunization is reported and left out alone, a bad
/// Patient with its Immunizations; other resources are passed over and counted.
///
/// The file is read whole (a bundle is one JSON value); memory holds its text and the
/// persons, not a parsed tree of the whole bundle, since each entry is parsed on its own.
pub fn read_fhir(path: &Path, opts: &ReadOptions) -> Result<ReadReport, VaccinationError> {
    let (text, enc) = read_text(path, opts.encoding)?;
    let mut report = read_bundle_bytes(&path.display().to_string(), &text, opts, enc)?;
    report.encoding = Some(enc);
    Ok(report)
}

/// Reads a bundle from UTF-8 bytes (a BOM is skipped); `file` names the source in errors.
/// `enc` is the encoding the bytes were decoded from, for the reason of an entry holding
/// bytes that were not valid in it.
pub fn read_bundle_bytes(
    file: &str,
    text: &[u8],
    opts: &ReadOptions,
    enc: TextEncoding,
) -> Result<ReadReport, VaccinationError> {
    let whole = |reason: String| VaccinationError::Format {
        path: file.into(),
        reason,
    };
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    let text = std::str::from_utf8(text).map_err(|e| {
        whole(format!(
            "is not UTF-8 (invalid byte at offset {}); FHIR JSON is UTF-8",
            e.valid_up_to()
        ))
    })?;
    let bundle: BundlePeek<'_> = serde_json::from_str(text).map_err(|e| {
        whole(format!(
            "is not a FHIR JSON Bundle: {e} (a Bundle of Patient and Immunization resources is expected; see docs/vaccination-fhir.md)"
        ))
    })?;
    match bundle.resource_type.as_deref() {
        Some("Bundle") => {}
        other => {
            return Err(whole(format!(
                "resourceType is {}, not Bundle; the input must be a Bundle of Patient and Immunization resources (see docs/vaccination-fhir.md)",
                other.map_or("missing".to_owned(), |t| format!("{t:?}"))
            )));
        }
    }
    let entries = bundle.entry.unwrap_or_default();
    let mut r = BundleReader {
        file,
        opts,
        enc,
        today: opts.today.unwrap_or_else(today_jst),
        report: ReadReport {
            rows: entries.len() as u64,
            ..Default::default()
        },
        lines: Vec::with_capacity(entries.len()),
        patients: HashMap::new(),
        by_uan: HashMap::new(),
        positions: HashMap::new(),
    };
    // The line each entry starts on: entries come in file order, so one pass over the text.
    let base = text.as_ptr() as usize;
    let (mut at, mut line) = (0usize, 1u64);
    for raw in &entries {
        let offset = (raw.get().as_ptr() as usize)
            .saturating_sub(base)
            .min(text.len());
        line += text.as_bytes()[at..offset.max(at)]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        at = offset.max(at);
        r.lines.push(line);
    }
    // Patients first, so an Immunization may come before its Patient.
    let mut immunizations = Vec::new();
    for (i, raw) in entries.iter().enumerate() {
        match r.kind(i, raw) {
            Some(Kind::Patient) => r.patient(i, raw),
            Some(Kind::Immunization) => immunizations.push(i),
            None => {}
        }
    }
    for i in immunizations {
        r.immunization(i, entries[i]);
    }
    let mut report = r.report;
    // A person is a Patient with at least one good Immunization, as a CSV person is one
    // with at least one good row.
    report.master.persons.retain(|_, p| !p.doses.is_empty());
    for p in report.master.persons.values_mut() {
        canonical_order(&mut p.doses);
    }
    Ok(report)
}

enum Kind {
    Patient,
    Immunization,
}

/// What became of a Patient entry, for the Immunizations that refer to it: its person and
/// birth date, or `None` when the Patient was left out.
#[derive(Clone)]
struct PatientSlot {
    entry: u64,
    person: Option<(String, Option<time::Date>)>,
}

struct BundleReader<'a> {
    file: &'a str,
    opts: &'a ReadOptions,
    enc: TextEncoding,
    today: time::Date,
    report: ReadReport,
    /// The line each entry starts on.
    lines: Vec<u64>,
    /// Patients by the references an Immunization may use: the entry's fullUrl, and
    /// `Patient/<id>`.
    patients: HashMap<String, PatientSlot>,
    /// The entry of the Patient of each person, to refuse a second Patient for one person.
    by_uan: HashMap<String, u64>,
    /// The entry of each dose of each person, parallel to `Person::doses` until the sort.
    positions: HashMap<String, Vec<u64>>,
}

type EntryProblem = (Option<&'static str>, String);

fn str_of<'v>(
    v: &'v Value,
    key: &str,
    element: &'static str,
) -> Result<Option<&'v str>, EntryProblem> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err((
            Some(element),
            format!("must be a string, not {}", json_kind(other)),
        )),
    }
}

fn array_of<'v>(
    v: &'v Value,
    key: &str,
    element: &'static str,
) -> Result<&'v [Value], EntryProblem> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err((
            Some(element),
            format!("must be an array, not {}", json_kind(other)),
        )),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The date part of a FHIR date or dateTime, which must name a day: YYYY-MM-DD, optionally
/// followed by a time (`T…`). A partial date (YYYY, YYYY-MM) is refused: the ledger records
/// the day, and "not known" is said otherwise.
fn full_date(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let day = s.get(..10)?;
    let shape = day.bytes().enumerate().all(|(i, c)| {
        if i == 4 || i == 7 {
            c == b'-'
        } else {
            c.is_ascii_digit()
        }
    });
    (shape && (b.len() == 10 || b[10] == b'T')).then_some(day)
}

impl BundleReader<'_> {
    fn bad(&mut self, i: usize, problem: EntryProblem) {
        self.bad_of(i, problem, None);
    }

    /// A bad entry whose person is known (see `RowError::person`).
    fn bad_of(&mut self, i: usize, problem: EntryProblem, person: Option<String>) {
        self.report.errors.push(RowError {
            person,
            file: self.file.into(),
            line: self.lines.get(i).copied().unwrap_or(0),
            entry: Some(i as u64),
            column: problem.0.map(str::to_owned),
            reason: problem.1,
        });
    }

    fn skip(&mut self, what: String) {
        *self.report.skipped.entry(what).or_default() += 1;
    }

    fn kind(&mut self, i: usize, raw: &RawValue) -> Option<Kind> {
        if raw.get().contains('\u{FFFD}') {
            let what = match self.enc {
                TextEncoding::ShiftJis => "Shift_JIS",
                _ => "UTF-8",
            };
            self.bad(i, (None, format!("holds bytes that are not valid {what}")));
            return None;
        }
        let peek: EntryPeek = match serde_json::from_str(raw.get()) {
            Ok(p) => p,
            Err(e) => {
                self.bad(i, (None, format!("is not an entry object: {e}")));
                return None;
            }
        };
        let Some(resource) = peek.resource else {
            self.skip("entry without a resource".into());
            return None;
        };
        match resource.resource_type.as_deref() {
            Some("Patient") => Some(Kind::Patient),
            Some("Immunization") => Some(Kind::Immunization),
            Some(other) => {
                self.skip(other.to_owned());
                None
            }
            None => {
                self.bad(i, (Some("resource.resourceType"), "is missing".to_owned()));
                None
            }
        }
    }

    fn parse(&mut self, i: usize, raw: &RawValue) -> Option<Value> {
        match serde_json::from_str::<Value>(raw.get()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.bad(i, (None, format!("cannot be read: {e}")));
                None
            }
        }
    }

    fn patient(&mut self, i: usize, raw: &RawValue) {
        let Some(entry) = self.parse(i, raw) else {
            return;
        };
        let resource = &entry["resource"];
        let mut refs = Vec::new();
        if let Some(u) = entry.get("fullUrl").and_then(Value::as_str) {
            refs.push(u.to_owned());
        }
        if let Some(id) = resource.get("id").and_then(Value::as_str) {
            refs.push(format!("Patient/{id}"));
        }
        let read = match refs.iter().find_map(|r| self.patients.get(r)) {
            Some(other) => Err((
                Some("fullUrl"),
                format!(
                    "the same fullUrl or id as the Patient of {}: Immunizations could not tell them apart",
                    entry_at(other.entry)
                ),
            )),
            None => self.read_patient(resource),
        };
        let person = match read {
            Ok((uan, person, birth)) => match self.by_uan.get(&uan) {
                Some(&first) => {
                    self.bad(
                        i,
                        (
                            Some(fhir_name(Field::Uan)),
                            format!(
                                "{uan} is also the person of the Patient of {}: give each person one Patient",
                                entry_at(first)
                            ),
                        ),
                    );
                    None
                }
                None => {
                    self.by_uan.insert(uan.clone(), i as u64);
                    self.report.master.persons.insert(uan.clone(), person);
                    Some((uan, birth))
                }
            },
            Err(problem) => {
                self.bad(i, problem);
                None
            }
        };
        let slot = PatientSlot {
            entry: i as u64,
            person,
        };
        for r in refs {
            self.patients.entry(r).or_insert_with(|| slot.clone());
        }
    }

    /// A Patient's person number and basic items, checked as a CSV row's are.
    fn read_patient(
        &self,
        r: &Value,
    ) -> Result<(String, Person, Option<time::Date>), EntryProblem> {
        let (mut uan, mut local) = (None::<&str>, "");
        for id in array_of(r, "identifier", "Patient.identifier")? {
            let system = str_of(id, "system", "Patient.identifier.system")?.unwrap_or("");
            let value = str_of(id, "value", "Patient.identifier.value")?.unwrap_or("");
            if system.starts_with(UAN_SYSTEM_PREFIX) {
                if uan.is_some_and(|u| u != value) {
                    return Err((
                        Some(fhir_name(Field::Uan)),
                        "holds two different unified address numbers".into(),
                    ));
                }
                uan = Some(value);
            } else if system.starts_with(LOCAL_NUMBER_SYSTEM_PREFIX) {
                local = value;
            }
        }
        let uan = resolve_person(
            uan.unwrap_or(""),
            local,
            self.opts.mapping.as_ref(),
            &FHIR_TERMS,
        )
        .map_err(|(f, reason)| (Some(fhir_name(f)), reason))?;
        let mut info = PersonInfo {
            local_number: local.to_owned(),
            ..Default::default()
        };
        for n in array_of(r, "name", "Patient.name")? {
            let mut representation = "";
            for x in array_of(n, "extension", "Patient.name.extension")? {
                if x.get("url").and_then(Value::as_str) == Some(REPRESENTATION) {
                    representation =
                        str_of(x, "valueCode", "Patient.name.extension.valueCode")?.unwrap_or("");
                }
            }
            let text = match str_of(n, "text", "Patient.name.text")? {
                Some(t) => t.to_owned(),
                None => {
                    let mut parts: Vec<&str> = Vec::new();
                    parts.extend(str_of(n, "family", "Patient.name.family")?);
                    for g in array_of(n, "given", "Patient.name.given")? {
                        parts.extend(g.as_str());
                    }
                    parts.join("\u{3000}")
                }
            };
            if text.chars().any(char::is_control) {
                return Err((Some("Patient.name"), "contains control characters".into()));
            }
            match representation {
                "SYL" => info.name_kana = text,
                _ if info.name.is_empty() => info.name = text,
                _ => {}
            }
        }
        info.sex = match str_of(r, "gender", "Patient.gender")? {
            None => None,
            Some("male") => Some(Sex::Male),
            Some("female") => Some(Sex::Female),
            Some("unknown" | "other") => Some(Sex::Unknown),
            Some(g) => {
                return Err((
                    Some("Patient.gender"),
                    format!("{g:?} is not a FHIR gender (male, female, other, unknown)"),
                ));
            }
        };
        let birth = match str_of(r, "birthDate", "Patient.birthDate")? {
            None => None,
            Some(b) => Some(
                full_date(b)
                    .filter(|d| d.len() == b.len())
                    .and_then(parse_date)
                    .ok_or_else(|| {
                        (
                            Some("Patient.birthDate"),
                            format!("{b:?} is not a full date (YYYY-MM-DD)"),
                        )
                    })?,
            ),
        };
        info.birth_date = birth.map(format_date).unwrap_or_default();
        Ok((
            uan,
            Person {
                info,
                doses: Vec::new(),
            },
            birth,
        ))
    }

    fn immunization(&mut self, i: usize, raw: &RawValue) {
        let Some(entry) = self.parse(i, raw) else {
            return;
        };
        let (uan, dose) = match self.read_immunization(&entry["resource"]) {
            Ok(Some(x)) => x,
            Ok(None) => return,
            Err(problem) => {
                self.bad(i, problem);
                return;
            }
        };
        let Some(person) = self.report.master.persons.get_mut(&uan) else {
            return;
        };
        let positions = self.positions.entry(uan.clone()).or_default();
        if let Err(reason) = add_dose(person, positions, dose, i as u64, entry_at) {
            self.bad_of(i, (None, reason), Some(uan));
        }
    }

    /// An Immunization's person and dose, checked as a CSV row's are; `None` for one that
    /// records no dose given (passed over and counted).
    fn read_immunization(&mut self, r: &Value) -> Result<Option<(String, Dose)>, EntryProblem> {
        let patient = r.get("patient").unwrap_or(&Value::Null);
        let reference = str_of(patient, "reference", "Immunization.patient.reference")?.ok_or((
            Some("Immunization.patient.reference"),
            "is missing: an Immunization must name its Patient".to_owned(),
        ))?;
        let (uan, birth) = match self.patients.get(reference) {
            None => {
                return Err((
                    Some("Immunization.patient.reference"),
                    format!(
                        "{reference:?} is not the fullUrl (or Patient/id) of a Patient in the bundle"
                    ),
                ));
            }
            Some(PatientSlot {
                entry,
                person: None,
            }) => {
                return Err((
                    Some("Immunization.patient.reference"),
                    format!(
                        "its Patient ({}) was left out, so its doses are too",
                        entry_at(*entry)
                    ),
                ));
            }
            Some(PatientSlot {
                person: Some((uan, birth)),
                ..
            }) => (uan.clone(), *birth),
        };
        match str_of(r, "status", "Immunization.status")? {
            Some("completed") => {}
            Some(s @ ("not-done" | "entered-in-error")) => {
                self.skip(format!("Immunization with status {s}"));
                return Ok(None);
            }
            Some(s) => {
                return Err((
                    Some("Immunization.status"),
                    format!("{s:?} is not a status (completed, not-done, entered-in-error)"),
                ));
            }
            None => {
                return Err((Some("Immunization.status"), "is missing".into()));
            }
        }
        let vaccine_code = r.get("vaccineCode").unwrap_or(&Value::Null);
        let mut vaccine = None;
        for c in array_of(vaccine_code, "coding", "Immunization.vaccineCode.coding")? {
            if c.get("system").and_then(Value::as_str) == Some(VACCINE_SYSTEM) {
                vaccine = str_of(c, "code", "Immunization.vaccineCode.coding.code")?;
            }
        }
        let Some(vaccine) = vaccine else {
            return Err((
                Some(fhir_name(Field::Vaccine)),
                format!(
                    "has no coding of the system {VACCINE_SYSTEM} (JP Core HOT/YJ codes name products, not the vaccines the ledger records; see docs/vaccination-fhir.md)"
                ),
            ));
        };
        let protocol = array_of(r, "protocolApplied", "Immunization.protocolApplied")?;
        let dose_number = match protocol
            .first()
            .map(|p| (p.get("doseNumberPositiveInt"), p.get("doseNumberString")))
        {
            Some((Some(Value::Number(n)), _)) => n.to_string(),
            Some((_, Some(Value::String(s)))) => s.clone(),
            Some((Some(other), _) | (_, Some(other))) => {
                return Err((
                    Some(fhir_name(Field::DoseNumber)),
                    format!("must be a positive integer, not {}", json_kind(other)),
                ));
            }
            _ => {
                return Err((
                    Some(fhir_name(Field::DoseNumber)),
                    "is missing: the dose number is protocolApplied[0].doseNumberPositiveInt"
                        .into(),
                ));
            }
        };
        let date_time = str_of(r, "occurrenceDateTime", "Immunization.occurrenceDateTime")?;
        let date_text = str_of(r, "occurrenceString", "Immunization.occurrenceString")?;
        let (date, date_unknown) = match (date_time, date_text) {
            (Some(_), Some(_)) => {
                return Err((
                    Some("Immunization.occurrence[x]"),
                    "has both occurrenceDateTime and occurrenceString; give one".into(),
                ));
            }
            (Some(d), None) => (
                full_date(d).ok_or_else(|| {
                    (
                        Some(fhir_name(Field::Date)),
                        format!(
                            "{d:?} does not name a day (YYYY-MM-DD[Thh:mm:ss…]); for a dose whose day is not known give occurrenceString \"{UNKNOWN_DATE}\""
                        ),
                    )
                })?,
                false,
            ),
            (None, Some(_)) => ("", true),
            (None, None) => ("", false),
        };
        let mut outside_city = false;
        for x in array_of(r, "extension", "Immunization.extension")? {
            if x.get("url").and_then(Value::as_str) == Some(OUTSIDE_CITY_URL) {
                outside_city = match x.get("valueBoolean") {
                    Some(Value::Bool(b)) => *b,
                    _ => {
                        return Err((
                            Some("Immunization.extension (outside-city)"),
                            "must have a boolean valueBoolean".into(),
                        ));
                    }
                };
            }
        }
        let lot = str_of(r, "lotNumber", "Immunization.lotNumber")?.unwrap_or("");
        let maker = match r.get("manufacturer") {
            Some(m) => str_of(m, "display", fhir_name(Field::Maker))?.unwrap_or(""),
            None => "",
        };
        let mut institution = "";
        for p in array_of(r, "performer", "Immunization.performer")? {
            let id = p
                .get("actor")
                .and_then(|a| a.get("identifier"))
                .unwrap_or(&Value::Null);
            if id.get("system").and_then(Value::as_str) == Some(INSTITUTION_SYSTEM) {
                institution = str_of(id, "value", fhir_name(Field::Institution))?.unwrap_or("");
            }
        }
        let mut notes = Vec::new();
        for n in array_of(r, "note", "Immunization.note")? {
            notes.extend(str_of(n, "text", fhir_name(Field::Remarks))?);
        }
        let remarks = notes.join("; ");
        let dose = check_dose(
            &RawDose {
                vaccine,
                dose_number: &dose_number,
                date,
                date_unknown,
                lot,
                maker,
                institution,
                outside_city,
                remarks: &remarks,
            },
            birth,
            self.today,
            &FHIR_TERMS,
        )
        .map_err(|(f, reason)| (Some(fhir_name(f)), reason))?;
        Ok(Some((uan, dose)))
    }
}
