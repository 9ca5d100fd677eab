//! What a record must hold before it goes into the log, and what it must never hold.
//!
//! A 情報提供等記録 has to answer, years later: when, which direction, with whom, for which
//! procedure and item, under which permit, with what outcome, decided by whom (for manual
//! decisions), and over which sealed messages (their hashes). The log is append-only, so
//! an incomplete or over-sharing record cannot be fixed afterwards: it is refused here.
//! The schema has no payload field at all; free text is checked for a My Number.

use renkei_proto::v1::{Direction, ExchangeRecord, Outcome};

use crate::RecordError;

fn invalid(field: &'static str, reason: impl Into<String>) -> RecordError {
    RecordError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// True if `text` holds a standalone 12-digit token with a valid My Number check digit.
pub(crate) fn holds_my_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let run = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            let bounded = b.get(i + run).is_none_or(|c| !c.is_ascii_alphanumeric());
            if run == 12
                && bounded
                && let Some(token) = text.get(i..i + 12)
                && renkei_core::MyNumber::parse(token).is_ok()
            {
                return true;
            }
            i += run;
        } else {
            i += 1;
        }
    }
    false
}

/// Outcomes of an exchange that got as far as a permit: the full context is known.
fn permitted(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Provided
            | Outcome::NoData
            | Outcome::Held
            | Outcome::NotProvided
            | Outcome::Expired
            | Outcome::Relayed
            | Outcome::Pending
    )
}

pub(crate) fn check(r: &ExchangeRecord) -> Result<(), RecordError> {
    if r.recorded_at_ms <= 0 {
        return Err(invalid(
            "recorded_at_ms",
            "the time of the record is missing",
        ));
    }
    if r.keeper.is_empty() {
        return Err(invalid("keeper", "who keeps the record is missing"));
    }
    let direction = Direction::try_from(r.direction).unwrap_or(Direction::Unspecified);
    let outcome = Outcome::try_from(r.outcome).unwrap_or(Outcome::Unspecified);
    if direction == Direction::Unspecified {
        return Err(invalid("direction", "the direction is missing or unknown"));
    }
    if outcome == Outcome::Unspecified {
        return Err(invalid("outcome", "the outcome is missing or unknown"));
    }
    match direction {
        Direction::System if r.note.is_empty() => {
            return Err(invalid("note", "a system record says what was done"));
        }
        Direction::System => {}
        _ if permitted(outcome) => {
            if direction == Direction::Relay {
                if r.inquirer.is_empty() || r.provider.is_empty() {
                    return Err(invalid("inquirer", "a relay names inquirer and provider"));
                }
            } else if r.counterparty.is_empty() {
                return Err(invalid("counterparty", "the other agency is missing"));
            }
            if r.procedure.is_empty() {
                return Err(invalid("procedure", "the procedure (事務) is missing"));
            }
            if r.item == 0 {
                return Err(invalid("item", "the data item is missing"));
            }
            if r.permit_id.is_empty() {
                return Err(invalid("permit_id", "the permit id is missing"));
            }
        }
        _ => {}
    }
    // Only the provider that decided knows who decided; the inquirer and the hub learn the
    // outcome from the sealed answer and record it without a name.
    if outcome == Outcome::NotProvided && direction == Direction::Provision && r.operator.is_empty()
    {
        return Err(invalid(
            "operator",
            "a manual decision names the operator who made it",
        ));
    }
    for (field, v) in [
        ("envelope_sha256", &r.envelope_sha256),
        ("sealed_answer_sha256", &r.sealed_answer_sha256),
    ] {
        if !v.is_empty() && !is_sha256_hex(v) {
            return Err(invalid(field, "must be a SHA-256 in lowercase hex"));
        }
    }
    for (field, v) in [
        ("reason", &r.reason),
        ("note", &r.note),
        ("operator", &r.operator),
    ] {
        if holds_my_number(v) {
            return Err(invalid(field, "free text must not hold a My Number"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> ExchangeRecord {
        ExchangeRecord {
            recorded_at_ms: 1,
            keeper: "011002".into(),
            direction: Direction::Inquiry as i32,
            counterparty: "141003".into(),
            procedure: "vaccination".into(),
            item: 25,
            permit_id: "pm-1".into(),
            outcome: Outcome::Provided as i32,
            envelope_sha256: "ab".repeat(32),
            sealed_answer_sha256: "cd".repeat(32),
            ..Default::default()
        }
    }

    fn field_of(r: &ExchangeRecord) -> &'static str {
        match check(r) {
            Err(RecordError::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn complete_records_pass_and_each_missing_part_is_named() {
        check(&good()).unwrap();
        type Change = fn(&mut ExchangeRecord);
        let cases: Vec<(Change, &str)> = vec![
            (|r| r.recorded_at_ms = 0, "recorded_at_ms"),
            (|r| r.keeper.clear(), "keeper"),
            (|r| r.direction = 0, "direction"),
            (|r| r.outcome = 0, "outcome"),
            (|r| r.counterparty.clear(), "counterparty"),
            (|r| r.procedure.clear(), "procedure"),
            (|r| r.item = 0, "item"),
            (|r| r.permit_id.clear(), "permit_id"),
            (|r| r.envelope_sha256 = "xyz".into(), "envelope_sha256"),
            (
                |r| r.sealed_answer_sha256 = "AB".repeat(32),
                "sealed_answer_sha256",
            ),
            (
                |r| {
                    r.outcome = Outcome::NotProvided as i32;
                    r.direction = Direction::Provision as i32;
                },
                "operator",
            ),
        ];
        for (change, field) in cases {
            let mut r = good();
            change(&mut r);
            assert_eq!(field_of(&r), field);
        }
        // A refusal before any permit carries what could be trusted, no more.
        let refused = ExchangeRecord {
            recorded_at_ms: 1,
            keeper: "141003".into(),
            direction: Direction::Provision as i32,
            outcome: Outcome::Refused as i32,
            reason: "the permit's signature does not verify".into(),
            ..Default::default()
        };
        check(&refused).unwrap();
        let mut decided = good();
        decided.outcome = Outcome::NotProvided as i32;
        decided.operator = "op-tanaka".into();
        check(&decided).unwrap();
    }

    #[test]
    fn a_my_number_in_free_text_is_refused_but_ids_are_not_mistaken_for_one() {
        // 123456789018 has a valid check digit (see renkei-core's tests).
        assert!(renkei_core::MyNumber::parse("123456789018").is_ok());
        let mut r = good();
        r.reason = "person 123456789018 not found".into();
        assert_eq!(field_of(&r), "reason");
        r.reason = "123456789018".into();
        assert_eq!(field_of(&r), "reason");
        for fine in [
            "1234567890180",            // 13 digits
            "x123456789018",            // part of a word
            "inq-123456789018ab01cd02", // inside an id
            "123456789017",             // wrong check digit
        ] {
            assert!(!holds_my_number(fine), "{fine}");
        }
        r.reason = "inq-123456789018ab01cd02 refused".into();
        check(&r).unwrap();
    }
}
