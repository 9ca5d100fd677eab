//! The hub's decisions (情報提供ネットワークシステム), free of I/O.
//!
//! The hub shell parses nothing and decides nothing itself: it hands the envelope bytes,
//! the published master data, the outcome of its symbol translation, a fresh permit id
//! and `now_ms` to these functions, and carries out what they return (sign and send the
//! permit, store the pending exchange, append the record). The refusal table is therefore
//! a table of unit tests here instead of a cluster on loopback.
//!
//! Two kinds of "no" come out of this module, on purpose kept apart:
//! * a [`Refusal`] is part of the exchange protocol: it is recorded in the hub's log and
//!   answered to the inquirer as a normal result;
//! * a [`Denied`] is a request the hub will not even treat as an exchange (malformed,
//!   or sent by the wrong party): it becomes a gRPC error at the hub's edge and leaves no
//!   record, because there is no trustworthy exchange to record.

use prost::Message as _;
use renkei_core::{AgencyCode, ItemNumber, ProcedureCode};
use renkei_master::{MasterData, WhitelistRefusal};
use renkei_proto::v1::{
    ExchangeRecord, InquiryEnvelope, Outcome, Pending, Permit, Refusal, RefusalCode, SealedAnswer,
    exchange_response,
};

use crate::record::{Exchange, HUB_KEEPER};

/// A request the hub refuses to treat as an exchange at all. Named by cause; the hub's edge
/// maps each to a gRPC status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
    /// A field of the request breaks the identifier rules.
    #[error("{field}: {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    /// The envelope speaks for another agency than the caller's certificate.
    #[error("the envelope names inquirer {named:?} but your certificate is for {caller}")]
    NotTheInquirer { named: String, caller: String },
    /// A late answer for a permit the hub is not waiting on (never held, or already relayed).
    #[error("no exchange with permit {permit_id} is waiting for an answer")]
    NoPendingExchange { permit_id: String },
    /// A late answer from an agency other than the permit's provider.
    #[error("permit {permit_id} was issued for provider {provider}, not {caller}")]
    NotTheProvider {
        permit_id: String,
        provider: String,
        caller: String,
    },
    /// A late answer after the hub stopped keeping the exchange (past record retention).
    #[error(
        "the exchange with permit {permit_id} was kept for its answer until {kept_until}; it is no longer relayed"
    )]
    PendingExpired {
        permit_id: String,
        kept_until: String,
    },
    /// The inquirer of a late answer has no network endpoint in master data.
    #[error("inquirer {inquirer} is not connected to the network")]
    InquirerNotConnected { inquirer: String },
}

impl Denied {
    fn invalid(field: &'static str, message: impl Into<String>) -> Denied {
        Denied::InvalidField {
            field,
            message: message.into(),
        }
    }
}

/// An envelope that passed the identifier rules and speaks for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Who asked whom for what, as every record of this exchange will say.
    pub exchange: Exchange,
    pub provider: AgencyCode,
    /// The inquirer's disclosure embargo (0 = none), recorded and honoured by the hub.
    pub disclose_after_ms: i64,
    /// SHA-256 of the envelope bytes: what the permit authorises, byte for byte.
    pub sha256: [u8; 32],
}

/// Validates the envelope bytes against the caller's identity and the identifier rules.
pub fn parse_envelope(caller: &AgencyCode, bytes: &[u8]) -> Result<Envelope, Denied> {
    let env = InquiryEnvelope::decode(bytes)
        .map_err(|e| Denied::invalid("envelope", format!("not a valid InquiryEnvelope: {e}")))?;
    if env.inquirer != caller.as_str() {
        return Err(Denied::NotTheInquirer {
            named: env.inquirer,
            caller: caller.to_string(),
        });
    }
    let provider = AgencyCode::parse(&env.provider)
        .map_err(|e| Denied::invalid("envelope.provider", e.to_string()))?;
    ProcedureCode::parse(&env.procedure)
        .map_err(|e| Denied::invalid("envelope.procedure", e.to_string()))?;
    ItemNumber::new(env.item).map_err(|e| Denied::invalid("envelope.item", e.to_string()))?;
    if env.inquiry_id.is_empty() || env.inquiry_id.len() > 64 {
        return Err(Denied::invalid(
            "envelope.inquiry_id",
            "must be 1 to 64 characters",
        ));
    }
    Ok(Envelope {
        exchange: Exchange {
            inquirer: env.inquirer,
            provider: env.provider,
            procedure: env.procedure,
            item: env.item,
            inquiry_id: env.inquiry_id,
        },
        provider,
        disclose_after_ms: env.disclose_after_ms.max(0),
        sha256: renkei_crypto::sha256(bytes),
    })
}

