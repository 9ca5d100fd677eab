//! 自動応答不可: the held-decision state machine, free of I/O.
//!
//! A held inquiry is WAITING until exactly one of: an operator approves it, an operator
//! refuses it, or it expires. A deferred answer (an ordinary answer past the deadline) is
//! completed once, when due. Every other move is refused here with a [`TransitionError`],
//! so "approve after expiry" or "decide twice" cannot happen whatever the shell does. The
//! [`Completion`] says what to seal, what the hub is told, what to store and what to record;
//! the shell stores the decision before it sends the answer.

use renkei_proto::v1::{
    Confirmations, Content, Decision, ExchangeRecord, HeldInquiry, HeldState, HoldCause, Outcome,
    answer_payload,
};

use crate::expiry;
use crate::record::Exchange;

/// A move the machine refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransitionError {
    #[error("held inquiry {permit_id} was already decided ({state})")]
    AlreadyDecided { permit_id: String, state: String },
    #[error("held inquiry {permit_id} expired at {expired_at}; it is being completed as expired")]
    Expired {
        permit_id: String,
        expired_at: String,
    },
    #[error(
        "approval needs all three confirmations: legal basis under 番号法第19条, necessity, and careful handling"
    )]
    MissingConfirmations,
    #[error(
        "only an inquiry held for lack of a provision copy takes a hand-made answer; this one is answered from its copy"
    )]
    ManualContentNotAllowed,
    #[error("is required: approve or refuse")]
    NoDecision,
    /// Nothing to do yet (not expired, not due): the sweep leaves it.
    #[error("not due")]
    NotDue,
}

impl TransitionError {
    /// The request field at fault, for errors that are the caller's input.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            TransitionError::MissingConfirmations => Some("confirmations"),
            TransitionError::ManualContentNotAllowed => Some("manual_content"),
            TransitionError::NoDecision => Some("decision"),
            _ => None,
        }
    }
}

/// A stored held or deferred entry as the machine sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub held: HeldInquiry,
    pub deferred: bool,
    pub ready_at_ms: i64,
}

/// What happens to an entry.
#[derive(Clone, Debug)]
pub enum Event {
    /// An operator's decision. `copy` is the person's copy at this moment (the answer is
    /// read when decided, not when held); `manual` a hand-made answer, already checked.
    Operator {
        decision: Decision,
        confirmations: Option<Confirmations>,
        manual: Option<Content>,
        copy: Option<Option<Content>>,
        operator: String,
    },
    /// The sweep (or a timer): expire a held inquiry or deliver a due deferred answer.
    /// `copy` as above, read for a deferred answer.
    Due { copy: Option<Option<Content>> },
}

/// The intents of one completed transition.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The entry to store before sending; `None` to delete it (a delivered deferred answer
    /// leaves nothing to keep but its record).
    pub store: Option<Entry>,
    /// What to seal for the inquirer.
    pub status: answer_payload::Status,
    pub content: Option<Content>,
    /// The outcome the hub records for the late answer.
    pub hub_outcome: Outcome,
    /// The provider's record; the shell adds the sealed answer's hash.
    pub record: ExchangeRecord,
}

fn state_name(state: i32) -> String {
    HeldState::try_from(state)
        .map(|s| s.as_str_name())
        .unwrap_or("unknown")
        .to_owned()
}

fn record_of(h: &HeldInquiry, me: &str, outcome: Outcome, now_ms: i64) -> ExchangeRecord {
    let exchange = Exchange {
        inquirer: h.inquirer.clone(),
        provider: me.to_owned(),
        procedure: h.procedure.clone(),
        item: h.item,
        inquiry_id: h.inquiry_id.clone(),
    };
    ExchangeRecord {
        permit_id: h.permit_id.clone(),
        outcome: outcome as i32,
        unified_address_number: h.unified_address_number.clone(),
        ..exchange.provision_record(now_ms)
    }
}

fn answer_of(copy: Option<Option<Content>>) -> (answer_payload::Status, Option<Content>, Outcome) {
    match copy.flatten() {
        Some(c) => (answer_payload::Status::Found, Some(c), Outcome::Provided),
        None => (answer_payload::Status::NoData, None, Outcome::NoData),
    }
}

