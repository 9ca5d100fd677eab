//! The local master (正本) as the adapter holds it: persons keyed by unified address
//! number, each with the four basic items when the source carries them and the doses on
//! record. Doses are the gateway's own `Dose` message, so what is compared, hashed and
//! sent is exactly what the gateway stores.

use std::collections::BTreeMap;

use prost::Message as _;
use renkei_proto::v1::{Content, Dose, VaccinationHistory, content};

/// 性別, coded as in the resident register (1 男, 2 女, 9 不明).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Male,
    Female,
    Unknown,
}

impl Sex {
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
            Sex::Unknown => "9",
        }
    }

    pub fn parse(s: &str) -> Option<Sex> {
        match s {
            "1" | "男" | "M" | "male" => Some(Sex::Male),
            "2" | "女" | "F" | "female" => Some(Sex::Female),
            "9" | "" | "不明" => Some(Sex::Unknown),
            _ => None,
        }
    }

    /// FHIR `Patient.gender`.
    pub fn fhir(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
            Sex::Unknown => "unknown",
        }
    }
}

/// The basic items of a person, as the vaccination system knows them. They stay on the
/// municipality's side: nothing here is ever sent to the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonInfo {
    /// The vaccination system's own person number (宛名番号 / 業務固有番号).
    pub local_number: String,
    pub name: String,
    pub name_kana: String,
    /// YYYY-MM-DD; empty when unknown.
    pub birth_date: String,
    pub sex: Option<Sex>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Person {
    pub info: PersonInfo,
    pub doses: Vec<Dose>,
}

impl Person {
    /// The vaccination history in canonical order, as registered with the gateway.
    pub fn history(&self) -> VaccinationHistory {
        let mut doses = self.doses.clone();
        canonical_order(&mut doses);
        VaccinationHistory { doses }
    }
}

/// Doses in a fixed order (dated ones by date, then those of unknown date), so the same
/// records always encode to the same bytes whatever order the source file had.
pub fn canonical_order(doses: &mut [Dose]) {
    doses.sort_by(|a, b| {
        (a.date_unknown, &a.date, &a.vaccine_code, a.dose_number).cmp(&(
            b.date_unknown,
            &b.date,
            &b.vaccine_code,
            b.dose_number,
        ))
    });
}

/// Two records name the same dose when vaccine and dose number agree and the dates agree
/// or one of them is unknown (a questionnaire record of a dose later documented).
pub fn same_dose(a: &Dose, b: &Dose) -> bool {
    a.vaccine_code == b.vaccine_code
        && a.dose_number == b.dose_number
        && (a.date == b.date || a.date_unknown || b.date_unknown)
}

pub fn content_of(history: VaccinationHistory) -> Content {
    Content {
        body: Some(content::Body::Vaccination(history)),
    }
}

/// The encoding of `content_of(VaccinationHistory { doses })` without building (and so
/// cloning) the message: the hashing pass of a sync touches every person.
pub fn encode_content(doses: &[Dose]) -> Vec<u8> {
    use prost::encoding::{WireType, encode_key, encode_varint, message};
    let mut inner = Vec::with_capacity(doses.len() * 64);
    for d in doses {
        message::encode(1, d, &mut inner);
    }
    let mut out = Vec::with_capacity(inner.len() + 8);
    encode_key(1, WireType::LengthDelimited, &mut out);
    encode_varint(inner.len() as u64, &mut out);
    out.extend_from_slice(&inner);
    out
}

/// SHA-256 of a person's content in canonical order, sorting a copy only when needed.
pub fn person_sha256(p: &Person) -> [u8; 32] {
    let sorted = p.doses.is_sorted_by(|a, b| {
        (a.date_unknown, &a.date, &a.vaccine_code, a.dose_number)
            <= (b.date_unknown, &b.date, &b.vaccine_code, b.dose_number)
    });
    if sorted {
        renkei_crypto::sha256(&encode_content(&p.doses))
    } else {
        renkei_crypto::sha256(&encode_content(&p.history().doses))
    }
}

/// Hex SHA-256 of the encoded content: the same value the gateway reports as
/// `content_sha256` on export, so a state file and an export can be compared directly.
pub fn content_sha256(content: &Content) -> String {
    hex::encode(renkei_crypto::sha256(&content.encode_to_vec()))
}

/// The local master: persons by unified address number.
#[derive(Debug, Clone, Default)]
pub struct LocalMaster {
    pub persons: BTreeMap<String, Person>,
}

impl LocalMaster {
    pub fn dose_count(&self) -> usize {
        self.persons.values().map(|p| p.doses.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_content_is_the_messages_encoding() {
        let d = |code: &str, n: u32, date: &str| Dose {
            vaccine_code: code.into(),
            dose_number: n,
            date: date.into(),
            lot: "L1".into(),
            ..Default::default()
        };
        for doses in [
            vec![],
            vec![d("MR", 1, "2020-01-01"), d("BCG", 1, "2019-06-01")],
        ] {
            let expected = content_of(VaccinationHistory {
                doses: doses.clone(),
            })
            .encode_to_vec();
            assert_eq!(encode_content(&doses), expected);
        }
        let p = Person {
            doses: vec![d("MR", 1, "2020-01-01"), d("BCG", 1, "2019-06-01")],
            ..Default::default()
        };
        assert_eq!(
            person_sha256(&p),
            renkei_crypto::sha256(&content_of(p.history()).encode_to_vec())
        );
    }
}
