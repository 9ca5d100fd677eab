use std::collections::HashMap;

use renkei_core::AgencyCode;
use renkei_proto::v1::{Agency, AgencyKind, MasterBundle, WhitelistEntry};

use crate::MasterError;

/// A verified bundle, indexed for the lookups done on every exchange.
#[derive(Debug, Clone)]
pub struct MasterData {
    bundle: MasterBundle,
    by_code: HashMap<String, usize>,
}

/// Why the whitelist does not allow an exchange. Messages name the rule so an operator
/// can tell what would have been allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhitelistRefusal {
    UnknownAgency { code: String },
    NotAllowed { message: String },
}

impl WhitelistRefusal {
    pub fn message(&self) -> String {
        match self {
            WhitelistRefusal::UnknownAgency { code } => {
                format!("agency {code} is not in the agency directory")
            }
            WhitelistRefusal::NotAllowed { message } => message.clone(),
        }
    }
}

/// Japanese label of an agency kind, as the 主務省令 table names the parties.
pub fn kind_name(kind: i32) -> &'static str {
    match AgencyKind::try_from(kind).unwrap_or(AgencyKind::Unspecified) {
        AgencyKind::Municipality => "市町村長 (municipality)",
        AgencyKind::Prefecture => "都道府県知事 (prefecture)",
        AgencyKind::Insurer => "医療保険者 (medical insurer)",
        AgencyKind::Pension => "年金給付の支払者 (pension payer)",
        AgencyKind::Unspecified => "unspecified",
    }
}

impl MasterData {
    pub fn new(bundle: MasterBundle) -> Result<Self, MasterError> {
        Self::validate(&bundle)?;
        let by_code = bundle
            .agencies
            .iter()
            .enumerate()
            .map(|(i, a)| (a.code.clone(), i))
            .collect();
        Ok(MasterData { bundle, by_code })
    }

    /// Structural checks a gateway applies before trusting a bundle, beyond its signature.
    pub(crate) fn validate(bundle: &MasterBundle) -> Result<(), MasterError> {
        let bad = |m: String| MasterError::Bundle(m);
        let mut seen = std::collections::HashSet::new();
        for a in &bundle.agencies {
            AgencyCode::parse(&a.code).map_err(|e| bad(e.to_string()))?;
            if !seen.insert(a.code.as_str()) {
                return Err(bad(format!("agency {} is listed twice", a.code)));
            }
            for (what, key) in [
                ("signing", &a.signing_public_key),
                ("encryption", &a.encryption_public_key),
            ] {
                if !key.is_empty() && key.len() != 32 {
                    return Err(bad(format!("agency {} has a malformed {what} key", a.code)));
                }
            }
        }
        for e in &bundle.whitelist {
            if e.item == 0 || e.procedure.is_empty() {
                return Err(bad("a whitelist entry lacks an item or a procedure".into()));
            }
        }
        Ok(())
    }

    pub fn bundle(&self) -> &MasterBundle {
        &self.bundle
    }