/// What the hub's symbol translation gave for the inquirer's symbol. The translation
/// needs the symbol secret, so the shell does it and passes the outcome in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Translation {
    /// The symbol authenticates as issued to the caller; this is the person's symbol at
    /// the provider.
    Found { provider_symbol: Vec<u8> },
    /// The symbol was not issued by this hub to the caller (another agency's, or forged).
    NotIssuedToCaller,
}

/// Everything the hub authorizes an exchange on.
#[derive(Debug)]
pub struct Authorize<'a> {
    pub caller: &'a AgencyCode,
    pub envelope: &'a Envelope,
    pub translation: Translation,
    pub master: &'a MasterData,
    pub now_ms: i64,
    /// A fresh id for the permit, used only if one is issued.
    pub permit_id: String,
    /// How long a permit is valid after issuance.
    pub permit_ttl_ms: i64,
}

/// Where to deliver: a gateway's network endpoint from master data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub endpoint: String,
    pub server_name: String,
}

/// A permit to sign and deliver, with the record the delivery's outcome completes.
#[derive(Debug, Clone, PartialEq)]
pub struct Permitted {
    pub permit: Permit,
    pub route: Route,
    /// The relay record so far: permit and person reference set, outcome still open.
    pub record: ExchangeRecord,
    /// The provider's display name, for messages to the inquirer.
    pub provider_name: String,
}

/// The hub's decision on an envelope. Made once per exchange and moved once, so the
/// variants' sizes do not matter.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Authorization {
    /// Sign `permit` and deliver it with the envelope along `route`.
    Permit(Permitted),
    /// Answer `refusal` to the inquirer and append `record`.
    Refused {
        refusal: Refusal,
        record: ExchangeRecord,
    },
}

/// A refusal in the hub's name.
pub fn hub_refusal(code: RefusalCode, message: impl Into<String>) -> Refusal {
    Refusal {
        code: code as i32,
        message: message.into(),
        refused_by: HUB_KEEPER.into(),
    }
}

/// 情報照会 at the hub: the whitelist, then the symbol, then the provider's connection;
/// a permit only if all three pass. Each refusal is recorded.
pub fn authorize(a: Authorize<'_>) -> Authorization {
    let env = a.envelope;
    let master = a.master;
    let ex = &env.exchange;
    let mut record = ex.relay_record(a.now_ms);
    record.envelope_sha256 = hex(&env.sha256);
    record.disclose_after_ms = env.disclose_after_ms;
    let refused = |record: ExchangeRecord, code: RefusalCode, message: String| {
        let mut record = record;
        record.outcome = Outcome::Refused as i32;
        record.reason = message.clone();
        Authorization::Refused {
            refusal: hub_refusal(code, message),
            record,
        }
    };

    if let Err(r) = master.check(&ex.inquirer, &ex.provider, &ex.procedure, ex.item) {
        let code = match r {
            WhitelistRefusal::UnknownAgency { .. } => RefusalCode::UnknownAgency,
            WhitelistRefusal::NotAllowed { .. } => RefusalCode::NotOnWhitelist,
        };
        return refused(record, code, r.message());
    }
    let provider_symbol = match a.translation {
        Translation::Found { provider_symbol } => provider_symbol,
        Translation::NotIssuedToCaller => {
            let msg = format!(
                "the symbol was not issued by this hub to {} ({}); acquire the person's symbol again",
                master.name_of(a.caller.as_str()),
                a.caller
            );
            return refused(record, RefusalCode::SymbolInvalid, msg);
        }
    };
    let Some(agency) = master
        .agency(&ex.provider)
        .filter(|a| !a.endpoint.is_empty())
    else {
        let msg = format!(
            "{} ({}) is not connected to the network",
            master.name_of(&ex.provider),
            ex.provider
        );
        return refused(record, RefusalCode::ProviderUnreachable, msg);
    };

    let permit = Permit {
        permit_id: a.permit_id,
        inquiry_id: ex.inquiry_id.clone(),
        inquirer: ex.inquirer.clone(),
        provider: ex.provider.clone(),
        procedure: ex.procedure.clone(),
        item: ex.item,
        provider_symbol,
        envelope_sha256: env.sha256.to_vec(),
        issued_at_ms: a.now_ms,
        expires_at_ms: a.now_ms.saturating_add(a.permit_ttl_ms),
        master_version: master.version(),
    };
    record.permit_id = permit.permit_id.clone();
    record.person_ref = person_ref(&permit.provider_symbol);
    Authorization::Permit(Permitted {
        route: Route {
            endpoint: agency.endpoint.clone(),
            server_name: agency.server_name.clone(),
        },
        provider_name: agency.name.clone(),
        permit,
        record,
    })
}

