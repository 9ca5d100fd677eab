//! Transfer-in (転入者の接種歴): ask the previous city for a new resident's vaccination
//! history through the gateway, wait for the outcome, and merge the returned doses into
//! the local record without duplicating doses already known.

use std::time::Duration;

use renkei_core::{AgencyCode, SharedClock, SystemClock};
use renkei_proto::v1::inquiries_client::InquiriesClient;
use renkei_proto::v1::{
    Dose, GetInquiryRequest, Inquiry, InquiryState, RefusalCode, SubmitInquiryRequest, content,
};
use tonic::transport::Channel;

use crate::VaccinationError;
use crate::model::{Person, canonical_order, same_dose};
use crate::sync::VACCINATION_ITEM;

/// 予防接種法による予防接種の実施に関する事務, as the whitelist names it.
pub const VACCINATION_PROCEDURE: &str = "vaccination";

#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// The new resident's unified address number here (its symbol must be acquired).
    pub unified_address_number: String,
    /// The previous municipality's 全国地方公共団体コード.
    pub previous_city: String,
    /// Continue an inquiry submitted by an earlier run instead of submitting a new one.
    pub inquiry_id: Option<String>,
    /// Same key, same inquiry: a re-run after a crash does not ask twice.
    pub idempotency_key: Option<String>,
    /// How long to wait for the outcome before reporting the inquiry as still pending.
    pub wait: Duration,
    pub case_reference: String,
}

/// How a transfer-in ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferOutcome {
    /// The previous city answered with its records.
    Answered {
        received: Vec<Dose>,
    },
    /// The previous city knows the person but holds no vaccination record.
    NoData,
    /// The previous city has no such person: most often a wrong previous-city code.
    NoSuchPerson {
        message: String,
    },
    /// Refused by the hub or the provider for another reason.
    Refused {
        code: RefusalCode,
        message: String,
        refused_by: String,
    },
    /// Still pending after the wait: held (自動応答不可) for the provider's operator, or just
    /// slow. The inquirer cannot tell which: a held answer is made to look exactly like a slow
    /// one (docs/decisions/0010), so no outcome says "held". Run again with the inquiry id to
    /// wait for the answer, or for the not-provided or expired outcome of a held one.
    Pending,
    /// The answer was held and the provider's operator decided not to provide it.
    NotProvided,
    /// The answer was held and nobody decided before the provider's expiry.
    Expired,
    Failed {
        message: String,
    },
}

/// Submits (or resumes) the inquiry and waits for its outcome, by the system clock.
pub async fn ask_previous_city(
    channel: Channel,
    opts: &TransferOptions,
) -> Result<(Inquiry, TransferOutcome), VaccinationError> {
    ask_previous_city_with_clock(channel, opts, &SystemClock::shared()).await
}

/// [`ask_previous_city`] with the clock that stamps a default idempotency key, so a test
/// can tell which run a key belongs to.
pub async fn ask_previous_city_with_clock(
    channel: Channel,
    opts: &TransferOptions,
    clock: &SharedClock,
) -> Result<(Inquiry, TransferOutcome), VaccinationError> {
    let previous = AgencyCode::parse(&opts.previous_city)
        .map_err(|e| VaccinationError::Invalid(format!("the previous-city code is wrong: {e}")))?;
    let mut client = InquiriesClient::new(channel);
    let inquiry = match &opts.inquiry_id {
        Some(id) => client
            .get_inquiry(GetInquiryRequest {
                inquiry_id: id.clone(),
            })
            .await?
            .into_inner(),
        None => {
            let key = opts
                .idempotency_key
                .clone()
                .unwrap_or_else(|| default_key(opts, &previous, clock.now_ms()));
            client
                .submit_inquiry(SubmitInquiryRequest {
                    idempotency_key: key,
                    unified_address_number: opts.unified_address_number.clone(),
                    provider: previous.to_string(),
                    procedure: VACCINATION_PROCEDURE.into(),
                    item: VACCINATION_ITEM,
                    case_reference: opts.case_reference.clone(),
                    disclose_after_ms: 0,
                })
                .await?
                .into_inner()
        }
    };
    let inquiry = if inquiry.state == InquiryState::Pending as i32 {
        wait_final(&mut client, inquiry, opts.wait).await?
    } else {
        inquiry
    };
    let outcome = outcome_of(&inquiry);
    Ok((inquiry, outcome))
}

/// Without a key from the caller, each run is a new inquiry: the key names the person,
/// the previous city and the moment of the run.
fn default_key(opts: &TransferOptions, previous: &AgencyCode, now_ms: i64) -> String {
    format!(
        "transfer-in:{}:{}:{now_ms}",
        opts.unified_address_number, previous
    )
}

async fn wait_final(
    client: &mut InquiriesClient<Channel>,
    inquiry: Inquiry,
    wait: Duration,
) -> Result<Inquiry, VaccinationError> {
    let mut stream = client
        .watch_inquiry(GetInquiryRequest {
            inquiry_id: inquiry.inquiry_id.clone(),
        })
        .await?
        .into_inner();
    let mut last = inquiry;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Err(_) | Ok(Ok(None)) => return Ok(last),
            Ok(Ok(Some(i))) => {
                let done = i.state != InquiryState::Pending as i32;
                last = i;
                if done {
                    return Ok(last);
                }
            }
            Ok(Err(s)) => return Err(s.into()),
        }
    }
}

