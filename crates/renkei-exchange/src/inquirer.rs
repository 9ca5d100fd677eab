//! 情報照会: the inquirer's state machine, free of I/O.
//!
//! An inquiry is PENDING from its submission until exactly one final state: answered, no
//! data, not provided, expired (from an opened answer), refused (by the hub or provider)
//! or failed (the hub unreachable, or an answer that does not verify). [`apply`] makes that
//! move once and returns the record and what the shell must remember; a final inquiry is
//! never moved again, so a late answer arriving twice changes nothing.

use prost::Message as _;
use renkei_crypto::{AnswerContext, EncryptionKey, VerifyingKey};
use renkei_master::MasterData;
use renkei_proto::v1::{
    AnswerPayload, ExchangeRecord, Inquiry, InquiryEnvelope, InquiryState, Outcome, Refusal,
    RefusalCode, SealedAnswer, SubmitInquiryRequest, answer_payload,
};

use crate::record::Exchange;

/// Who refuses when the inquirer's own gateway gives up on an exchange.
pub const GATEWAY: &str = "gateway";

pub fn is_final(state: i32) -> bool {
    !matches!(
        InquiryState::try_from(state).unwrap_or(InquiryState::Unspecified),
        InquiryState::Pending | InquiryState::Unspecified
    )
}

/// How an inquiry's state reads in the record log.
pub fn outcome_of(state: i32) -> Outcome {
    match InquiryState::try_from(state).unwrap_or(InquiryState::Unspecified) {
        InquiryState::Answered => Outcome::Provided,
        InquiryState::NoData => Outcome::NoData,
        InquiryState::Refused => Outcome::Refused,
        InquiryState::NotProvided => Outcome::NotProvided,
        InquiryState::Expired => Outcome::Expired,
        InquiryState::Failed => Outcome::Failed,
        InquiryState::Pending | InquiryState::Unspecified => Outcome::Pending,
    }
}

/// Parameters that must match for a retried submit to count as the same inquiry.
pub fn same_request(a: &Inquiry, r: &SubmitInquiryRequest) -> bool {
    a.unified_address_number == r.unified_address_number
        && a.provider == r.provider
        && a.procedure == r.procedure
        && a.item == r.item
}

/// A new PENDING inquiry and the envelope bytes to send; id and nonce come from the shell.
pub fn new_inquiry(
    me: &str,
    req: &SubmitInquiryRequest,
    inquiry_id: String,
    nonce: [u8; 16],
    now_ms: i64,
) -> (Inquiry, Vec<u8>) {
    let envelope = InquiryEnvelope {
        inquiry_id: inquiry_id.clone(),
        inquirer: me.to_owned(),
        provider: req.provider.clone(),
        procedure: req.procedure.clone(),
        item: req.item,
        created_at_ms: now_ms,
        nonce: nonce.to_vec(),
        disclose_after_ms: req.disclose_after_ms,
    }
    .encode_to_vec();
    let inquiry = Inquiry {
        inquiry_id,
        idempotency_key: req.idempotency_key.clone(),
        unified_address_number: req.unified_address_number.clone(),
        provider: req.provider.clone(),
        procedure: req.procedure.clone(),
        item: req.item,
        case_reference: req.case_reference.clone(),
        state: InquiryState::Pending as i32,
        submitted_at_ms: now_ms,
        ..Default::default()
    };
    (inquiry, envelope)
}

/// What came back for an inquiry, as the shell saw it.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// An answer, opened and verified (or why it could not be).
    Opened(Result<AnswerPayload, &'static str>),
    /// The provider will answer later through the hub.
    Pending,
    Refused(Refusal),
    /// The hub answered nothing.
    Empty,
    /// The hub could not be reached (its message).
    Unreachable(String),
}

/// What the shell carries out after [`apply`].
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// The inquiry moved (store it); `None` when it was already final and nothing changes.
    pub record: Option<ExchangeRecord>,
    /// Remember this permit to match the late answer with this inquiry.
    pub await_permit: Option<String>,
}

fn fail(inquiry: &mut Inquiry, code: RefusalCode, message: String, now_ms: i64) {
    inquiry.state = InquiryState::Failed as i32;
    inquiry.refusal = Some(Refusal {
        code: code as i32,
        message,
        refused_by: GATEWAY.into(),
    });
    inquiry.completed_at_ms = now_ms;
}