    pub fn version(&self) -> u64 {
        self.bundle.version
    }

    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.bundle.expires_at_ms != 0 && now_ms >= self.bundle.expires_at_ms
    }

    pub fn agency(&self, code: &str) -> Option<&Agency> {
        self.by_code
            .get(code)
            .and_then(|&i| self.bundle.agencies.get(i))
    }

    /// Display name of an agency, falling back to its code.
    pub fn name_of(&self, code: &str) -> String {
        self.agency(code)
            .map_or_else(|| code.to_owned(), |a| a.name.clone())
    }

    fn entry_allows(entry: &WhitelistEntry, inquirer: &Agency, provider: &Agency) -> bool {
        let party_ok = |kind: i32, codes: &[String], a: &Agency| {
            a.kind == kind && (codes.is_empty() || codes.iter().any(|c| c == &a.code))
        };
        party_ok(entry.inquirer_kind, &entry.inquirer_codes, inquirer)
            && party_ok(entry.provider_kind, &entry.provider_codes, provider)
    }

    /// The whitelist check (照会許可用照合リストとの照合) for one exchange.
    pub fn check(
        &self,
        inquirer: &str,
        provider: &str,
        procedure: &str,
        item: u32,
    ) -> Result<&WhitelistEntry, WhitelistRefusal> {
        let unknown = |code: &str| WhitelistRefusal::UnknownAgency {
            code: code.to_owned(),
        };
        let inq = self.agency(inquirer).ok_or_else(|| unknown(inquirer))?;
        let prov = self.agency(provider).ok_or_else(|| unknown(provider))?;
        let candidates: Vec<&WhitelistEntry> = self
            .bundle
            .whitelist
            .iter()
            .filter(|e| e.item == item)
            .collect();
        if let Some(e) = candidates
            .iter()
            .find(|e| e.procedure == procedure && Self::entry_allows(e, inq, prov))
        {
            return Ok(e);
        }
        let message = if candidates.is_empty() {
            format!("item {item} is not on the whitelist (照会許可用照合リスト) at all")
        } else if let Some(e) = candidates.iter().find(|e| e.procedure == procedure) {
            format!(
                "item {item} ({}, 旧別表第二 {}) under procedure {procedure:?} may be asked by a {} of a {}; \
                 here {} ({}) asks {} ({}), a {}",
                e.information,
                e.old_item,
                kind_name(e.inquirer_kind),
                kind_name(e.provider_kind),
                inq.name,
                inq.code,
                prov.name,
                prov.code,
                kind_name(prov.kind),
            )
        } else {
            let procs: Vec<&str> = candidates.iter().map(|e| e.procedure.as_str()).collect();
            format!(
                "item {item} is not allowed under procedure {procedure:?}; it is listed only under {}",
                procs.join(", ")
            )
        };
        Err(WhitelistRefusal::NotAllowed { message })
    }

    /// Whitelist items an agency may be asked for: what its provision copies may hold.
    pub fn items_provided_by(&self, provider: &str) -> Vec<u32> {
        let Some(prov) = self.agency(provider) else {
            return Vec::new();
        };
        let mut items: Vec<u32> = self
            .bundle
            .whitelist
            .iter()
            .filter(|e| {
                e.provider_kind == prov.kind
                    && (e.provider_codes.is_empty()
                        || e.provider_codes.iter().any(|c| c == &prov.code))
            })
            .map(|e| e.item)
            .collect();
        items.sort_unstable();
        items.dedup();
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agency(code: &str, kind: AgencyKind) -> Agency {
        Agency {
            code: code.into(),
            name: format!("A{code}"),
            kind: kind as i32,
            ..Default::default()
        }
    }

    fn data() -> MasterData {
        let entry = |item, procedure: &str, ik: AgencyKind, pk: AgencyKind| WhitelistEntry {
            item,
            old_item: "x".into(),
            procedure: procedure.into(),
            procedure_name: "p".into(),
            information: "info".into(),
            inquirer_kind: ik as i32,
            provider_kind: pk as i32,
            ..Default::default()
        };
        MasterData::new(MasterBundle {
            version: 1,
            agencies: vec![
                agency("011002", AgencyKind::Municipality),
                agency("141003", AgencyKind::Municipality),
                agency("010006", AgencyKind::Prefecture),
            ],
            whitelist: vec![
                entry(
                    25,
                    "vaccination",
                    AgencyKind::Municipality,
                    AgencyKind::Municipality,
                ),
                entry(
                    26,
                    "vaccination",
                    AgencyKind::Prefecture,
                    AgencyKind::Municipality,
                ),
            ],
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn allows_listed_tuples_only() {
        let d = data();
        assert!(d.check("011002", "141003", "vaccination", 25).is_ok());
        assert!(d.check("010006", "141003", "vaccination", 26).is_ok());
        let e = d.check("011002", "141003", "vaccination", 26).unwrap_err();
        assert!(
            e.message().contains("may be asked by a 都道府県知事"),
            "{}",
            e.message()
        );
        let e = d.check("011002", "141003", "other", 25).unwrap_err();
        assert!(
            e.message().contains("listed only under vaccination"),
            "{}",
            e.message()
        );
        let e = d.check("011002", "141003", "vaccination", 99).unwrap_err();
        assert!(
            e.message().contains("not on the whitelist"),
            "{}",
            e.message()
        );
        assert_eq!(
            d.check("011002", "130001", "vaccination", 25).unwrap_err(),
            WhitelistRefusal::UnknownAgency {
                code: "130001".into()
            }
        );
    }

    #[test]
    fn provided_items_follow_the_whitelist() {
        assert_eq!(data().items_provided_by("141003"), vec![25, 26]);
        assert!(data().items_provided_by("010006").is_empty());
    }

    #[test]
    fn duplicate_agencies_are_refused() {
        let b = MasterBundle {
            agencies: vec![agency("011002", AgencyKind::Municipality); 2],
            ..Default::default()
        };
        assert!(MasterData::new(b).is_err());
    }
}
