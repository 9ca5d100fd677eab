//! 情報提供データベース管理: provision copies (副本), their format checks, export and
//! deletion. A copy is stored under `item (4 bytes BE) ‖ unified address number`.

use prost::Message as _;
use renkei_core::{UnifiedAddressNumber, now_ms, vaccines};
use renkei_proto::v1::{BulkSummary, Content, Dose, ProvisionCopy, content};
use renkei_store::Batch;

use crate::GatewayError;
use crate::symbols::push_error;
use crate::tenant::Tenant;

/// Why one copy was refused: the field (a path into the message) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopyProblem {
    pub(crate) field: String,
    pub(crate) reason: String,
}

fn problem(field: impl Into<String>, reason: impl Into<String>) -> CopyProblem {
    CopyProblem {
        field: field.into(),
        reason: reason.into(),
    }
}

pub(crate) fn copy_key(item: u32, uan: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + uan.len());
    k.extend_from_slice(&item.to_be_bytes());
    k.extend_from_slice(uan.as_bytes());
    k
}

const MAX_DOSES: usize = 500;

fn check_dose(i: usize, d: &Dose, today: time::Date) -> Result<(), CopyProblem> {
    let f = |name: &str| format!("copy.content.vaccination.doses[{i}].{name}");
    let Some(v) = vaccines::lookup(&d.vaccine_code) else {
        return Err(problem(
            f("vaccine_code"),
            format!(
                "{:?} is not a known vaccine code (see docs/vaccination-csv.md)",
                d.vaccine_code.chars().take(20).collect::<String>()
            ),
        ));
    };
    if d.dose_number == 0 || d.dose_number > v.max_doses {
        return Err(problem(
            f("dose_number"),
            format!(
                "{} for {} ({}) must be 1 to {}",
                d.dose_number, v.code, v.name_ja, v.max_doses
            ),
        ));
    }
    if d.date_unknown {
        if !d.date.is_empty() {
            return Err(problem(f("date"), "must be empty when date_unknown is set"));
        }
    } else {
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        let date = time::Date::parse(&d.date, &fmt).map_err(|_| {
            problem(
                f("date"),
                format!(
                    "{:?} is not a date in YYYY-MM-DD form (set date_unknown for 接種日不明)",
                    d.date.chars().take(20).collect::<String>()
                ),
            )
        })?;
        if date > today {
            return Err(problem(f("date"), format!("{} is in the future", d.date)));
        }
        if date.year() < 1900 {
            return Err(problem(f("date"), format!("{} is before 1900", d.date)));
        }
    }
    if !(d.institution_code.is_empty()
        || (d.institution_code.len() == 10
            && d.institution_code.bytes().all(|b| b.is_ascii_digit())))
    {
        return Err(problem(
            f("institution_code"),
            "must be empty or 10 digits (医療機関コード)",
        ));
    }
    for (name, value, max) in [
        ("lot", &d.lot, 20),
        ("maker", &d.maker, 40),
        ("remarks", &d.remarks, 200),
    ] {
        if value.chars().count() > max {
            return Err(problem(f(name), format!("is longer than {max} characters")));
        }
        if value.chars().any(char::is_control) {
            return Err(problem(f(name), "contains control characters"));
        }
    }
    Ok(())
}

fn today_jst() -> time::Date {
    time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC))
        .date()
}

/// The format check (形式チェック) every copy passes before it is stored.
pub(crate) fn check_copy(
    copy: &ProvisionCopy,
    allowed_items: &[u32],
) -> Result<UnifiedAddressNumber, CopyProblem> {
    check_copy_on(copy, allowed_items, today_jst())
}