/// Opens and verifies a sealed answer for `inquiry` (the tenant's key and master data are
/// passed in; nothing is read here). The error is a reason for the record, never a secret.
pub fn open(
    master: &MasterData,
    me: &str,
    own: &EncryptionKey,
    inquiry: &Inquiry,
    sealed: &SealedAnswer,
) -> Result<AnswerPayload, &'static str> {
    let agency = master
        .agency(&inquiry.provider)
        .ok_or("the provider is not in the agency directory")?;
    let key = VerifyingKey::from_bytes(&agency.signing_public_key)
        .map_err(|_| "the provider has no valid signing key in the master data")?;
    let ctx = AnswerContext {
        permit_id: inquiry.permit_id.clone(),
        inquirer: me.to_owned(),
        provider: inquiry.provider.clone(),
    };
    let bytes = renkei_crypto::open_answer(sealed, &ctx, own, &key)
        .map_err(|_| "the answer's signature or encryption did not verify")?;
    let payload =
        AnswerPayload::decode(bytes.as_slice()).map_err(|_| "the opened answer is not readable")?;
    if payload.inquiry_id != inquiry.inquiry_id || payload.permit_id != inquiry.permit_id {
        return Err("the answer is for another inquiry");
    }
    Ok(payload)
}

/// Moves a PENDING inquiry by what came back; a final one is left as it is.
pub fn apply(
    me: &str,
    inquiry: &mut Inquiry,
    reply: Reply,
    envelope_sha256: &str,
    sealed_answer_sha256: &str,
    now_ms: i64,
) -> Applied {
    if is_final(inquiry.state) {
        return Applied {
            record: None,
            await_permit: None,
        };
    }
    let mut await_permit = None;
    match reply {
        Reply::Opened(Ok(payload)) => {
            inquiry.completed_at_ms = now_ms;
            match answer_payload::Status::try_from(payload.status) {
                Ok(answer_payload::Status::Found) => {
                    inquiry.state = InquiryState::Answered as i32;
                    inquiry.content = payload.content;
                }
                Ok(answer_payload::Status::NoData) => inquiry.state = InquiryState::NoData as i32,
                Ok(answer_payload::Status::NotProvided) => {
                    inquiry.state = InquiryState::NotProvided as i32
                }
                Ok(answer_payload::Status::Expired) => inquiry.state = InquiryState::Expired as i32,
                _ => fail(
                    inquiry,
                    RefusalCode::Malformed,
                    "the answer has no status".into(),
                    now_ms,
                ),
            }
        }
        Reply::Opened(Err(why)) => fail(inquiry, RefusalCode::Malformed, why.into(), now_ms),
        Reply::Pending => await_permit = Some(inquiry.permit_id.clone()),
        Reply::Refused(r) => {
            inquiry.state = InquiryState::Refused as i32;
            inquiry.refusal = Some(r);
            inquiry.completed_at_ms = now_ms;
        }
        Reply::Empty => fail(
            inquiry,
            RefusalCode::Malformed,
            "the hub sent an empty response".into(),
            now_ms,
        ),
        Reply::Unreachable(m) => fail(
            inquiry,
            RefusalCode::Unavailable,
            format!("the hub could not be reached: {m}"),
            now_ms,
        ),
    }
    let exchange = Exchange {
        inquirer: me.to_owned(),
        provider: inquiry.provider.clone(),
        procedure: inquiry.procedure.clone(),
        item: inquiry.item,
        inquiry_id: inquiry.inquiry_id.clone(),
    };
    let record = ExchangeRecord {
        permit_id: inquiry.permit_id.clone(),
        outcome: outcome_of(inquiry.state) as i32,
        reason: inquiry
            .refusal
            .as_ref()
            .map(|r| r.message.clone())
            .unwrap_or_default(),
        unified_address_number: inquiry.unified_address_number.clone(),
        envelope_sha256: envelope_sha256.to_owned(),
        sealed_answer_sha256: sealed_answer_sha256.to_owned(),
        ..exchange.inquiry_record(now_ms)
    };
    Applied {
        record: Some(record),
        await_permit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const ME: &str = "011002";

    fn request() -> SubmitInquiryRequest {
        SubmitInquiryRequest {
            idempotency_key: "k-1".into(),
            unified_address_number: "uan".into(),
            provider: "141003".into(),
            procedure: "vaccination".into(),
            item: 25,
            case_reference: "case".into(),
            disclose_after_ms: 0,
        }
    }

    fn pending() -> Inquiry {
        let (mut i, _) = new_inquiry(ME, &request(), "inq-1".into(), [7; 16], NOW - 100);
        i.permit_id = "permit-1".into();
        i
    }

    fn payload(status: answer_payload::Status) -> Reply {
        Reply::Opened(Ok(AnswerPayload {
            permit_id: "permit-1".into(),
            inquiry_id: "inq-1".into(),
            status: status as i32,
            content: None,
            padding: vec![],
        }))
    }

    /// Every reply and the state, record outcome and refusal code it leaves.
    #[test]
    fn the_inquirer_table() {
        use InquiryState as S;
        use answer_payload::Status as A;
        let refusal = Refusal {
            code: RefusalCode::NotOnWhitelist as i32,
            message: "not allowed".into(),
            refused_by: "hub".into(),
        };
        let cases: Vec<(&str, Reply, S, Outcome, Option<RefusalCode>)> = vec![
            (
                "found",
                payload(A::Found),
                S::Answered,
                Outcome::Provided,
                None,
            ),
            (
                "no data",
                payload(A::NoData),
                S::NoData,
                Outcome::NoData,
                None,
            ),
            (
                "not provided",
                payload(A::NotProvided),
                S::NotProvided,
                Outcome::NotProvided,
                None,
            ),
            (
                "expired",
                payload(A::Expired),
                S::Expired,
                Outcome::Expired,
                None,
            ),
            (
                "no status",
                payload(A::Unspecified),
                S::Failed,
                Outcome::Failed,
                Some(RefusalCode::Malformed),
            ),
            (
                "does not verify",
                Reply::Opened(Err("bad")),
                S::Failed,
                Outcome::Failed,
                Some(RefusalCode::Malformed),
            ),
            (
                "pending",
                Reply::Pending,
                S::Pending,
                Outcome::Pending,
                None,
            ),
            (
                "refused",
                Reply::Refused(refusal),
                S::Refused,
                Outcome::Refused,
                Some(RefusalCode::NotOnWhitelist),
            ),
            (
                "empty",
                Reply::Empty,
                S::Failed,
                Outcome::Failed,
                Some(RefusalCode::Malformed),
            ),
            (
                "unreachable",
                Reply::Unreachable("down".into()),
                S::Failed,
                Outcome::Failed,
                Some(RefusalCode::Unavailable),
            ),
        ];
        for (name, reply, state, outcome, code) in cases {
            let mut i = pending();
            let applied = apply(ME, &mut i, reply, "env", "", NOW);
            assert_eq!(i.state, state as i32, "{name}");
            let record = applied.record.expect(name);
            assert_eq!(record.outcome, outcome as i32, "{name}");
            assert_eq!(record.keeper, ME, "{name}");
            assert_eq!(record.counterparty, "141003", "{name}");
            assert_eq!(record.envelope_sha256, "env", "{name}");
            assert_eq!(
                i.refusal
                    .as_ref()
                    .map(|r| RefusalCode::try_from(r.code).unwrap()),
                code,
                "{name}"
            );
            assert_eq!(is_final(i.state), state != S::Pending, "{name}");
            assert_eq!(
                i.completed_at_ms,
                if is_final(i.state) { NOW } else { 0 },
                "{name}"
            );
            assert_eq!(
                applied.await_permit.is_some(),
                state == S::Pending,
                "{name}"
            );
        }
    }

    #[test]
    fn a_final_inquiry_never_moves_again() {
        let mut i = pending();
        apply(
            ME,
            &mut i,
            payload(answer_payload::Status::NoData),
            "",
            "",
            NOW,
        );
        let before = i.clone();
        let again = apply(
            ME,
            &mut i,
            payload(answer_payload::Status::Found),
            "",
            "",
            NOW + 5,
        );
        assert_eq!(again.record, None);
        assert_eq!(i, before);
    }

    #[test]
    fn a_retry_is_the_same_inquiry_only_with_the_same_parameters() {
        let i = pending();
        assert!(same_request(&i, &request()));
        let other = SubmitInquiryRequest {
            item: 26,
            ..request()
        };
        assert!(!same_request(&i, &other));
        // The case reference is the back office's note, not part of what is asked.
        let noted = SubmitInquiryRequest {
            case_reference: "other".into(),
            ..request()
        };
        assert!(same_request(&i, &noted));
        let (_, env) = new_inquiry(ME, &request(), "inq-1".into(), [7; 16], NOW);
        let env = InquiryEnvelope::decode(env.as_slice()).unwrap();
        assert_eq!(
            (env.inquirer.as_str(), env.item, env.created_at_ms),
            (ME, 25, NOW)
        );
    }
}
