//! Fuzz entry points over the decoders that read outside input (issue 12, "Fuzzing").
//!
//! Each `pub fn` takes arbitrary bytes, feeds them through the real decoder or check, and
//! returns; an error is an expected outcome, a panic is a bug. The libfuzzer targets in
//! `fuzz/` (nightly, cargo-fuzz) only call these functions, and `tests/corpus.rs` replays
//! the kept corpus through the same functions on stable Rust, so CI re-runs every input
//! that ever found something without needing a fuzzer.
//!
//! Where random bytes would never get past a signature, the target signs them itself with
//! a key made once per process (structured input): the fuzzer then reaches the decoding
//! and the checks behind the signature, which are what a hub-signed but hostile or buggy
//! message would reach.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::OnceLock;

use prost::Message;
use renkei_crypto::{AnswerContext, EncryptionKey, SigningKey};
use renkei_proto::v1 as pb;

/// One fuzz target: takes any bytes, returns without panicking.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name, as `fuzz/fuzz_targets/<name>.rs` and `fuzz/corpus/<name>/`
/// call them.
pub const TARGETS: &[(&str, Target)] = &[
    ("proto_requests", proto_requests),
    ("permit_check", permit_check),
    ("seal_check", seal_check),
    ("master_bundle", master_bundle),
    ("ledger_segment", ledger_segment),
    ("vaccination_csv", vaccination_csv),
    ("vaccination_fhir", vaccination_fhir),
];

/// Keys made once per process: the hub's (permits, bundles), a provider's and an
/// inquirer's.
struct Keys {
    hub: SigningKey,
    provider: SigningKey,
    inquirer: EncryptionKey,
}

fn keys() -> Option<&'static Keys> {
    static KEYS: OnceLock<Option<Keys>> = OnceLock::new();
    KEYS.get_or_init(|| {
        Some(Keys {
            hub: SigningKey::generate().ok()?.0,
            provider: SigningKey::generate().ok()?.0,
            inquirer: EncryptionKey::generate().ok()?,
        })
    })
    .as_ref()
}

/// Decodes, re-encodes and decodes again: the decoder must not panic, and what it accepted
/// must survive a round trip unchanged (prost drops unknown fields, so the comparison is
/// between the two decoded values).
fn roundtrip<M: Message + Default + PartialEq>(data: &[u8]) {
    let Ok(m) = M::decode(data) else { return };
    let again = M::decode(m.encode_to_vec().as_slice());
    assert!(
        again.as_ref() == Ok(&m),
        "a decoded request did not round-trip"
    );
}

/// Every request message a server of this workspace decodes from the network; the first
/// byte picks the type, the rest is the message.
pub fn proto_requests(data: &[u8]) {
    let Some((&which, msg)) = data.split_first() else {
        return;
    };
    const DECODERS: &[fn(&[u8])] = &[
        roundtrip::<pb::AcquireSymbolRequest>,
        roundtrip::<pb::AddUserRequest>,
        roundtrip::<pb::ChangePasswordRequest>,
        roundtrip::<pb::ClearFlagRequest>,
        roundtrip::<pb::DecideRequest>,
        roundtrip::<pb::DeleteCopyRequest>,
        roundtrip::<pb::DeliverAnswerRequest>,
        roundtrip::<pb::DeliverInquiryRequest>,
        roundtrip::<pb::DeliverLateAnswerRequest>,
        roundtrip::<pb::DisableUserRequest>,
        roundtrip::<pb::DiscloseExchangesRequest>,
        roundtrip::<pb::ExchangeRequest>,
        roundtrip::<pb::ExportCopiesRequest>,
        roundtrip::<pb::GetAcquisitionRequest>,
        roundtrip::<pb::GetConsistencyProofRequest>,
        roundtrip::<pb::GetHeldRequest>,
        roundtrip::<pb::GetInclusionProofRequest>,
        roundtrip::<pb::GetInquiryRequest>,
        roundtrip::<pb::GetJobRequest>,
        roundtrip::<pb::GetMaintenanceRequest>,
        roundtrip::<pb::GetMasterDataRequest>,
        roundtrip::<pb::GetStatisticsRequest>,
        roundtrip::<pb::GetTreeHeadRequest>,
        roundtrip::<pb::GetWitnessedHeadRequest>,
        roundtrip::<pb::IssueSymbolsRequest>,
        roundtrip::<pb::ListFlagsRequest>,
        roundtrip::<pb::ListHeldRequest>,
        roundtrip::<pb::ListHubRecordsRequest>,
        roundtrip::<pb::ListInquiriesRequest>,
        roundtrip::<pb::ListJobsRequest>,
        roundtrip::<pb::ListRecordsRequest>,
        roundtrip::<pb::ListUsersRequest>,
        roundtrip::<pb::LoginRequest>,
        roundtrip::<pb::LogoutRequest>,
        roundtrip::<pb::PutCopyRequest>,
        roundtrip::<pb::QueryAuditRequest>,
        roundtrip::<pb::QueryRecordsRequest>,
        roundtrip::<pb::RegisterAddressNumberRequest>,
        roundtrip::<pb::ResetPasswordRequest>,
        roundtrip::<pb::SetFlagRequest>,
        roundtrip::<pb::SetMaintenanceRequest>,
        roundtrip::<pb::SubmitInquiryRequest>,
        roundtrip::<pb::TestPeersRequest>,
        roundtrip::<pb::WhoAmIRequest>,
        roundtrip::<pb::WitnessTreeHeadRequest>,
        // The signed payloads inside requests, decoded once their signature checks.
        roundtrip::<pb::InquiryEnvelope>,
        roundtrip::<pb::Permit>,
        roundtrip::<pb::MasterBundle>,
        roundtrip::<pb::SignedTreeHead>,
    ];
    DECODERS[usize::from(which) % DECODERS.len()](msg);
}