/// What came back from the provider's gateway for a delivered permit.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderReply {
    Answer(SealedAnswer),
    /// Held or deferred at the provider: the answer comes later, through the hub.
    Pending(Pending),
    Refused(Refusal),
    /// A response without a result.
    Empty,
    /// The call failed; `message` is what the transport said.
    Unreachable {
        message: String,
    },
}

/// What the hub does with the provider's reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Relay {
    /// Answered to the inquirer.
    pub result: exchange_response::Result,
    /// Appended to the hub's log.
    pub record: ExchangeRecord,
    /// Keep `record` until the late answer comes (durably, before answering `Pending`).
    pub await_answer: bool,
}

/// Relays the provider's reply to the inquirer. The hub cannot open an answer, but it can
/// refuse to relay one that does not name this permit, so a confused provider cannot
/// misdeliver.
pub fn relay(p: &Permitted, reply: ProviderReply) -> Relay {
    let mut record = p.record.clone();
    let mut await_answer = false;
    let failed = |record: &mut ExchangeRecord, code: RefusalCode, why: String| {
        record.outcome = Outcome::Failed as i32;
        record.reason = why.clone();
        exchange_response::Result::Refused(hub_refusal(code, why))
    };
    let result = match reply {
        ProviderReply::Answer(answer) => {
            if answer.permit_id != p.permit.permit_id
                || answer.inquirer != p.permit.inquirer
                || answer.provider != p.permit.provider
            {
                failed(
                    &mut record,
                    RefusalCode::Malformed,
                    "the provider's answer does not name this permit and these agencies".into(),
                )
            } else {
                record.outcome = Outcome::Relayed as i32;
                record.sealed_answer_sha256 = hex(&renkei_crypto::sha256(&answer.ciphertext));
                exchange_response::Result::Answer(answer)
            }
        }
        ProviderReply::Pending(pending) => {
            record.outcome = Outcome::Pending as i32;
            await_answer = true;
            exchange_response::Result::Pending(pending)
        }
        ProviderReply::Refused(r) => {
            record.outcome = Outcome::Refused as i32;
            record.reason = r.message.clone();
            exchange_response::Result::Refused(r)
        }
        ProviderReply::Empty => failed(
            &mut record,
            RefusalCode::Malformed,
            "the provider's gateway sent an empty response".into(),
        ),
        ProviderReply::Unreachable { message } => failed(
            &mut record,
            RefusalCode::ProviderUnreachable,
            format!(
                "{}'s gateway could not be reached: {message}",
                p.provider_name
            ),
        ),
    };
    Relay {
        result,
        record,
        await_answer,
    }
}

/// An exchange the hub keeps until its late answer comes.
#[derive(Debug, Clone, PartialEq)]
pub struct AwaitingAnswer {
    /// The relay record written when the provider answered `Pending`.
    pub record: ExchangeRecord,
    /// After this, the hub no longer relays the answer (and may forget the exchange).
    pub keep_until_ms: i64,
}

/// How long the hub keeps a pending exchange: as long as it keeps the exchange's record.
/// A provider's hold is bounded by its own policy, far shorter; this only bounds the
/// hub's storage if a provider never answers.
pub fn keep_pending_until(recorded_at_ms: i64, retention_days: u32) -> i64 {
    recorded_at_ms.saturating_add(i64::from(retention_days) * 86_400_000)
}

/// Everything the hub decides a late answer on.
#[derive(Debug)]
pub struct LateAnswer<'a> {
    pub caller: &'a AgencyCode,
    pub answer: &'a SealedAnswer,
    /// What the provider says it decided; the hub cannot check it (the answer is sealed).
    pub claimed: Outcome,
    /// The exchange stored under the answer's permit id, if any.
    pub awaiting: Option<AwaitingAnswer>,
    pub master: &'a MasterData,
    pub now_ms: i64,
}

/// A late answer to forward, and the record to append once the inquirer took it.
#[derive(Debug, Clone, PartialEq)]
pub struct LateRelay {
    pub route: Route,
    pub record: ExchangeRecord,
}

