//! 情報提供: the provider's decisions, free of I/O.
//!
//! An inquiry arrives with a permit. [`check_permit`] says whether the permit and its
//! envelope may be trusted at all; each failure has its own refusal code, so operators (and
//! the tables below) can tell forged, altered, expired and misaddressed permits apart. The
//! shell then claims the permit id once in storage and looks the person, copy and flag up;
//! [`decide`] turns those facts into one [`Step`] (answer, hold, defer or refuse) plus the
//! record and the moment the reply may leave. Sealing (the keys) and storing stay in the
//! shell.

use prost::Message as _;
use renkei_crypto::{PermitCheckError, VerifyingKey};
use renkei_master::{MasterData, WhitelistRefusal};
use renkei_proto::v1::{
    ExchangeRecord, Flag, HeldInquiry, HeldState, HoldCause, InquiryEnvelope, Outcome, Permit,
    Refusal, RefusalCode, SignedPermit, answer_payload,
};

use crate::record::Exchange;

/// The provider itself, as refusals and records name it.
#[derive(Clone, Copy, Debug)]
pub struct Me<'a> {
    pub code: &'a str,
    pub name: &'a str,
}

impl Me<'_> {
    /// A refusal signed with this provider's code, as the inquirer will see it.
    pub fn refusal(&self, code: RefusalCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code: code as i32,
            message: message.into(),
            refused_by: self.code.to_owned(),
        }
    }
}

/// The tenant's held-answer policy, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    /// Procedures whose inquiries are held for a hand-made answer when there is no copy.
    pub hold_without_copy: Vec<String>,
    /// How long a held inquiry waits for an operator before it expires.
    pub hold_expiry_ms: i64,
    /// When every pending reply leaves, whatever made it pending (docs/decisions/0010).
    pub answer_deadline_ms: i64,
    /// How long an ordinary answer takes to prepare (a slow back office, simulated).
    pub answer_latency_ms: i64,
}

/// Checks the permit and its envelope; returns the permit if the exchange may proceed.
pub fn check_permit(
    me: Me<'_>,
    master: &MasterData,
    permit_key: &VerifyingKey,
    signed: Option<&SignedPermit>,
    envelope: &[u8],
    now_ms: i64,
) -> Result<Permit, Refusal> {
    let signed = signed
        .ok_or_else(|| me.refusal(RefusalCode::Malformed, "the inquiry carries no permit"))?;
    let permit = renkei_crypto::verify_permit(permit_key, signed).map_err(|e| match e {
        PermitCheckError::Forged(why) => me.refusal(
            RefusalCode::PermitForged,
            format!("the permit was not signed by the hub's permit key: {why}"),
        ),
        PermitCheckError::Altered => me.refusal(
            RefusalCode::PermitAltered,
            "the permit's signature does not match its contents: it was changed after the hub signed it",
        ),
        _ => me.refusal(RefusalCode::Malformed, "the permit cannot be read"),
    })?;
    if renkei_crypto::sha256(envelope).as_slice() != permit.envelope_sha256.as_slice() {
        return Err(me.refusal(
            RefusalCode::PermitAltered,
            "the inquiry does not match the one the permit was issued for",
        ));
    }
    let env = InquiryEnvelope::decode(envelope).map_err(|_| {
        me.refusal(
            RefusalCode::Malformed,
            "the inquiry envelope cannot be read",
        )
    })?;
    if env.inquiry_id != permit.inquiry_id
        || env.inquirer != permit.inquirer
        || env.provider != permit.provider
        || env.procedure != permit.procedure
        || env.item != permit.item
    {
        return Err(me.refusal(
            RefusalCode::PermitAltered,
            "the inquiry's parties, procedure or item differ from the permit's",
        ));
    }
    if permit.provider != me.code {
        return Err(me.refusal(
            RefusalCode::PermitMisaddressed,
            format!(
                "the permit is addressed to {} ({}), not to {} ({})",
                master.name_of(&permit.provider),
                permit.provider,
                me.name,
                me.code
            ),
        ));
    }
    if crate::expiry::permit_expired(permit.expires_at_ms, now_ms) {
        return Err(me.refusal(
            RefusalCode::PermitExpired,
            format!(
                "the permit expired at {}",
                renkei_core::format_ms(permit.expires_at_ms)
            ),
        ));
    }
    if let Err(r) = master.check(
        &permit.inquirer,
        &permit.provider,
        &permit.procedure,
        permit.item,
    ) {
        let code = match r {
            WhitelistRefusal::UnknownAgency { .. } => RefusalCode::UnknownAgency,
            WhitelistRefusal::NotAllowed { .. } => RefusalCode::NotOnWhitelist,
        };
        return Err(me.refusal(
            code,
            format!("re-check against the whitelist failed: {}", r.message()),
        ));
    }
    Ok(permit)
}

