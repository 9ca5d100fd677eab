//! HL7 FHIR R4: a `collection` Bundle of `Patient` and `Immunization` resources, shaped
//! after the JP Core profiles (JP_Patient, JP_Immunization).
//!
//! JP Core codes vaccines with HOT or YJ codes, which name products; the ledger records
//! the vaccine (MR, DPT-IPV-HIB…), not the product, so `vaccineCode` carries Renkei's own
//! code system (docs/vaccination-csv.md) and the Japanese name as text. Names carry the
//! ISO 21090 representation extension JP Core uses for kanji (IDE) and kana (SYL).

use serde_json::{Value, json};

use renkei_core::vaccines;
use renkei_proto::v1::Dose;

use crate::VaccinationError;
use crate::model::{LocalMaster, Person, PersonInfo, Sex, canonical_order};

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

fn s(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().map(str::to_owned)
}

/// Reads a Bundle written by [`to_bundle`] (or any bundle using the same systems) back
/// into a master. A resource that cannot be read is an error naming its entry.
pub fn from_bundle(bundle: &Value) -> Result<LocalMaster, VaccinationError> {
    let bad = |i: usize, why: &str| VaccinationError::Invalid(format!("bundle entry {i}: {why}"));
    let entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .ok_or_else(|| VaccinationError::Invalid("not a Bundle with entries".into()))?;
    let mut master = LocalMaster::default();
    let mut by_url = std::collections::HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        let r = &e["resource"];
        if r["resourceType"] != "Patient" {
            continue;
        }
        let mut uan = None;
        let mut info = PersonInfo::default();
        for id in r["identifier"].as_array().into_iter().flatten() {
            let system = id["system"].as_str().unwrap_or("");
            let value = id["value"].as_str().unwrap_or("").to_owned();
            if system.starts_with(UAN_SYSTEM_PREFIX) {
                uan = Some(value);
            } else if system.starts_with(LOCAL_NUMBER_SYSTEM_PREFIX) {
                info.local_number = value;
            }
        }
        let uan =
            uan.ok_or_else(|| bad(i, "the Patient has no unified address number identifier"))?;
        for n in r["name"].as_array().into_iter().flatten() {
            let rep = n["extension"][0]["valueCode"].as_str().unwrap_or("");
            let text = n["text"].as_str().unwrap_or("").to_owned();
            match rep {
                "SYL" => info.name_kana = text,
                _ => info.name = text,
            }
        }
        info.sex = r["gender"].as_str().map(|g| match g {
            "male" => Sex::Male,
            "female" => Sex::Female,
            _ => Sex::Unknown,
        });
        info.birth_date = s(r, &["birthDate"]).unwrap_or_default();
        let url = e["fullUrl"].as_str().unwrap_or("").to_owned();
        by_url.insert(url, uan.clone());
        master.persons.insert(
            uan,
            Person {
                info,
                doses: Vec::new(),
            },
        );
    }
    for (i, e) in entries.iter().enumerate() {
        let r = &e["resource"];
        if r["resourceType"] != "Immunization" {
            continue;
        }
        let reference = s(r, &["patient", "reference"]).unwrap_or_default();
        let uan = by_url
            .get(&reference)
            .ok_or_else(|| bad(i, "the Immunization's patient is not in the bundle"))?;
        let code = r["vaccineCode"]["coding"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["system"] == VACCINE_SYSTEM)
            .and_then(|c| c["code"].as_str())
            .ok_or_else(|| bad(i, "no vaccine code of the Renkei vaccine code system"))?;
        let dose_number = r["protocolApplied"][0]["doseNumberPositiveInt"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| bad(i, "no protocolApplied.doseNumberPositiveInt"))?;
        let (date, date_unknown) = match s(r, &["occurrenceDateTime"]) {
            Some(d) => (d.get(..10).unwrap_or(&d).to_owned(), false),
            None => (String::new(), true),
        };
        let outside_city = r["extension"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| x["url"] == OUTSIDE_CITY_URL && x["valueBoolean"] == true);
        let dose = Dose {
            vaccine_code: code.to_owned(),
            dose_number,
            date,
            date_unknown,
            lot: s(r, &["lotNumber"]).unwrap_or_default(),
            maker: s(r, &["manufacturer", "display"]).unwrap_or_default(),
            institution_code: r["performer"][0]["actor"]["identifier"]["value"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            outside_city,
            remarks: r["note"][0]["text"].as_str().unwrap_or("").to_owned(),
        };
        if let Some(p) = master.persons.get_mut(uan) {
            p.doses.push(dose);
        }
    }
    for p in master.persons.values_mut() {
        canonical_order(&mut p.doses);
    }
    Ok(master)
}