/// A provider's answer after an operator's decision (or its hold's expiry): relay it to
/// the inquirer if the hub is waiting on exactly this permit from exactly this provider.
pub fn late_answer(l: LateAnswer<'_>) -> Result<LateRelay, Denied> {
    let permit_id = &l.answer.permit_id;
    let Some(awaiting) = l.awaiting else {
        return Err(Denied::NoPendingExchange {
            permit_id: permit_id.clone(),
        });
    };
    let pending = awaiting.record;
    if pending.provider != l.caller.as_str() || l.answer.provider != l.caller.as_str() {
        return Err(Denied::NotTheProvider {
            permit_id: permit_id.clone(),
            provider: pending.provider,
            caller: l.caller.to_string(),
        });
    }
    if l.now_ms >= awaiting.keep_until_ms {
        return Err(Denied::PendingExpired {
            permit_id: permit_id.clone(),
            kept_until: renkei_core::format_ms(awaiting.keep_until_ms),
        });
    }
    if l.answer.inquirer != pending.inquirer {
        return Err(Denied::invalid(
            "answer.inquirer",
            format!("the permit's inquirer is {}", pending.inquirer),
        ));
    }
    let Some(agency) = l
        .master
        .agency(&pending.inquirer)
        .filter(|a| !a.endpoint.is_empty())
    else {
        return Err(Denied::InquirerNotConnected {
            inquirer: pending.inquirer,
        });
    };
    let (outcome, note) = match l.claimed {
        Outcome::NotProvided => (Outcome::NotProvided, "late answer relayed: not provided"),
        Outcome::Expired => (Outcome::Expired, "late answer relayed: expired"),
        _ => (Outcome::Relayed, "late answer relayed"),
    };
    let record = ExchangeRecord {
        recorded_at_ms: l.now_ms,
        outcome: outcome as i32,
        sealed_answer_sha256: hex(&renkei_crypto::sha256(&l.answer.ciphertext)),
        note: note.into(),
        ..pending
    };
    Ok(LateRelay {
        route: Route {
            endpoint: agency.endpoint.clone(),
            server_name: agency.server_name.clone(),
        },
        record,
    })
}