/// What the shell found out about a checked permit. A lookup the shell skipped (because
/// an earlier fact already decides) is left at its default.
#[derive(Clone, Debug, Default)]
pub struct Facts<'a> {
    /// Whether this delivery claimed the permit id (false: it was used before).
    pub claimed: bool,
    /// The person the provider symbol names here, if any.
    pub person: Option<&'a str>,
    pub has_copy: bool,
    /// The auto-response-block flag on the person's item, if any.
    pub flag: Option<&'a Flag>,
}

/// How a provision ends at this moment.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Seal and send an answer from the copy: found, or no data.
    Answer { status: answer_payload::Status },
    /// Store this held inquiry for an operator and reply "pending".
    Hold { held: HeldInquiry },
    /// Store this deferred answer, deliver it at `ready_at_ms`, and reply "pending".
    Defer { held: HeldInquiry, ready_at_ms: i64 },
    /// Answer this refusal.
    Refuse(Refusal),
}

/// A decided provision: what to do, what to record, and when the reply may leave.
#[derive(Clone, Debug, PartialEq)]
pub struct Provision {
    pub step: Step,
    /// The provider's record; an answer's sealed hash is added by the shell once sealed.
    pub record: ExchangeRecord,
    /// Held and deferred replies leave at the deadline so they cannot be told apart from
    /// each other; an answer leaves after the simulated latency.
    pub reply_at_ms: i64,
}

impl Provision {
    /// Turns a provision that could not be carried out (sealing failed) into a refusal,
    /// keeping what is known about the exchange in the record.
    pub fn refuse(mut self, refusal: Refusal) -> Provision {
        self.record.outcome = Outcome::Refused as i32;
        self.record.reason = refusal.message.clone();
        self.step = Step::Refuse(refusal);
        self
    }
}

/// The provider's record of a delivery, with as much of the exchange as the permit tells.
fn record_for(
    me: Me<'_>,
    permit: Option<&Permit>,
    envelope_sha256: &str,
    now_ms: i64,
) -> ExchangeRecord {
    let exchange = match permit {
        Some(p) => Exchange {
            inquirer: p.inquirer.clone(),
            provider: me.code.to_owned(),
            procedure: p.procedure.clone(),
            item: p.item,
            inquiry_id: p.inquiry_id.clone(),
        },
        None => Exchange {
            provider: me.code.to_owned(),
            ..Exchange::default()
        },
    };
    ExchangeRecord {
        permit_id: permit.map(|p| p.permit_id.clone()).unwrap_or_default(),
        envelope_sha256: envelope_sha256.to_owned(),
        ..exchange.provision_record(now_ms)
    }
}

/// A refusal before (or without) a trustworthy permit.
pub fn refused(
    me: Me<'_>,
    permit: Option<&Permit>,
    refusal: Refusal,
    envelope_sha256: &str,
    now_ms: i64,
) -> Provision {
    let mut record = record_for(me, permit, envelope_sha256, now_ms);
    record.outcome = Outcome::Refused as i32;
    record.reason = refusal.message.clone();
    Provision {
        step: Step::Refuse(refusal),
        record,
        reply_at_ms: now_ms,
    }
}

