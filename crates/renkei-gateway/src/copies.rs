//! 情報提供データベース管理: provision copies (副本), their format checks, export and
//! deletion. A copy is stored under `item (4 bytes BE) ‖ unified address number`.

use futures::{Stream, StreamExt as _};
use prost::Message as _;
use renkei_core::{UnifiedAddressNumber, dose};
use renkei_proto::v1::{BulkSummary, Content, Dose, ProvisionCopy, content};
use renkei_store::registry::{CopyCursor, CopyRow, CopyWrite, Rejection};

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

const MAX_DOSES: usize = 500;

/// How a dose's problems name the items of the `Dose` message.
const DOSE_WORDS: dose::DoseWords = dose::DoseWords {
    date_unknown: "date_unknown",
    unknown_date_hint: "set date_unknown",
};

fn dose_field_name(f: dose::DoseField) -> &'static str {
    match f {
        dose::DoseField::Vaccine => "vaccine_code",
        dose::DoseField::DoseNumber => "dose_number",
        dose::DoseField::Date => "date",
        dose::DoseField::Institution => "institution_code",
        dose::DoseField::Lot => "lot",
        dose::DoseField::Maker => "maker",
        dose::DoseField::Remarks => "remarks",
    }
}

/// The one dose check of `renkei_core::dose` (the adapter's too), on the wire form: dates
/// as `YYYY-MM-DD` only, and no birth date (basic items never reach the gateway).
fn check_dose(i: usize, d: &Dose, today: time::Date) -> Result<(), CopyProblem> {
    let input = dose::DoseInput {
        vaccine: &d.vaccine_code,
        dose_number: dose::DoseNumber::Number(d.dose_number),
        date: &d.date,
        date_unknown: d.date_unknown,
        lot: &d.lot,
        maker: &d.maker,
        institution: &d.institution_code,
        remarks: &d.remarks,
    };
    let rules = dose::DoseRules {
        today,
        birth: None,
        date_forms: dose::DateForms::Iso,
    };
    match dose::check_dose(&input, &rules) {
        Ok(_) => Ok(()),
        Err(p) => Err(problem(
            format!(
                "copy.content.vaccination.doses[{i}].{}",
                dose_field_name(p.field)
            ),
            p.describe(&DOSE_WORDS),
        )),
    }
}

/// The format check (形式チェック) every copy passes before it is stored, against a
/// given today in Japan (from the tenant's clock; a bulk import takes it once per batch).
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
        let id = dose::DoseIdentity::of(&d.vaccine_code, d.dose_number, &d.date, d.date_unknown);
        if !seen.insert(id) {
            return Err(problem(
                format!("copy.content.vaccination.doses[{i}]"),
                format!(
                    "duplicates an earlier dose ({} dose {} on {})",
                    d.vaccine_code,
                    d.dose_number,
                    if d.date_unknown {
                        "an unknown date"
                    } else {
                        &d.date
                    }
                ),
            ));
        }
    }
    Ok(uan)
}

/// Copies read per storage call during an export.
const EXPORT_PAGE: usize = 1000;

impl Tenant {
    /// [`check_copy_on`] against today by the tenant's clock.
    pub(crate) fn check_copy(
        &self,
        copy: &ProvisionCopy,
        allowed_items: &[u32],
    ) -> Result<UnifiedAddressNumber, CopyProblem> {
        check_copy_on(copy, allowed_items, renkei_core::jst::today(&*self.clock))
    }

    /// Checks a copy and encodes it for storage; a refusal hands back the copy's number
    /// for the error report. The copy is taken by value and its content encoded once
    /// (for its hash and the stored record). Whether its person is registered is the
    /// store's check, made as it writes.
    fn prepare(
        &self,
        copy: ProvisionCopy,
        allowed: &[u32],
        today: time::Date,
        now_ms: i64,
    ) -> Result<CopyRow, (String, CopyProblem)> {
        let uan = match check_copy_on(&copy, allowed, today) {
            Ok(u) => u,
            Err(p) => return Err((copy.unified_address_number, p)),
        };
        let content_bytes = copy
            .content
            .as_ref()
            .map(|c| c.encode_to_vec())
            .unwrap_or_default();
        let sha = hex::encode(renkei_crypto::sha256(&content_bytes));
        let encoded = encode_stored(uan.as_str(), copy.item, &content_bytes, now_ms, &sha);
        Ok(CopyRow {
            item: copy.item,
            uan,
            encoded,
        })
    }

    pub(crate) async fn put_copy(
        &self,
        copy: ProvisionCopy,
        allowed: &[u32],
    ) -> Result<bool, GatewayError> {
        let row = self
            .prepare(
                copy,
                allowed,
                renkei_core::jst::today(&*self.clock),
                self.clock.now_ms(),
            )
            .map_err(|(_, p)| GatewayError::invalid(p.field, p.reason))?;
        let uan = row.uan.clone();
        let replaced = match self.registry.put_copy(row).await? {
            CopyWrite::Inserted => false,
            CopyWrite::Replaced => true,
            CopyWrite::Refused(why) => {
                let p = rejection_problem(uan.as_str(), &why);
                return Err(GatewayError::invalid(p.field, p.reason));
            }
        };
        self.registry.commit().await?;
        Ok(replaced)
    }