/// [`check_copy`] against a given today (a bulk import computes it once per batch).
fn check_copy_on(
    copy: &ProvisionCopy,
    allowed_items: &[u32],
    today: time::Date,
) -> Result<UnifiedAddressNumber, CopyProblem> {
    let uan = UnifiedAddressNumber::parse(&copy.unified_address_number)
        .map_err(|e| problem("copy.unified_address_number", e.to_string()))?;
    if !allowed_items.contains(&copy.item) {
        return Err(problem(
            "copy.item",
            format!(
                "item {} is not one this agency provides under the whitelist (provided items: {:?})",
                copy.item, allowed_items
            ),
        ));
    }
    let Some(Content {
        body: Some(content::Body::Vaccination(history)),
    }) = &copy.content
    else {
        return Err(problem("copy.content", "a vaccination history is required"));
    };
    if history.doses.len() > MAX_DOSES {
        return Err(problem(
            "copy.content.vaccination.doses",
            format!("more than {MAX_DOSES} doses"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, d) in history.doses.iter().enumerate() {
        check_dose(i, d, today)?;
        if !d.date_unknown && !seen.insert((&d.vaccine_code, d.dose_number, &d.date)) {
            return Err(problem(
                format!("copy.content.vaccination.doses[{i}]"),
                format!(
                    "duplicates an earlier dose ({} dose {} on {})",
                    d.vaccine_code, d.dose_number, d.date
                ),
            ));
        }
    }
    Ok(uan)
}

impl Tenant {
    /// Checks a copy and encodes it for storage; a refusal hands back the copy's number
    /// for the error report. The copy is taken by value and its content encoded once
    /// (for its hash and the stored record).
    fn prepare(
        &self,
        copy: ProvisionCopy,
        allowed: &[u32],
        today: time::Date,
    ) -> Result<(Vec<u8>, Vec<u8>), (String, CopyProblem)> {
        let uan = match check_copy_on(&copy, allowed, today) {
            Ok(u) => u,
            Err(p) => return Err((copy.unified_address_number, p)),
        };
        let refuse = |p| Err((copy.unified_address_number.clone(), p));
        match self.is_registered(&uan) {
            Ok(true) => {}
            Ok(false) => {
                return refuse(problem(
                    "copy.unified_address_number",
                    format!("{uan} is not registered with this gateway"),
                ));
            }
            Err(e) => return refuse(problem("copy", e.to_string())),
        }
        let content_bytes = copy
            .content
            .as_ref()
            .map(|c| c.encode_to_vec())
            .unwrap_or_default();
        let sha = hex::encode(renkei_crypto::sha256(&content_bytes));
        Ok((
            copy_key(copy.item, uan.as_str()),
            encode_stored(uan.as_str(), copy.item, &content_bytes, now_ms(), &sha),
        ))
    }

    pub(crate) async fn put_copy(
        &self,
        copy: ProvisionCopy,
        allowed: &[u32],
    ) -> Result<bool, GatewayError> {
        let (key, stored) = self
            .prepare(copy, allowed, today_jst())
            .map_err(|(_, p)| GatewayError::invalid(p.field, p.reason))?;
        let replaced = self.trees.copies.insert(key, stored)?.is_some();
        self.commit().await?;
        Ok(replaced)
    }

    /// Stores the good copies of a batch and lists the bad ones; the caller commits.
    pub(crate) fn import_batch(
        &self,
        first_index: u64,
        copies: Vec<ProvisionCopy>,
        allowed: &[u32],
        summary: &mut BulkSummary,
    ) -> Result<(), GatewayError> {
        let today = today_jst();
        let mut batch = Batch::default();
        for (i, copy) in copies.into_iter().enumerate() {
            match self.prepare(copy, allowed, today) {
                Ok((key, stored)) => {
                    batch.insert(key, stored);
                    summary.accepted += 1;
                }
                Err((number, p)) => {
                    push_error(summary, first_index + i as u64, &number, &p.field, p.reason)
                }
            }
        }
        self.trees.copies.apply_batch(batch)?;
        Ok(())
    }

    pub(crate) fn get_copy(
        &self,
        item: u32,
        uan: &str,
    ) -> Result<Option<ProvisionCopy>, GatewayError> {
        match self.trees.copies.get(copy_key(item, uan))? {
            Some(v) => Ok(Some(
                ProvisionCopy::decode(v.as_ref())
                    .map_err(|e| GatewayError::Corrupt(e.to_string()))?,
            )),
            None => Ok(None),
        }
    }

    /// Copies in key order (by item, then unified address number), for reconciliation.
    pub(crate) fn export_copies(
        &self,
        item: u32,
    ) -> impl Iterator<Item = Result<ProvisionCopy, GatewayError>> + Send + 'static {
        let iter = if item == 0 {
            self.trees.copies.iter()
        } else {
            self.trees.copies.scan_prefix(item.to_be_bytes())
        };
        iter.map(|r| {
            let (_, v) = r?;
            ProvisionCopy::decode(v.as_ref()).map_err(|e| GatewayError::Corrupt(e.to_string()))
        })
    }

    pub(crate) async fn delete_copy(&self, uan: &str, item: u32) -> Result<bool, GatewayError> {
        let uan = UnifiedAddressNumber::parse(uan)
            .map_err(|e| GatewayError::from_core("unified_address_number", e))?;
        let existed = self
            .trees
            .copies
            .remove(copy_key(item, uan.as_str()))?
            .is_some();
        self.commit().await?;
        Ok(existed)
    }
}

/// The encoding of `ProvisionCopy { unified_address_number, item, content, updated_at_ms,
/// content_sha256 }`, with the content given already encoded (it was encoded once for its
/// hash; encoding the message would encode it again).
fn encode_stored(uan: &str, item: u32, content: &[u8], at_ms: i64, sha: &str) -> Vec<u8> {
    use prost::encoding::{WireType, encode_key, encode_varint};
    let mut out = Vec::with_capacity(content.len() + uan.len() + sha.len() + 32);
    let bytes = |tag: u32, b: &[u8], out: &mut Vec<u8>| {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(b.len() as u64, out);
        out.extend_from_slice(b);
    };
    // proto3: fields at their default value are not encoded (content is a message, and
    // is present).
    if !uan.is_empty() {
        bytes(1, uan.as_bytes(), &mut out);
    }
    if item != 0 {
        encode_key(2, WireType::Varint, &mut out);
        encode_varint(u64::from(item), &mut out);
    }
    bytes(3, content, &mut out);
    if at_ms != 0 {
        encode_key(4, WireType::Varint, &mut out);
        // int64 is encoded as the two's complement bits, as prost does.
        encode_varint(at_ms as u64, &mut out);
    }
    if !sha.is_empty() {
        bytes(5, sha.as_bytes(), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_proto::v1::VaccinationHistory;

    fn copy(doses: Vec<Dose>) -> ProvisionCopy {
        ProvisionCopy {
            unified_address_number: "1001".into(),
            item: 25,
            content: Some(Content {
                body: Some(content::Body::Vaccination(VaccinationHistory { doses })),
            }),
            ..Default::default()
        }
    }

    fn dose(code: &str, n: u32, date: &str) -> Dose {
        Dose {
            vaccine_code: code.into(),
            dose_number: n,
            date: date.into(),
            ..Default::default()
        }
    }

    #[test]
    fn stored_encoding_is_the_messages() {
        let c = copy(vec![dose("MR", 1, "2020-04-01")]);
        let content = c.content.clone().unwrap();
        let bytes = content.encode_to_vec();
        let expected = ProvisionCopy {
            unified_address_number: "1001".into(),
            item: 25,
            content: Some(content),
            updated_at_ms: 1_700_000_000_123,
            content_sha256: "ab".repeat(32),
        };
        assert_eq!(
            encode_stored("1001", 25, &bytes, 1_700_000_000_123, &"ab".repeat(32)),
            expected.encode_to_vec()
        );
    }

    #[test]
    fn good_copies_pass() {
        let c = copy(vec![
            dose("MR", 1, "2020-04-01"),
            dose("MR", 2, "2024-04-01"),
        ]);
        assert!(check_copy(&c, &[25]).is_ok());
        let unknown = Dose {
            vaccine_code: "BCG".into(),
            dose_number: 1,
            date_unknown: true,
            ..Default::default()
        };
        assert!(check_copy(&copy(vec![unknown]), &[25]).is_ok());
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (
                copy(vec![dose("XX", 1, "2020-01-01")]),
                "doses[0].vaccine_code",
            ),
            (
                copy(vec![dose("MR", 3, "2020-01-01")]),
                "doses[0].dose_number",
            ),
            (copy(vec![dose("MR", 1, "2020-13-01")]), "doses[0].date"),
            (copy(vec![dose("MR", 1, "2999-01-01")]), "doses[0].date"),
            (copy(vec![dose("MR", 1, "")]), "doses[0].date"),
            (
                copy(vec![
                    dose("MR", 1, "2020-01-01"),
                    dose("MR", 1, "2020-01-01"),
                ]),
                "doses[1]",
            ),
            (
                copy(vec![Dose {
                    institution_code: "12".into(),
                    ..dose("MR", 1, "2020-01-01")
                }]),
                "institution_code",
            ),
        ];
        for (c, field) in cases {
            let p = check_copy(&c, &[25]).unwrap_err();
            assert!(p.field.ends_with(field), "{p:?} should name {field}");
        }
        let mut c = copy(vec![]);
        c.item = 27;
        assert_eq!(check_copy(&c, &[25, 26]).unwrap_err().field, "copy.item");
        c.unified_address_number = "x".into();
        assert_eq!(
            check_copy(&c, &[25]).unwrap_err().field,
            "copy.unified_address_number"
        );
    }
}