/// The held inquiry an operator will see for a permit not answered automatically.
pub fn new_held(
    master: &MasterData,
    permit: &Permit,
    person: &str,
    cause: HoldCause,
    flag: Option<&Flag>,
    received_at_ms: i64,
    expiry_ms: i64,
) -> HeldInquiry {
    let legal_basis = master
        .check(
            &permit.inquirer,
            &permit.provider,
            &permit.procedure,
            permit.item,
        )
        .map(|e| e.legal_basis.clone())
        .unwrap_or_default();
    HeldInquiry {
        permit_id: permit.permit_id.clone(),
        inquiry_id: permit.inquiry_id.clone(),
        inquirer: permit.inquirer.clone(),
        inquirer_name: master.name_of(&permit.inquirer),
        procedure: permit.procedure.clone(),
        item: permit.item,
        legal_basis,
        unified_address_number: person.to_owned(),
        received_at_ms,
        expires_at_ms: crate::expiry::held_expires_at(received_at_ms, expiry_ms),
        state: HeldState::Waiting as i32,
        cause: cause as i32,
        flag_reason: flag.map(|f| f.reason).unwrap_or_default(),
        ..Default::default()
    }
}

/// Decides a provision for a checked permit: replayed, unknown person, held (flagged, or
/// no copy where the policy says so), deferred (not ready by the deadline), or answered.
pub fn decide(
    me: Me<'_>,
    master: &MasterData,
    rules: &Rules,
    permit: &Permit,
    facts: &Facts<'_>,
    envelope_sha256: &str,
    now_ms: i64,
) -> Provision {
    if !facts.claimed {
        let r = me.refusal(
            RefusalCode::PermitReplayed,
            format!("permit {} has already been used", permit.permit_id),
        );
        return refused(me, Some(permit), r, envelope_sha256, now_ms);
    }
    let Some(person) = facts.person else {
        let r = me.refusal(
            RefusalCode::UnknownPerson,
            format!("no such person at {} ({})", me.name, me.code),
        );
        return refused(me, Some(permit), r, envelope_sha256, now_ms);
    };
    let mut record = record_for(me, Some(permit), envelope_sha256, now_ms);
    record.unified_address_number = person.to_owned();
    let pending_at = now_ms + rules.answer_deadline_ms;
    let cause = if facts.flag.is_some() {
        Some(HoldCause::Flagged)
    } else if !facts.has_copy && rules.hold_without_copy.contains(&permit.procedure) {
        Some(HoldCause::NoCopy)
    } else {
        None
    };
    if let Some(cause) = cause {
        // 自動応答不可: held for an operator. The inquirer is told only "pending".
        let held = new_held(
            master,
            permit,
            person,
            cause,
            facts.flag,
            now_ms,
            rules.hold_expiry_ms,
        );
        record.outcome = Outcome::Held as i32;
        record.reason = match cause {
            HoldCause::NoCopy => "held for a manual answer: no provision copy".into(),
            _ => "held for an operator's decision (自動応答不可)".into(),
        };
        return Provision {
            step: Step::Hold { held },
            record,
            reply_at_ms: pending_at,
        };
    }
    if rules.answer_latency_ms >= rules.answer_deadline_ms {
        // Not ready within the deadline: answered later, like a held answer.
        let mut held = new_held(
            master,
            permit,
            person,
            HoldCause::Unspecified,
            None,
            now_ms,
            0,
        );
        held.expires_at_ms = 0;
        record.outcome = Outcome::Pending as i32;
        record.reason = "answer not ready within the deadline; delivered later".into();
        return Provision {
            step: Step::Defer {
                held,
                ready_at_ms: now_ms + rules.answer_latency_ms,
            },
            record,
            reply_at_ms: pending_at,
        };
    }
    let (status, outcome) = if facts.has_copy {
        (answer_payload::Status::Found, Outcome::Provided)
    } else {
        (answer_payload::Status::NoData, Outcome::NoData)
    };
    record.outcome = outcome as i32;
    Provision {
        step: Step::Answer { status },
        record,
        reply_at_ms: now_ms + rules.answer_latency_ms.max(0),
    }
}

/// Shared test material: one master bundle, one permit key, one envelope and its permit.
#[cfg(test)]
pub(crate) mod fixtures {
    use renkei_crypto::SigningKey;
    use renkei_proto::v1::{Agency, AgencyKind, MasterBundle, WhitelistEntry};

    use super::*;