/// Applies an event to a waiting entry of provider `me`, or refuses the move.
pub fn transition(
    entry: &Entry,
    event: Event,
    me: &str,
    now_ms: i64,
) -> Result<Completion, TransitionError> {
    let h = &entry.held;
    if h.state != HeldState::Waiting as i32 {
        return Err(TransitionError::AlreadyDecided {
            permit_id: h.permit_id.clone(),
            state: state_name(h.state),
        });
    }
    match event {
        Event::Due { copy } if entry.deferred => {
            if !expiry::deferred_due(entry.ready_at_ms, now_ms) {
                return Err(TransitionError::NotDue);
            }
            let (status, content, outcome) = answer_of(copy);
            let mut record = record_of(h, me, outcome, now_ms);
            record.note = "late answer delivered".into();
            Ok(Completion {
                store: None,
                status,
                content,
                hub_outcome: Outcome::Relayed,
                record,
            })
        }
        Event::Due { .. } => {
            if !expiry::held_expired(h.expires_at_ms, now_ms) {
                return Err(TransitionError::NotDue);
            }
            let mut done = entry.clone();
            done.held.state = HeldState::Expired as i32;
            done.held.decided_at_ms = now_ms;
            let mut record = record_of(h, me, Outcome::Expired, now_ms);
            record.reason = "the held inquiry expired without a decision".into();
            Ok(Completion {
                store: Some(done),
                status: answer_payload::Status::Expired,
                content: None,
                hub_outcome: Outcome::Expired,
                record,
            })
        }
        // Deferred answers are not operators' business: they look like no held inquiry.
        Event::Operator { .. } if entry.deferred => Err(TransitionError::NotDue),
        Event::Operator {
            decision,
            confirmations,
            manual,
            copy,
            operator,
        } => {
            if expiry::held_expired(h.expires_at_ms, now_ms) {
                return Err(TransitionError::Expired {
                    permit_id: h.permit_id.clone(),
                    expired_at: renkei_core::format_ms(h.expires_at_ms),
                });
            }
            let (status, content, outcome, state, note) = match decision {
                Decision::Approve => {
                    let c = confirmations.clone().unwrap_or_default();
                    if !(c.legal_basis && c.necessity && c.careful_handling) {
                        return Err(TransitionError::MissingConfirmations);
                    }
                    let (status, content, outcome) = match manual {
                        Some(m) if h.cause == HoldCause::NoCopy as i32 => {
                            (answer_payload::Status::Found, Some(m), Outcome::Provided)
                        }
                        Some(_) => return Err(TransitionError::ManualContentNotAllowed),
                        None => answer_of(copy),
                    };
                    (
                        status,
                        content,
                        outcome,
                        HeldState::Approved,
                        "held answer approved by an operator",
                    )
                }
                Decision::Refuse => (
                    answer_payload::Status::NotProvided,
                    None,
                    Outcome::NotProvided,
                    HeldState::Refused,
                    "held answer refused by an operator",
                ),
                Decision::Unspecified => return Err(TransitionError::NoDecision),
            };
            let mut done = entry.clone();
            done.held.state = state as i32;
            done.held.decided_by = operator.clone();
            done.held.decided_at_ms = now_ms;
            done.held.confirmations = confirmations;
            let mut record = record_of(h, me, outcome, now_ms);
            record.operator = operator;
            record.note = note.into();
            Ok(Completion {
                store: Some(done),
                status,
                content,
                hub_outcome: match outcome {
                    Outcome::NotProvided => Outcome::NotProvided,
                    _ => Outcome::Relayed,
                },
                record,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const ME: &str = "141003";

    fn entry(cause: HoldCause, state: HeldState, deferred: bool) -> Entry {
        Entry {
            held: HeldInquiry {
                permit_id: "permit-1".into(),
                inquiry_id: "inq-1".into(),
                inquirer: "011002".into(),
                procedure: "vaccination".into(),
                item: 25,
                unified_address_number: "uan".into(),
                received_at_ms: NOW - 10_000,
                expires_at_ms: if deferred { 0 } else { NOW + 10_000 },
                state: state as i32,
                cause: cause as i32,
                ..Default::default()
            },
            deferred,
            ready_at_ms: if deferred { NOW } else { 0 },
        }
    }

    fn content() -> Content {
        Content::default()
    }

    fn all() -> Confirmations {
        Confirmations {
            legal_basis: true,
            necessity: true,
            careful_handling: true,
            note: String::new(),
        }
    }

    fn op(
        decision: Decision,
        confirmations: Option<Confirmations>,
        manual: bool,
        copy: bool,
    ) -> Event {
        Event::Operator {
            decision,
            confirmations,
            manual: manual.then(content),
            copy: Some(copy.then(content)),
            operator: "approver".into(),
        }
    }

    type Want = Result<(HeldState, answer_payload::Status, Outcome), TransitionError>;

    /// Every move from every state that matters.
    #[test]
    fn the_held_transition_table() {
        use HeldState as S;
        use answer_payload::Status as A;
        let flagged = || entry(HoldCause::Flagged, S::Waiting, false);
        let no_copy = || entry(HoldCause::NoCopy, S::Waiting, false);
        let deferred = || entry(HoldCause::Unspecified, S::Waiting, true);
        let decided = |s| entry(HoldCause::Flagged, s, false);
        let partial = Confirmations {
            necessity: false,
            ..all()
        };
        let already = |s: &str| TransitionError::AlreadyDecided {
            permit_id: "permit-1".into(),
            state: s.into(),
        };
        let expired = TransitionError::Expired {
            permit_id: "permit-1".into(),
            expired_at: renkei_core::format_ms(NOW + 10_000),
        };
        let cases: Vec<(&str, Entry, Event, i64, Want)> = vec![
            (
                "approve flagged from copy",
                flagged(),
                op(Decision::Approve, Some(all()), false, true),
                NOW,
                Ok((S::Approved, A::Found, Outcome::Provided)),
            ),
            (
                "approve flagged, copy gone since",
                flagged(),
                op(Decision::Approve, Some(all()), false, false),
                NOW,
                Ok((S::Approved, A::NoData, Outcome::NoData)),
            ),
            (
                "approve without all confirmations",
                flagged(),
                op(Decision::Approve, Some(partial), false, true),
                NOW,
                Err(TransitionError::MissingConfirmations),
            ),
            (
                "approve with no confirmations",
                flagged(),
                op(Decision::Approve, None, false, true),
                NOW,
                Err(TransitionError::MissingConfirmations),
            ),
            (
                "approve flagged by hand",
                flagged(),
                op(Decision::Approve, Some(all()), true, true),
                NOW,
                Err(TransitionError::ManualContentNotAllowed),
            ),
            (
                "approve no-copy by hand",
                no_copy(),
                op(Decision::Approve, Some(all()), true, false),
                NOW,
                Ok((S::Approved, A::Found, Outcome::Provided)),
            ),
            (
                "refuse",
                flagged(),
                op(Decision::Refuse, None, false, true),
                NOW,
                Ok((S::Refused, A::NotProvided, Outcome::NotProvided)),
            ),
            (
                "no decision",
                flagged(),
                op(Decision::Unspecified, None, false, true),
                NOW,
                Err(TransitionError::NoDecision),
            ),
            (
                "approve after expiry",
                flagged(),
                op(Decision::Approve, Some(all()), false, true),
                NOW + 10_000,
                Err(expired.clone()),
            ),
            (
                "refuse after expiry",
                flagged(),
                op(Decision::Refuse, None, false, true),
                NOW + 20_000,
                Err(expired),
            ),
            (
                "decide twice",
                decided(S::Approved),
                op(Decision::Refuse, None, false, true),
                NOW,
                Err(already("HELD_STATE_APPROVED")),
            ),
            (
                "expire a refused one",
                decided(S::Refused),
                Event::Due { copy: None },
                NOW + 20_000,
                Err(already("HELD_STATE_REFUSED")),
            ),
            (
                "expire an expired one",
                decided(S::Expired),
                Event::Due { copy: None },
                NOW + 20_000,
                Err(already("HELD_STATE_EXPIRED")),
            ),
            (
                "sweep before expiry",
                flagged(),
                Event::Due { copy: None },
                NOW + 9_999,
                Err(TransitionError::NotDue),
            ),
            (
                "sweep at expiry",
                flagged(),
                Event::Due { copy: None },
                NOW + 10_000,
                Ok((S::Expired, A::Expired, Outcome::Expired)),
            ),
            (
                "deferred before due",
                deferred(),
                Event::Due {
                    copy: Some(Some(content())),
                },
                NOW - 1,
                Err(TransitionError::NotDue),
            ),
            (
                "deferred due",
                deferred(),
                Event::Due {
                    copy: Some(Some(content())),
                },
                NOW,
                Ok((S::Waiting, A::Found, Outcome::Provided)),
            ),
            (
                "deferred due, no copy",
                deferred(),
                Event::Due { copy: Some(None) },
                NOW,
                Ok((S::Waiting, A::NoData, Outcome::NoData)),
            ),
            (
                "operator on a deferred answer",
                deferred(),
                op(Decision::Approve, Some(all()), false, true),
                NOW,
                Err(TransitionError::NotDue),
            ),
        ];
        for (name, entry, event, now, want) in cases {
            let got = transition(&entry, event, ME, now).map(|c| {
                assert_eq!(c.record.keeper, ME, "{name}");
                assert_eq!(c.record.permit_id, "permit-1", "{name}");
                assert_eq!(c.record.recorded_at_ms, now, "{name}");
                let state = match &c.store {
                    Some(e) => {
                        assert_eq!(e.held.decided_at_ms, now, "{name}");
                        HeldState::try_from(e.held.state).unwrap()
                    }
                    // A delivered deferred answer is deleted.
                    None => HeldState::Waiting,
                };
                (
                    state,
                    c.status,
                    Outcome::try_from(c.record.outcome).unwrap(),
                )
            });
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn the_hub_hears_not_provided_expired_or_relayed() {
        let e = entry(HoldCause::Flagged, HeldState::Waiting, false);
        let refuse = transition(&e, op(Decision::Refuse, None, false, true), ME, NOW).unwrap();
        assert_eq!(refuse.hub_outcome, Outcome::NotProvided);
        let approve =
            transition(&e, op(Decision::Approve, Some(all()), false, true), ME, NOW).unwrap();
        assert_eq!(approve.hub_outcome, Outcome::Relayed);
        assert_eq!(approve.record.operator, "approver");
        let stored = approve.store.unwrap();
        assert_eq!(stored.held.decided_by, "approver");
        assert_eq!(stored.held.confirmations, Some(all()));
        let expire = transition(&e, Event::Due { copy: None }, ME, NOW + 10_000).unwrap();
        assert_eq!(expire.hub_outcome, Outcome::Expired);
        assert_eq!(
            TransitionError::MissingConfirmations.field(),
            Some("confirmations")
        );
    }
}