    /// Stores the good copies of a batch and lists the bad ones; the caller commits.
    pub(crate) async fn import_batch(
        &self,
        first_index: u64,
        copies: Vec<ProvisionCopy>,
        allowed: &[u32],
        summary: &mut BulkSummary,
    ) -> Result<(), GatewayError> {
        let today = renkei_core::jst::today(&*self.clock);
        let now = self.clock.now_ms();
        let mut rows = Vec::with_capacity(copies.len());
        let mut positions = Vec::with_capacity(copies.len());
        // (index, number, problem), reported in index order as before the store checked
        // registration, so the listed errors (at most MAX_LISTED_ERRORS) are the same.
        let mut problems = Vec::new();
        for (i, copy) in copies.into_iter().enumerate() {
            match self.prepare(copy, allowed, today, now) {
                Ok(row) => {
                    rows.push(row);
                    positions.push(i);
                }
                Err((number, p)) => problems.push((i, number, p)),
            }
        }
        let numbers: Vec<String> = rows.iter().map(|r| r.uan.as_str().to_owned()).collect();
        let report = self.registry.put_copies(rows).await?;
        summary.accepted += report.accepted;
        for r in report.rejected {
            if let (Some(&i), Some(number)) = (positions.get(r.position), numbers.get(r.position)) {
                let p = rejection_problem(number, &r.reason);
                problems.push((i, number.clone(), p));
            }
        }
        problems.sort_by_key(|(i, _, _)| *i);
        for (i, number, p) in problems {
            push_error(summary, first_index + i as u64, &number, &p.field, p.reason);
        }
        Ok(())
    }

    pub(crate) async fn get_copy(
        &self,
        item: u32,
        uan: &str,
    ) -> Result<Option<ProvisionCopy>, GatewayError> {
        // A number that does not parse was never stored.
        let Ok(uan) = UnifiedAddressNumber::parse(uan) else {
            return Ok(None);
        };
        Ok(self.registry.copy(item, &uan).await?)
    }

    /// Copies in key order (by item, then unified address number), for reconciliation;
    /// `item` 0 is every item. Read a page at a time, so nothing is held open between.
    pub(crate) fn export_copies(
        &self,
        item: u32,
    ) -> impl Stream<Item = Result<ProvisionCopy, GatewayError>> + Send + 'static {
        let registry = self.registry.clone();
        let item = (item != 0).then_some(item);
        // The state is where the next page starts; `None` once the last page was read.
        let pages = futures::stream::unfold(Some(None::<CopyCursor>), move |after| {
            let registry = registry.clone();
            async move {
                let after = after?;
                match registry
                    .copies_page(item, after.as_ref(), EXPORT_PAGE)
                    .await
                {
                    Ok(page) if page.is_empty() => None,
                    Ok(page) => {
                        let next = (page.len() >= EXPORT_PAGE)
                            .then(|| page.last().map(|(c, _)| c.clone()));
                        let copies: Vec<_> = page.into_iter().map(|(_, c)| Ok(c)).collect();
                        Some((copies, next))
                    }
                    Err(e) => Some((vec![Err(GatewayError::from(e))], None)),
                }
            }
        });
        pages.flat_map(futures::stream::iter)
    }

    pub(crate) async fn delete_copy(&self, uan: &str, item: u32) -> Result<bool, GatewayError> {
        let uan = UnifiedAddressNumber::parse(uan)
            .map_err(|e| GatewayError::from_core("unified_address_number", e))?;
        let existed = self.registry.delete_copy(item, &uan).await?;
        self.registry.commit().await?;
        Ok(existed)
    }
}

/// A copy the store refused, in the words the gateway used when it checked registration
/// itself.
fn rejection_problem(uan: &str, why: &Rejection) -> CopyProblem {
    match why {
        Rejection::NotRegistered => problem(
            "copy.unified_address_number",
            format!("{uan} is not registered with this gateway"),
        ),
        other => problem("copy", other.to_string()),
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

    /// The checks against a fixed today, so a date's being in the future does not depend
    /// on when the tests run.
    fn check_copy(c: &ProvisionCopy, allowed: &[u32]) -> Result<UnifiedAddressNumber, CopyProblem> {
        check_copy_on(c, allowed, time::macros::date!(2026 - 12 - 03))
    }

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
    fn two_doses_of_unknown_date_with_the_same_vaccine_and_number_are_duplicates() {
        let unknown = |n| Dose {
            vaccine_code: "BCG".into(),
            dose_number: n,
            date_unknown: true,
            ..Default::default()
        };
        let p = check_copy(&copy(vec![unknown(1), unknown(1)]), &[25]).unwrap_err();
        assert!(p.field.ends_with("doses[1]"), "{p:?}");
        assert!(p.reason.contains("on an unknown date"), "{p:?}");
        let mut hib = vec![unknown(1)];
        hib[0].vaccine_code = "HIB".into();
        hib.push(Dose {
            vaccine_code: "HIB".into(),
            ..unknown(2)
        });
        assert!(check_copy(&copy(hib), &[25]).is_ok());
    }

    #[test]
    fn the_wire_takes_dates_as_yyyy_mm_dd_only() {
        let p = check_copy(&copy(vec![dose("MR", 1, "20200401")]), &[25]).unwrap_err();
        assert!(p.field.ends_with("doses[0].date"), "{p:?}");
        assert!(p.reason.contains("(YYYY-MM-DD)"), "{p:?}");
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