    pub(crate) const SAPPORO: &str = "011002";
    pub(crate) const YOKOHAMA: &str = "141003";
    /// A well-formed code the directory does not list.
    pub(crate) const OSAKA: &str = "271004";
    pub(crate) const NOW: i64 = 1_800_000_000_000;
    pub(crate) const ME: Me<'static> = Me {
        code: YOKOHAMA,
        name: "Yokohama",
    };

    pub(crate) fn master() -> MasterData {
        let agency = |code: &str| Agency {
            code: code.into(),
            name: format!("name-{code}"),
            kind: AgencyKind::Municipality as i32,
            ..Default::default()
        };
        MasterData::new(MasterBundle {
            version: 7,
            agencies: vec![agency(SAPPORO), agency(YOKOHAMA)],
            whitelist: vec![WhitelistEntry {
                item: 25,
                old_item: "x".into(),
                procedure: "vaccination".into(),
                procedure_name: "p".into(),
                information: "info".into(),
                legal_basis: "番号法第19条第8号".into(),
                inquirer_kind: AgencyKind::Municipality as i32,
                provider_kind: AgencyKind::Municipality as i32,
                ..Default::default()
            }],
            ..Default::default()
        })
        .unwrap()
    }

    pub(crate) fn key() -> SigningKey {
        SigningKey::generate().unwrap().0
    }

    pub(crate) fn envelope(inquirer: &str, provider: &str, item: u32) -> Vec<u8> {
        InquiryEnvelope {
            inquiry_id: "inq-1".into(),
            inquirer: inquirer.into(),
            provider: provider.into(),
            procedure: "vaccination".into(),
            item,
            created_at_ms: NOW,
            nonce: vec![1; 16],
            disclose_after_ms: 0,
        }
        .encode_to_vec()
    }

    pub(crate) fn permit_for(envelope: &[u8]) -> Permit {
        let env = InquiryEnvelope::decode(envelope).unwrap();
        Permit {
            permit_id: "permit-1".into(),
            inquiry_id: env.inquiry_id,
            inquirer: env.inquirer,
            provider: env.provider,
            procedure: env.procedure,
            item: env.item,
            provider_symbol: vec![9; 16],
            envelope_sha256: renkei_crypto::sha256(envelope).to_vec(),
            issued_at_ms: NOW - 1_000,
            expires_at_ms: NOW + 60_000,
            master_version: 7,
        }
    }

    pub(crate) fn rules() -> Rules {
        Rules {
            hold_without_copy: vec!["vaccination".into()],
            hold_expiry_ms: 3_600_000,
            answer_deadline_ms: 2_000,
            answer_latency_ms: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use renkei_crypto::sign_permit;
    use renkei_proto::v1::FlagReason;

    use super::fixtures::*;
    use super::*;

    fn code_of(r: Result<Permit, Refusal>) -> RefusalCode {
        match r {
            Ok(_) => RefusalCode::Unspecified,
            Err(r) => {
                assert_eq!(r.refused_by, YOKOHAMA);
                RefusalCode::try_from(r.code).unwrap()
            }
        }
    }

    /// Every way a delivered permit can be untrustworthy, each with its own code.
    #[test]
    fn the_permit_refusal_table() {
        let master = master();
        let hub = key();
        let stranger = key();
        let env = envelope(SAPPORO, YOKOHAMA, 25);
        let good = permit_for(&env);
        let signed = |p: &Permit| sign_permit(&hub, p);
        let mut altered = signed(&good);
        altered.permit[3] ^= 0x55;
        let with = |f: &dyn Fn(&mut Permit)| {
            let mut p = good.clone();
            f(&mut p);
            p
        };
        let other_env = envelope(SAPPORO, YOKOHAMA, 26);
        let off_list = envelope(SAPPORO, YOKOHAMA, 26);
        let unknown_inquirer = envelope(OSAKA, YOKOHAMA, 25);
        let misaddressed = envelope(SAPPORO, SAPPORO, 25);
        type Case = (
            &'static str,
            Option<SignedPermit>,
            Vec<u8>,
            i64,
            RefusalCode,
        );
        let cases: Vec<Case> = vec![
            (
                "good",
                Some(signed(&good)),
                env.clone(),
                NOW,
                RefusalCode::Unspecified,
            ),
            ("no permit", None, env.clone(), NOW, RefusalCode::Malformed),
            (
                "forged",
                Some(sign_permit(&stranger, &good)),
                env.clone(),
                NOW,
                RefusalCode::PermitForged,
            ),
            (
                "altered bytes",
                Some(altered),
                env.clone(),
                NOW,
                RefusalCode::PermitAltered,
            ),
            (
                "other envelope",
                Some(signed(&good)),
                other_env,
                NOW,
                RefusalCode::PermitAltered,
            ),
            (
                "unreadable envelope",
                Some(signed(&with(&|p| {
                    p.envelope_sha256 = renkei_crypto::sha256(b"\xff\xff").to_vec()
                }))),
                b"\xff\xff".to_vec(),
                NOW,
                RefusalCode::Malformed,
            ),
            (
                "permit item differs from envelope",
                Some(signed(&with(&|p| p.item = 26))),
                env.clone(),
                NOW,
                RefusalCode::PermitAltered,
            ),
            (
                "addressed to another provider",
                Some(signed(&permit_for(&misaddressed))),
                misaddressed.clone(),
                NOW,
                RefusalCode::PermitMisaddressed,
            ),
            (
                "expired",
                Some(signed(&good)),
                env.clone(),
                good.expires_at_ms + 1,
                RefusalCode::PermitExpired,
            ),
            (
                "expires this millisecond",
                Some(signed(&good)),
                env.clone(),
                good.expires_at_ms,
                RefusalCode::Unspecified,
            ),
            (
                "not on the whitelist",
                Some(signed(&permit_for(&off_list))),
                off_list,
                NOW,
                RefusalCode::NotOnWhitelist,
            ),
            (
                "unknown inquirer",
                Some(signed(&permit_for(&unknown_inquirer))),
                unknown_inquirer,
                NOW,
                RefusalCode::UnknownAgency,
            ),
        ];
        for (name, signed, envelope, now, want) in cases {
            let got = code_of(check_permit(
                ME,
                &master,
                &hub.public_key(),
                signed.as_ref(),
                &envelope,
                now,
            ));
            assert_eq!(got, want, "{name}");
        }
    }

    fn flag() -> Flag {
        Flag {
            unified_address_number: "uan".into(),
            item: 0,
            reason: FlagReason::SupportMeasure as i32,
            ..Default::default()
        }
    }

    #[derive(Debug, PartialEq)]
    enum Want {
        Refused(RefusalCode),
        Held(HoldCause),
        Deferred,
        Answered(answer_payload::Status),
    }

    /// The provider's decision for every combination that matters, and its record.
    #[test]
    fn the_provision_decision_table() {
        let master = master();
        let env = envelope(SAPPORO, YOKOHAMA, 25);
        let permit = permit_for(&env);
        let flag = flag();
        let no_hold = Rules {
            hold_without_copy: vec![],
            ..rules()
        };
        let slow = Rules {
            answer_latency_ms: 2_000,
            ..rules()
        };
        let quick = Rules {
            answer_latency_ms: 300,
            ..rules()
        };
        let facts = |claimed, person: Option<&'static str>, has_copy, flag| Facts {
            claimed,
            person,
            has_copy,
            flag,
        };
        let cases: Vec<(&str, Rules, Facts<'_>, Want, Outcome)> = vec![
            (
                "replayed",
                rules(),
                facts(false, Some("uan"), true, None),
                Want::Refused(RefusalCode::PermitReplayed),
                Outcome::Refused,
            ),
            (
                "unknown person",
                rules(),
                facts(true, None, false, None),
                Want::Refused(RefusalCode::UnknownPerson),
                Outcome::Refused,
            ),
            (
                "flagged with a copy",
                rules(),
                facts(true, Some("uan"), true, Some(&flag)),
                Want::Held(HoldCause::Flagged),
                Outcome::Held,
            ),
            (
                "flagged, slow back office",
                slow.clone(),
                facts(true, Some("uan"), true, Some(&flag)),
                Want::Held(HoldCause::Flagged),
                Outcome::Held,
            ),
            (
                "no copy, held by policy",
                rules(),
                facts(true, Some("uan"), false, None),
                Want::Held(HoldCause::NoCopy),
                Outcome::Held,
            ),
            (
                "no copy, not held",
                no_hold,
                facts(true, Some("uan"), false, None),
                Want::Answered(answer_payload::Status::NoData),
                Outcome::NoData,
            ),
            (
                "copy",
                rules(),
                facts(true, Some("uan"), true, None),
                Want::Answered(answer_payload::Status::Found),
                Outcome::Provided,
            ),
            (
                "copy, slow past the deadline",
                slow,
                facts(true, Some("uan"), true, None),
                Want::Deferred,
                Outcome::Pending,
            ),
            (
                "copy, slow within the deadline",
                quick,
                facts(true, Some("uan"), true, None),
                Want::Answered(answer_payload::Status::Found),
                Outcome::Provided,
            ),
        ];
        for (name, rules, facts, want, outcome) in cases {
            let p = decide(ME, &master, &rules, &permit, &facts, "abc", NOW);
            let got = match &p.step {
                Step::Refuse(r) => Want::Refused(RefusalCode::try_from(r.code).unwrap()),
                Step::Hold { held } => Want::Held(HoldCause::try_from(held.cause).unwrap()),
                Step::Defer { .. } => Want::Deferred,
                Step::Answer { status } => Want::Answered(*status),
            };
            assert_eq!(got, want, "{name}");
            assert_eq!(p.record.outcome, outcome as i32, "{name}");
            assert_eq!(p.record.permit_id, "permit-1", "{name}");
            assert_eq!(p.record.keeper, YOKOHAMA, "{name}");
            assert_eq!(p.record.counterparty, SAPPORO, "{name}");
            assert_eq!(p.record.envelope_sha256, "abc", "{name}");
            match &p.step {
                // Held and deferred replies leave together, at the deadline.
                Step::Hold { .. } | Step::Defer { .. } => {
                    assert_eq!(p.reply_at_ms, NOW + rules.answer_deadline_ms, "{name}")
                }
                Step::Answer { .. } => {
                    assert_eq!(p.reply_at_ms, NOW + rules.answer_latency_ms, "{name}")
                }
                Step::Refuse(_) => assert_eq!(p.reply_at_ms, NOW, "{name}"),
            }
        }
    }

    #[test]
    fn a_held_inquiry_carries_what_the_operator_needs() {
        let env = envelope(SAPPORO, YOKOHAMA, 25);
        let permit = permit_for(&env);
        let flag = flag();
        let facts = Facts {
            claimed: true,
            person: Some("uan"),
            has_copy: true,
            flag: Some(&flag),
        };
        let p = decide(ME, &master(), &rules(), &permit, &facts, "", NOW);
        let Step::Hold { held } = p.step else {
            panic!("{:?}", p.step)
        };
        assert_eq!(held.state, HeldState::Waiting as i32);
        assert_eq!(held.expires_at_ms, NOW + 3_600_000);
        assert_eq!(held.legal_basis, "番号法第19条第8号");
        assert_eq!(held.inquirer_name, format!("name-{SAPPORO}"));
        assert_eq!(held.flag_reason, FlagReason::SupportMeasure as i32);
        assert_eq!(p.record.unified_address_number, "uan");
    }

    #[test]
    fn a_deferred_answer_is_due_after_the_latency_and_never_expires() {
        let env = envelope(SAPPORO, YOKOHAMA, 25);
        let rules = Rules {
            answer_latency_ms: 5_000,
            ..rules()
        };
        let facts = Facts {
            claimed: true,
            person: Some("uan"),
            has_copy: true,
            flag: None,
        };
        let p = decide(ME, &master(), &rules, &permit_for(&env), &facts, "", NOW);
        let Step::Defer { held, ready_at_ms } = p.step else {
            panic!("{:?}", p.step)
        };
        assert_eq!(ready_at_ms, NOW + 5_000);
        assert_eq!(held.expires_at_ms, 0);
    }

    #[test]
    fn a_failed_seal_becomes_a_refusal_that_keeps_the_exchange() {
        let env = envelope(SAPPORO, YOKOHAMA, 25);
        let facts = Facts {
            claimed: true,
            person: Some("uan"),
            has_copy: true,
            flag: None,
        };
        let p = decide(ME, &master(), &rules(), &permit_for(&env), &facts, "", NOW)
            .refuse(ME.refusal(RefusalCode::UnknownAgency, "no key"));
        assert_eq!(p.record.outcome, Outcome::Refused as i32);
        assert_eq!(p.record.reason, "no key");
        assert_eq!(p.record.unified_address_number, "uan");
        assert!(matches!(p.step, Step::Refuse(_)));
    }
}