pub fn outcome_of(i: &Inquiry) -> TransferOutcome {
    let refusal = i.refusal.clone().unwrap_or_default();
    match InquiryState::try_from(i.state).unwrap_or(InquiryState::Unspecified) {
        InquiryState::Answered => TransferOutcome::Answered {
            received: match i.content.as_ref().and_then(|c| c.body.as_ref()) {
                Some(content::Body::Vaccination(h)) => h.doses.clone(),
                None => Vec::new(),
            },
        },
        InquiryState::NoData => TransferOutcome::NoData,
        InquiryState::Refused if refusal.code == RefusalCode::UnknownPerson as i32 => {
            TransferOutcome::NoSuchPerson {
                message: refusal.message,
            }
        }
        InquiryState::Refused => TransferOutcome::Refused {
            code: RefusalCode::try_from(refusal.code).unwrap_or(RefusalCode::Unspecified),
            message: refusal.message,
            refused_by: refusal.refused_by,
        },
        InquiryState::Pending => TransferOutcome::Pending,
        InquiryState::NotProvided => TransferOutcome::NotProvided,
        InquiryState::Expired => TransferOutcome::Expired,
        InquiryState::Failed | InquiryState::Unspecified => TransferOutcome::Failed {
            message: refusal.message,
        },
    }
}

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeSummary {
    pub added: usize,
    pub already_known: usize,
    /// Local doses of unknown date that the previous city's record dated.
    pub dated: usize,
}

/// Merges doses from the previous city into the person's record. A dose already known
/// (same vaccine and dose number, same date or one date unknown) is not added again; a
/// local dose of unknown date takes the previous city's date. Added doses are marked as
/// given outside the city, with the previous city named in the remarks.
pub fn merge(person: &mut Person, received: &[Dose], previous_city: &str) -> MergeSummary {
    let mut s = MergeSummary::default();
    for r in received {
        if let Some(known) = person.doses.iter_mut().find(|d| same_dose(d, r)) {
            s.already_known += 1;
            if known.date_unknown && !r.date_unknown {
                known.date = r.date.clone();
                known.date_unknown = false;
                s.dated += 1;
            }
            continue;
        }
        let mut d = r.clone();
        d.outside_city = true;
        let note = format!("転入前自治体 {previous_city} の記録");
        d.remarks = if d.remarks.is_empty() {
            note
        } else {
            let joined = format!("{note}; {}", d.remarks);
            joined.chars().take(200).collect()
        };
        person.doses.push(d);
        s.added += 1;
    }
    canonical_order(&mut person.doses);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dose(code: &str, n: u32, date: &str) -> Dose {
        Dose {
            vaccine_code: code.into(),
            dose_number: n,
            date: date.into(),
            date_unknown: date.is_empty(),
            ..Default::default()
        }
    }

    #[test]
    fn a_default_key_is_stamped_by_the_injected_clock() {
        let opts = TransferOptions {
            unified_address_number: "1001".into(),
            previous_city: "141003".into(),
            inquiry_id: None,
            idempotency_key: None,
            wait: Duration::ZERO,
            case_reference: String::new(),
        };
        let previous = AgencyCode::parse("141003").unwrap();
        let clock = renkei_core::FakeClock::at(1_700_000_000_000);
        let first = default_key(&opts, &previous, renkei_core::Clock::now_ms(clock.as_ref()));
        assert_eq!(first, "transfer-in:1001:141003:1700000000000");
        clock.advance(Duration::from_millis(1));
        let second = default_key(&opts, &previous, renkei_core::Clock::now_ms(clock.as_ref()));
        assert_ne!(first, second, "a later run is a new inquiry");
    }

    #[test]
    fn merge_adds_new_doses_once_and_dates_unknown_ones() {
        let mut p = Person {
            doses: vec![dose("MR", 1, "2024-04-01"), dose("BCG", 1, "")],
            ..Default::default()
        };
        let received = [
            dose("MR", 1, "2024-04-01"),
            dose("BCG", 1, "2023-09-01"),
            dose("VAR", 1, "2024-04-01"),
        ];
        let s = merge(&mut p, &received, "141003");
        assert_eq!(
            s,
            MergeSummary {
                added: 1,
                already_known: 2,
                dated: 1
            }
        );
        assert_eq!(p.doses.len(), 3);
        let bcg = p.doses.iter().find(|d| d.vaccine_code == "BCG").unwrap();
        assert_eq!(bcg.date, "2023-09-01");
        let var = p.doses.iter().find(|d| d.vaccine_code == "VAR").unwrap();
        assert!(var.outside_city && var.remarks.contains("141003"));
        // Merging the same answer again changes nothing.
        let again = merge(&mut p, &received, "141003");
        assert_eq!(again.added, 0);
        assert_eq!(p.doses.len(), 3);
    }
}