/// The key under which the hub's records about one person are joined for disclosure: a
/// one-way digest of the person's symbol at the provider, so a record can be shown whole
/// (and its leaf hash checked) without handing anyone a symbol.
pub fn person_ref(provider_symbol: &[u8]) -> Vec<u8> {
    let mut m = b"renkei/v1/person-ref\0".to_vec();
    m.extend_from_slice(provider_symbol);
    renkei_crypto::sha256(&m).to_vec()
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use renkei_proto::v1::{Agency, AgencyKind, MasterBundle, WhitelistEntry};

    use super::*;

    const SAPPORO: &str = "011002";
    const YOKOHAMA: &str = "141003";
    const HOKKAIDO: &str = "010006";
    /// In the directory, but without a network endpoint.
    const CHIYODA: &str = "131016";
    /// A well-formed code the directory does not list.
    const OSAKA: &str = "271004";
    const NOW: i64 = 1_800_000_000_000;
    const TTL: i64 = 60_000;

    fn code(c: &str) -> AgencyCode {
        AgencyCode::parse(c).unwrap()
    }

    fn master() -> MasterData {
        let agency = |code: &str, kind: AgencyKind, endpoint: &str| Agency {
            code: code.into(),
            name: format!("name-{code}"),
            kind: kind as i32,
            endpoint: endpoint.into(),
            server_name: if endpoint.is_empty() {
                String::new()
            } else {
                format!("gw-{code}")
            },
            ..Default::default()
        };
        let entry = |item, ik: AgencyKind| WhitelistEntry {
            item,
            old_item: "x".into(),
            procedure: "vaccination".into(),
            procedure_name: "p".into(),
            information: "info".into(),
            inquirer_kind: ik as i32,
            provider_kind: AgencyKind::Municipality as i32,
            ..Default::default()
        };
        MasterData::new(MasterBundle {
            version: 7,
            agencies: vec![
                agency(SAPPORO, AgencyKind::Municipality, "10.0.0.1:7401"),
                agency(YOKOHAMA, AgencyKind::Municipality, "10.0.0.2:7401"),
                agency(HOKKAIDO, AgencyKind::Prefecture, "10.0.0.3:7401"),
                agency(CHIYODA, AgencyKind::Municipality, ""),
            ],
            whitelist: vec![
                entry(25, AgencyKind::Municipality),
                entry(26, AgencyKind::Prefecture),
            ],
            ..Default::default()
        })
        .unwrap()
    }

    fn envelope_bytes(inquirer: &str, provider: &str, procedure: &str, item: u32) -> Vec<u8> {
        InquiryEnvelope {
            inquiry_id: "inq-1".into(),
            inquirer: inquirer.into(),
            provider: provider.into(),
            procedure: procedure.into(),
            item,
            created_at_ms: NOW - 5,
            nonce: vec![9; 16],
            disclose_after_ms: 0,
        }
        .encode_to_vec()
    }

    fn envelope(inquirer: &str, provider: &str, procedure: &str, item: u32) -> Envelope {
        let bytes = envelope_bytes(inquirer, provider, procedure, item);
        parse_envelope(&code(inquirer), &bytes).unwrap()
    }

    fn found() -> Translation {
        Translation::Found {
            provider_symbol: vec![0xab; 45],
        }
    }

    fn decide(env: &Envelope, translation: Translation, master: &MasterData) -> Authorization {
        let caller = code(&env.exchange.inquirer);
        authorize(Authorize {
            caller: &caller,
            envelope: env,
            translation,
            master,
            now_ms: NOW,
            permit_id: "permit-1".into(),
            permit_ttl_ms: TTL,
        })
    }

    fn permitted(a: Authorization) -> Permitted {
        match a {
            Authorization::Permit(p) => p,
            other => panic!("expected a permit, got {other:?}"),
        }
    }

    #[test]
    fn refusal_table() {
        let m = master();
        // (case, envelope, translation, expected code, words the message must carry)
        let cases: Vec<(&str, Envelope, Translation, RefusalCode, &str)> = vec![
            (
                "provider not in the directory",
                envelope(SAPPORO, OSAKA, "vaccination", 25),
                found(),
                RefusalCode::UnknownAgency,
                OSAKA,
            ),
            (
                "item not on the whitelist at all",
                envelope(SAPPORO, YOKOHAMA, "vaccination", 99),
                found(),
                RefusalCode::NotOnWhitelist,
                "not on the whitelist",
            ),
            (
                "item allowed for another kind of inquirer",
                envelope(SAPPORO, YOKOHAMA, "vaccination", 26),
                found(),
                RefusalCode::NotOnWhitelist,
                "may be asked by a 都道府県知事",
            ),
            (
                "item listed under another procedure",
                envelope(SAPPORO, YOKOHAMA, "childcare", 25),
                found(),
                RefusalCode::NotOnWhitelist,
                "listed only under vaccination",
            ),
            (
                "symbol not issued to the caller",
                envelope(SAPPORO, YOKOHAMA, "vaccination", 25),
                Translation::NotIssuedToCaller,
                RefusalCode::SymbolInvalid,
                "name-011002 (011002)",
            ),
            (
                "the whitelist is checked before the symbol",
                envelope(SAPPORO, YOKOHAMA, "vaccination", 99),
                Translation::NotIssuedToCaller,
                RefusalCode::NotOnWhitelist,
                "not on the whitelist",
            ),
            (
                "provider without a network endpoint",
                envelope(SAPPORO, CHIYODA, "vaccination", 25),
                found(),
                RefusalCode::ProviderUnreachable,
                "is not connected to the network",
            ),
            (
                "the symbol is checked before the connection",
                envelope(SAPPORO, CHIYODA, "vaccination", 25),
                Translation::NotIssuedToCaller,
                RefusalCode::SymbolInvalid,
                "acquire the person's symbol again",
            ),
        ];
        for (case, env, translation, want, words) in cases {
            match decide(&env, translation, &m) {
                Authorization::Refused { refusal, record } => {
                    assert_eq!(refusal.code, want as i32, "{case}: {refusal:?}");
                    assert_eq!(refusal.refused_by, HUB_KEEPER, "{case}");
                    assert!(refusal.message.contains(words), "{case}: {refusal:?}");
                    assert_eq!(record.outcome, Outcome::Refused as i32, "{case}");
                    assert_eq!(record.reason, refusal.message, "{case}");
                    assert_eq!(record.keeper, HUB_KEEPER, "{case}");
                    assert_eq!(record.recorded_at_ms, NOW, "{case}");
                    assert_eq!(record.inquiry_id, "inq-1", "{case}");
                    assert_eq!(record.envelope_sha256, hex(&env.sha256), "{case}");
                    // No permit was issued, and nothing names the person.
                    assert!(record.permit_id.is_empty(), "{case}");
                    assert!(record.person_ref.is_empty(), "{case}");
                }
                other => panic!("{case}: expected {want:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_unknown_inquirer_is_an_unknown_agency() {
        let m = master();
        let env = envelope(OSAKA, YOKOHAMA, "vaccination", 25);
        match decide(&env, found(), &m) {
            Authorization::Refused { refusal, .. } => {
                assert_eq!(refusal.code, RefusalCode::UnknownAgency as i32);
                assert!(refusal.message.contains(OSAKA), "{refusal:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_permit_binds_the_envelope_the_person_and_the_master_version() {
        let m = master();
        let env = envelope(SAPPORO, YOKOHAMA, "vaccination", 25);
        let p = permitted(decide(&env, found(), &m));
        assert_eq!(p.permit.permit_id, "permit-1");
        assert_eq!(p.permit.inquirer, SAPPORO);
        assert_eq!(p.permit.provider, YOKOHAMA);
        assert_eq!(p.permit.procedure, "vaccination");
        assert_eq!(p.permit.item, 25);
        assert_eq!(p.permit.inquiry_id, "inq-1");
        assert_eq!(p.permit.provider_symbol, vec![0xab; 45]);
        assert_eq!(p.permit.envelope_sha256, env.sha256.to_vec());
        assert_eq!(p.permit.issued_at_ms, NOW);
        assert_eq!(p.permit.expires_at_ms, NOW + TTL);
        assert_eq!(p.permit.master_version, 7);
        assert_eq!(
            p.route,
            Route {
                endpoint: "10.0.0.2:7401".into(),
                server_name: format!("gw-{YOKOHAMA}"),
            }
        );
        assert_eq!(p.provider_name, "name-141003");
        assert_eq!(p.record.permit_id, "permit-1");
        assert_eq!(p.record.person_ref, person_ref(&[0xab; 45]));
        assert_eq!(p.record.outcome, Outcome::Unspecified as i32);
        assert_eq!(
            p.record.direction,
            renkei_proto::v1::Direction::Relay as i32
        );
        // A prefecture may ask for item 26, which a municipality may not.
        let env = envelope(HOKKAIDO, YOKOHAMA, "vaccination", 26);
        permitted(decide(&env, found(), &m));
    }

    #[test]
    fn the_permit_lifetime_is_counted_from_now_and_saturates() {
        let m = master();
        let env = envelope(SAPPORO, YOKOHAMA, "vaccination", 25);
        let caller = code(SAPPORO);
        let at = |now_ms, ttl| {
            permitted(authorize(Authorize {
                caller: &caller,
                envelope: &env,
                translation: found(),
                master: &m,
                now_ms,
                permit_id: "p".into(),
                permit_ttl_ms: ttl,
            }))
            .permit
        };
        let p = at(1_000, 30_000);
        assert_eq!((p.issued_at_ms, p.expires_at_ms), (1_000, 31_000));
        assert_eq!(at(i64::MAX - 1, TTL).expires_at_ms, i64::MAX);
    }

    #[test]
    fn envelope_table() {
        let caller = code(SAPPORO);
        let with = |f: &dyn Fn(&mut InquiryEnvelope)| {
            let mut e = InquiryEnvelope::decode(
                envelope_bytes(SAPPORO, YOKOHAMA, "vaccination", 25).as_slice(),
            )
            .unwrap();
            f(&mut e);
            e.encode_to_vec()
        };
        let field = |bytes: &[u8]| match parse_envelope(&caller, bytes) {
            Err(Denied::InvalidField { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        };
        assert_eq!(field(&[0x0a, 100, 1, 2]), "envelope");
        assert_eq!(
            field(&with(&|e| e.provider = "14100".into())),
            "envelope.provider"
        );
        assert_eq!(
            field(&with(&|e| e.provider = "141004".into())),
            "envelope.provider"
        );
        assert_eq!(
            field(&with(&|e| e.procedure = String::new())),
            "envelope.procedure"
        );
        assert_eq!(
            field(&with(&|e| e.procedure = "Vacc ine".into())),
            "envelope.procedure"
        );
        assert_eq!(field(&with(&|e| e.item = 0)), "envelope.item");
        assert_eq!(
            field(&with(&|e| e.inquiry_id = String::new())),
            "envelope.inquiry_id"
        );
        assert_eq!(
            field(&with(&|e| e.inquiry_id = "x".repeat(65))),
            "envelope.inquiry_id"
        );
        assert!(parse_envelope(&caller, &with(&|e| e.inquiry_id = "x".repeat(64))).is_ok());

        // Speaking for another agency is not a field error: the caller is the wrong party.
        match parse_envelope(&caller, &with(&|e| e.inquirer = YOKOHAMA.into())) {
            Err(e @ Denied::NotTheInquirer { .. }) => {
                assert!(e.to_string().contains(SAPPORO), "{e}");
                assert!(e.to_string().contains(YOKOHAMA), "{e}");
            }
            other => panic!("{other:?}"),
        }

        let bytes = with(&|e| e.disclose_after_ms = -5);
        let env = parse_envelope(&caller, &bytes).unwrap();
        assert_eq!(env.disclose_after_ms, 0, "a negative embargo means none");
        assert_eq!(env.sha256, renkei_crypto::sha256(&bytes));
        let bytes = with(&|e| e.disclose_after_ms = NOW + 1);
        let env = parse_envelope(&caller, &bytes).unwrap();
        let p = permitted(decide(&env, found(), &master()));
        assert_eq!(p.record.disclose_after_ms, NOW + 1);
    }

    fn answer(permit_id: &str, inquirer: &str, provider: &str) -> SealedAnswer {
        SealedAnswer {
            permit_id: permit_id.into(),
            inquirer: inquirer.into(),
            provider: provider.into(),
            ciphertext: vec![1, 2, 3],
            ..Default::default()
        }
    }

    #[test]
    fn relay_table() {
        let m = master();
        let p = permitted(decide(
            &envelope(SAPPORO, YOKOHAMA, "vaccination", 25),
            found(),
            &m,
        ));
        let provider_refusal = Refusal {
            code: RefusalCode::PermitReplayed as i32,
            message: "seen".into(),
            refused_by: YOKOHAMA.into(),
        };
        // (case, reply, recorded outcome, refusal code answered (None = not a refusal), awaits)
        let cases: Vec<(&str, ProviderReply, Outcome, Option<RefusalCode>, bool)> = vec![
            (
                "an answer for this permit",
                ProviderReply::Answer(answer("permit-1", SAPPORO, YOKOHAMA)),
                Outcome::Relayed,
                None,
                false,
            ),
            (
                "an answer for another permit",
                ProviderReply::Answer(answer("permit-2", SAPPORO, YOKOHAMA)),
                Outcome::Failed,
                Some(RefusalCode::Malformed),
                false,
            ),
            (
                "an answer to another inquirer",
                ProviderReply::Answer(answer("permit-1", HOKKAIDO, YOKOHAMA)),
                Outcome::Failed,
                Some(RefusalCode::Malformed),
                false,
            ),
            (
                "an answer from another provider",
                ProviderReply::Answer(answer("permit-1", SAPPORO, HOKKAIDO)),
                Outcome::Failed,
                Some(RefusalCode::Malformed),
                false,
            ),
            (
                "held at the provider",
                ProviderReply::Pending(Pending {}),
                Outcome::Pending,
                None,
                true,
            ),
            (
                "refused by the provider",
                ProviderReply::Refused(provider_refusal.clone()),
                Outcome::Refused,
                Some(RefusalCode::PermitReplayed),
                false,
            ),
            (
                "an empty response",
                ProviderReply::Empty,
                Outcome::Failed,
                Some(RefusalCode::Malformed),
                false,
            ),
            (
                "the provider's gateway is down",
                ProviderReply::Unreachable {
                    message: "connection refused".into(),
                },
                Outcome::Failed,
                Some(RefusalCode::ProviderUnreachable),
                false,
            ),
        ];
        for (case, reply, outcome, code, awaits) in cases {
            let r = relay(&p, reply);
            assert_eq!(r.record.outcome, outcome as i32, "{case}");
            assert_eq!(r.await_answer, awaits, "{case}");
            assert_eq!(r.record.permit_id, "permit-1", "{case}");
            match (&r.result, code) {
                (exchange_response::Result::Refused(got), Some(want)) => {
                    assert_eq!(got.code, want as i32, "{case}");
                    assert_eq!(r.record.reason, got.message, "{case}");
                }
                (exchange_response::Result::Answer(a), None) => {
                    assert_eq!(a.permit_id, "permit-1", "{case}");
                    assert_eq!(
                        r.record.sealed_answer_sha256,
                        hex(&renkei_crypto::sha256(&[1, 2, 3])),
                        "{case}"
                    );
                }
                (exchange_response::Result::Pending(_), None) => {}
                (got, want) => panic!("{case}: expected {want:?}, got {got:?}"),
            }
        }
        // The provider's own refusal goes to the inquirer unchanged, in its name.
        let r = relay(&p, ProviderReply::Refused(provider_refusal.clone()));
        assert_eq!(
            r.result,
            exchange_response::Result::Refused(provider_refusal)
        );
        // An unreachable provider is named, with what the transport said.
        let r = relay(
            &p,
            ProviderReply::Unreachable {
                message: "deadline".into(),
            },
        );
        assert_eq!(
            r.record.reason,
            "name-141003's gateway could not be reached: deadline"
        );
    }

    fn awaiting(keep_until_ms: i64) -> AwaitingAnswer {
        let mut p = permitted(decide(
            &envelope(SAPPORO, YOKOHAMA, "vaccination", 25),
            found(),
            &master(),
        ));
        p.record.outcome = Outcome::Pending as i32;
        AwaitingAnswer {
            record: p.record,
            keep_until_ms,
        }
    }

    fn late(
        caller: &str,
        a: &SealedAnswer,
        claimed: Outcome,
        waiting: Option<AwaitingAnswer>,
        master: &MasterData,
        now_ms: i64,
    ) -> Result<LateRelay, Denied> {
        late_answer(LateAnswer {
            caller: &code(caller),
            answer: a,
            claimed,
            awaiting: waiting,
            master,
            now_ms,
        })
    }

    #[test]
    #[allow(clippy::type_complexity)] // a table is clearer inline
    fn late_answer_refusal_table() {
        let m = master();
        let until = NOW + 1_000;
        let ok = answer("permit-1", SAPPORO, YOKOHAMA);
        // Sapporo's endpoint removed: the inquirer is no longer connected.
        let mut bundle = m.bundle().clone();
        bundle.agencies[0].endpoint.clear();
        let disconnected = MasterData::new(bundle).unwrap();
        let cases: Vec<(
            &str,
            &str,
            SealedAnswer,
            Option<AwaitingAnswer>,
            &MasterData,
            i64,
            &str,
        )> = vec![
            (
                "nothing is waiting",
                YOKOHAMA,
                ok.clone(),
                None,
                &m,
                NOW,
                "NoPendingExchange",
            ),
            (
                "another agency answers",
                HOKKAIDO,
                answer("permit-1", SAPPORO, HOKKAIDO),
                Some(awaiting(until)),
                &m,
                NOW,
                "NotTheProvider",
            ),
            (
                "the answer names another provider",
                YOKOHAMA,
                answer("permit-1", SAPPORO, HOKKAIDO),
                Some(awaiting(until)),
                &m,
                NOW,
                "NotTheProvider",
            ),
            (
                "kept no longer",
                YOKOHAMA,
                ok.clone(),
                Some(awaiting(until)),
                &m,
                until,
                "PendingExpired",
            ),
            (
                "the answer names another inquirer",
                YOKOHAMA,
                answer("permit-1", HOKKAIDO, YOKOHAMA),
                Some(awaiting(until)),
                &m,
                NOW,
                "InvalidField",
            ),
            (
                "the inquirer left the network",
                YOKOHAMA,
                ok.clone(),
                Some(awaiting(until)),
                &disconnected,
                NOW,
                "InquirerNotConnected",
            ),
        ];
        for (case, caller, a, waiting, master, now, want) in cases {
            let got = late(caller, &a, Outcome::Provided, waiting, master, now);
            let name = match &got {
                Err(Denied::NoPendingExchange { .. }) => "NoPendingExchange",
                Err(Denied::NotTheProvider { .. }) => "NotTheProvider",
                Err(Denied::PendingExpired { .. }) => "PendingExpired",
                Err(Denied::InvalidField { field, .. }) => {
                    assert_eq!(*field, "answer.inquirer", "{case}");
                    "InvalidField"
                }
                Err(Denied::InquirerNotConnected { .. }) => "InquirerNotConnected",
                other => panic!("{case}: {other:?}"),
            };
            assert_eq!(name, want, "{case}");
        }
        // One millisecond before the end of keeping, it is still relayed.
        assert!(
            late(
                YOKOHAMA,
                &ok,
                Outcome::Provided,
                Some(awaiting(until)),
                &m,
                until - 1
            )
            .is_ok()
        );
    }

    #[test]
    fn a_late_answer_is_recorded_as_the_provider_says() {
        let m = master();
        let a = answer("permit-1", SAPPORO, YOKOHAMA);
        for (claimed, outcome, note) in [
            (Outcome::Provided, Outcome::Relayed, "late answer relayed"),
            (
                Outcome::Unspecified,
                Outcome::Relayed,
                "late answer relayed",
            ),
            (
                Outcome::NotProvided,
                Outcome::NotProvided,
                "late answer relayed: not provided",
            ),
            (
                Outcome::Expired,
                Outcome::Expired,
                "late answer relayed: expired",
            ),
        ] {
            let waiting = awaiting(NOW + 1);
            let pending = waiting.record.clone();
            let r = late(YOKOHAMA, &a, claimed, Some(waiting), &m, NOW).unwrap();
            assert_eq!(r.record.outcome, outcome as i32, "{claimed:?}");
            assert_eq!(r.record.note, note, "{claimed:?}");
            assert_eq!(r.record.recorded_at_ms, NOW);
            assert_eq!(r.record.permit_id, pending.permit_id);
            assert_eq!(r.record.person_ref, pending.person_ref);
            assert_eq!(r.record.envelope_sha256, pending.envelope_sha256);
            assert_eq!(
                r.record.sealed_answer_sha256,
                hex(&renkei_crypto::sha256(&[1, 2, 3]))
            );
            assert_eq!(r.route.endpoint, "10.0.0.1:7401");
            assert_eq!(r.route.server_name, format!("gw-{SAPPORO}"));
        }
    }

    #[test]
    fn pending_exchanges_are_kept_as_long_as_records() {
        assert_eq!(keep_pending_until(1_000, 1), 1_000 + 86_400_000);
        assert_eq!(keep_pending_until(i64::MAX - 1, 10), i64::MAX);
    }

    #[test]
    fn person_refs_are_stable_and_distinct() {
        assert_eq!(person_ref(b"a"), person_ref(b"a"));
        assert_ne!(person_ref(b"a"), person_ref(b"b"));
        assert_ne!(person_ref(b"a"), b"a".to_vec());
    }
}