/// A small master bundle for the checks that consult the whitelist.
fn master() -> Option<&'static renkei_master::MasterData> {
    static MASTER: OnceLock<Option<renkei_master::MasterData>> = OnceLock::new();
    MASTER
        .get_or_init(|| {
            let agency = |code: &str| pb::Agency {
                code: code.into(),
                name: format!("agency {code}"),
                kind: pb::AgencyKind::Municipality as i32,
                ..Default::default()
            };
            renkei_master::MasterData::new(pb::MasterBundle {
                version: 1,
                agencies: vec![agency("011002"), agency("141003")],
                whitelist: vec![pb::WhitelistEntry {
                    item: 25,
                    procedure: "P001".into(),
                    inquirer_kind: pb::AgencyKind::Municipality as i32,
                    provider_kind: pb::AgencyKind::Municipality as i32,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .ok()
        })
        .as_ref()
}

/// Splits `data` after a 2-byte big-endian length (cut to what is there).
fn split_len(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return (data, &[]);
    };
    rest.split_at(usize::from(u16::from_be_bytes(*len)).min(rest.len()))
}

/// Splits `data` at the first 0xFF byte (or not at all).
fn split2(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The permit checks of both sides: the hub's envelope parsing and the provider's
/// `check_permit` (signature, envelope hash, parties, address, expiry, whitelist).
///
/// The first byte chooses: even, the rest is `length: u16 BE ‖ SignedPermit ‖ envelope`,
/// a permit as it arrives (forged or
/// altered permits); odd, the rest is `length: u16 BE ‖ permit bytes ‖ envelope bytes`,
/// the permit signed here with the hub's key, so the checks after the signature are reached.
pub fn permit_check(data: &[u8]) {
    let (Some(keys), Some(master)) = (keys(), master()) else {
        return;
    };
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (signed, envelope) = if mode % 2 == 0 {
        let (signed, envelope) = split_len(rest);
        let Ok(signed) = pb::SignedPermit::decode(signed) else {
            return;
        };
        (signed, envelope)
    } else {
        let (permit, envelope) = split_len(rest);
        let signature = keys
            .hub
            .sign(&[b"renkei/v1/permit\0".as_slice(), permit].concat());
        let signed = pb::SignedPermit {
            permit: permit.to_vec(),
            signature: signature.to_vec(),
            key_id: keys.hub.key_id().to_vec(),
        };
        (signed, envelope)
    };
    if let Ok(caller) = renkei_core::AgencyCode::parse("011002") {
        let _ = renkei_exchange::hub::parse_envelope(&caller, envelope);
    }
    let me = renkei_exchange::provider::Me {
        code: "141003",
        name: "provider",
    };
    let hub_key = keys.hub.public_key();
    let now_ms = i64::from(mode) * 86_400_000;
    if let Ok(permit) = renkei_exchange::provider::check_permit(
        me,
        master,
        &hub_key,
        Some(&signed),
        envelope,
        now_ms,
    ) {
        let _ = renkei_exchange::provider::new_held(
            master,
            &permit,
            "1",
            pb::HoldCause::Flagged,
            None,
            now_ms,
            i64::from(mode),
        );
    }
}

/// The sealed-answer checks: `verify_answer` (what the hub checks) and `open_answer` (what
/// the inquirer does).
///
/// The first byte chooses: even, the rest is a `SealedAnswer` as it arrives; odd, the rest
/// is a payload sealed here and then damaged at the positions the following bytes name,
/// so decryption and the signature over real ciphertext are exercised.
pub fn seal_check(data: &[u8]) {
    let Some(keys) = keys() else { return };
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let ctx = AnswerContext {
        permit_id: "pm-1".into(),
        inquirer: "011002".into(),
        provider: "141003".into(),
    };
    let provider = keys.provider.public_key();
    let sealed = if mode % 2 == 0 {
        let Ok(sealed) = pb::SealedAnswer::decode(rest) else {
            return;
        };
        sealed
    } else {
        let (payload, damage) = split2(rest);
        let Ok(mut sealed) =
            renkei_crypto::seal_answer(payload, &ctx, &keys.inquirer.public_key(), &keys.provider)
        else {
            return;
        };
        let mut damaged = false;
        for pair in damage.chunks(2) {
            let (at, bit) = (usize::from(pair[0]), pair.get(1).copied().unwrap_or(1));
            let field = match at % 3 {
                0 => &mut sealed.ciphertext,
                1 => &mut sealed.ephemeral_public_key,
                _ => &mut sealed.signature,
            };
            if let Some(len) = std::num::NonZeroUsize::new(field.len()) {
                field[at % len.get()] ^= bit;
                damaged |= bit != 0;
            }
        }
        let opened = renkei_crypto::open_answer(&sealed, &ctx, &keys.inquirer, &provider);
        // With no bit flipped the answer must open (flips may cancel out, so the converse
        // is not asserted).
        if !damaged {
            assert_eq!(
                opened.as_deref().ok(),
                Some(payload),
                "an undamaged sealed answer did not open to its payload"
            );
        }
        sealed
    };
    let _ = renkei_crypto::verify_answer(&sealed, &ctx, &provider);
    let _ = renkei_crypto::open_answer(&sealed, &ctx, &keys.inquirer, &provider);
}

/// Master data: the signed bundle as the gateway installs it (signature, decoding,
/// structural validation, whitelist lookups) and the hub's TOML files.
///
/// First byte: 0 mod 3, the rest is a `SignedMasterBundle` as it arrives; 1 mod 3, the
/// rest is bundle bytes signed here; 2 mod 3, the rest is `agencies.toml 0xFF
/// whitelist.toml`, loaded from a temporary directory with `load_bundle`.
pub fn master_bundle(data: &[u8]) {
    let Some(keys) = keys() else { return };
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let anchor = keys.hub.public_key();
    let bundle = match mode % 3 {
        0 => {
            let Ok(signed) = pb::SignedMasterBundle::decode(rest) else {
                return;
            };
            renkei_crypto::verify_bundle(&anchor, &signed).ok()
        }
        1 => {
            let signed = renkei_crypto::sign_bundle(&keys.hub, rest.to_vec());
            renkei_crypto::verify_bundle(&anchor, &signed).ok()
        }
        _ => {
            let (agencies, whitelist) = split2(rest);
            let Ok(dir) = tempfile::tempdir() else { return };
            let files = renkei_master::MasterFiles {
                agencies: dir.path().join("agencies.toml"),
                whitelist: dir.path().join("whitelist.toml"),
            };
            if std::fs::write(&files.agencies, agencies).is_err()
                || std::fs::write(&files.whitelist, whitelist).is_err()
            {
                return;
            }
            renkei_master::load_bundle(&files).ok()
        }
    };
    let Some(bundle) = bundle else { return };
    let _ = renkei_crypto::VerifyingKey::from_bytes(&bundle.permit_signing_public_key);
    let Ok(master) = renkei_master::MasterData::new(bundle) else {
        return;
    };
    let _ = master.is_expired(i64::from(mode));
    let codes: Vec<String> = master
        .bundle()
        .agencies
        .iter()
        .map(|a| a.code.clone())
        .take(4)
        .chain(["011002".to_owned()])
        .collect();
    for inquirer in &codes {
        let _ = master.name_of(inquirer);
        let _ = master.items_provided_by(inquirer);
        for provider in &codes {
            for entry in master.bundle().whitelist.iter().take(4) {
                let _ = master
                    .check(inquirer, provider, &entry.procedure, entry.item)
                    .map_err(|r| r.message());
            }
        }
    }
}

/// A valid segment with a few records and a signed head, written once by the real writer.
fn template_segment() -> Option<&'static (Vec<u8>, Vec<u8>)> {
    static SEGMENT: OnceLock<Option<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
    SEGMENT
        .get_or_init(|| {
            let dir = tempfile::tempdir().ok()?;
            let signer = renkei_ledger::HeadSigner {
                log_id: "011002".into(),
                key: SigningKey::from_pkcs8(hub_pkcs8()).ok()?,
            };
            let ledger = renkei_ledger::Ledger::open_signed(
                dir.path(),
                renkei_ledger::LedgerOptions::default(),
                signer,
            )
            .ok()?;
            for i in 0..5u8 {
                ledger.append_blocking(vec![i; usize::from(i) * 7]).ok()?;
            }
            ledger.sign_head(1).ok()?;
            ledger.append_blocking(b"after the head".to_vec()).ok()?;
            drop(ledger);
            let seg = std::fs::read(dir.path().join(SEGMENT_NAME)).ok()?;
            let heads = std::fs::read(dir.path().join("heads.log")).unwrap_or_default();
            Some((seg, heads))
        })
        .as_ref()
}

const SEGMENT_NAME: &str = "seg-0000000000000000.log";

/// The ledger keeper's key, kept as PKCS#8 because the ledger's signer takes the key by
/// value and each fuzz input opens a log of its own.
fn hub_pkcs8() -> &'static [u8] {
    static PKCS8: OnceLock<Vec<u8>> = OnceLock::new();
    PKCS8.get_or_init(|| SigningKey::generate().map(|(_, p)| p).unwrap_or_default())
}

/// The ledger's segment reader, on bytes given as the only segment file of a log.
///
/// First byte: even, the rest is the whole segment file; odd, the rest damages a valid
/// segment (written by the real writer, with its heads.log) — pairs of (position, xor)
/// bytes, a first byte of 0xFF truncating it at the next byte's fraction instead. The log
/// is then verified offline, scanned, and opened as a server would open it.
pub fn ledger_segment(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(dir) = tempfile::tempdir() else { return };
    let (segment, heads) = if mode % 2 == 0 {
        (rest.to_vec(), Vec::new())
    } else {
        let Some((seg, heads)) = template_segment() else {
            return;
        };
        let mut seg = seg.clone();
        match rest {
            [0xFF, cut, ..] => seg.truncate(seg.len() * usize::from(*cut) / 256),
            _ => {
                for pair in rest.chunks(2) {
                    let at = usize::from(pair[0]) * 7;
                    if let Some(b) = seg.get_mut(at) {
                        *b ^= pair.get(1).copied().unwrap_or(0x80);
                    }
                }
            }
        }
        (seg, heads.clone())
    };
    if std::fs::write(dir.path().join(SEGMENT_NAME), &segment).is_err() {
        return;
    }
    if !heads.is_empty() && std::fs::write(dir.path().join("heads.log"), &heads).is_err() {
        return;
    }
    read_log(dir.path());
}

fn read_log(dir: &Path) {
    let Ok(key) = SigningKey::from_pkcs8(hub_pkcs8()) else {
        return;
    };
    let frame_key = renkei_ledger::FrameKey::derive(&key);
    let _ = renkei_ledger::verify_log_with(dir, &key.public_key(), Some(&frame_key), &mut |_| {});
    let _ = renkei_ledger::scan_log(dir, &mut |_, _| {});
    let signer = renkei_ledger::HeadSigner {
        log_id: "011002".into(),
        key,
    };
    if let Ok(ledger) =
        renkei_ledger::Ledger::open_signed(dir, renkei_ledger::LedgerOptions::default(), signer)
    {
        let n = ledger.len();
        if n > 0 {
            let _ = ledger.get(n - 1);
            let _ = ledger.root(n);
            let _ = ledger.inclusion_proof(0, n);
            let _ = ledger.consistency_proof(1, n);
        }
    }
}

fn read_options() -> renkei_vaccination::ledger::ReadOptions {
    renkei_vaccination::ledger::ReadOptions {
        today: time_today(),
        ..Default::default()
    }
}

/// A fixed "today", so a replayed input reads the same on every day.
fn time_today() -> Option<time::Date> {
    renkei_vaccination::ledger::parse_date("2026-12-01")
}

/// The vaccination ledger CSV reader (UTF-8, Shift_JIS or detected), as `vaccination
/// sync` reads a back office's export.
pub fn vaccination_csv(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let encoding = match mode % 3 {
        0 => renkei_vaccination::TextEncoding::Auto,
        1 => renkei_vaccination::TextEncoding::Utf8,
        _ => renkei_vaccination::TextEncoding::ShiftJis,
    };
    let opts = renkei_vaccination::ledger::ReadOptions {
        encoding,
        ..read_options()
    };
    let _ = renkei_vaccination::ledger::read_ledger_bytes("fuzz.csv", rest, &opts, encoding);
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("fuzz.csv");
    if std::fs::write(&path, rest).is_ok() {
        let _ = renkei_vaccination::ledger::read_ledger(&path, &opts);
    }
}

/// The FHIR R4 Bundle reader.
pub fn vaccination_fhir(data: &[u8]) {
    let opts = read_options();
    let _ = renkei_vaccination::fhir::read_bundle_bytes(
        "fuzz.json",
        data,
        &opts,
        renkei_vaccination::TextEncoding::Utf8,
    );
}
