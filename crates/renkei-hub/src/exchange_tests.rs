//! The shell's wiring with a fake clock and no sockets served: time comes from the injected
//! clock, pending exchanges go through the store, and nothing is recorded twice. The
//! decisions themselves are tested in `renkei_exchange::hub`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use renkei_core::{AgencyCode, FakeClock, MyNumber};
use renkei_exchange::hub::Denied;
use renkei_proto::v1::{InquiryEnvelope, RefusalCode};

use super::*;

const SAPPORO: &str = "011002";
const YOKOHAMA: &str = "141003";
/// 2027-01-15 00:00:00 UTC: far from the wall clock, so a stray system time shows.
const T0: i64 = 1_800_000_000_000;
/// A port nothing listens on: every gateway is unreachable, answered at once.
const NOWHERE: &str = "127.0.0.1:1";

fn config(data: &Path) -> HubConfig {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/hub.toml");
    let mut c = HubConfig::load(&deploy).unwrap();
    c.data_dir = data.to_path_buf();
    c.metrics = None;
    for code in [SAPPORO, YOKOHAMA] {
        c.master
            .endpoint_overrides
            .insert(code.into(), NOWHERE.into());
    }
    c
}

fn open(data: &Path, clock: &Arc<FakeClock>) -> HubState {
    HubState::open(config(data), clock.clone()).unwrap()
}

fn sapporo() -> AgencyCode {
    AgencyCode::parse(SAPPORO).unwrap()
}

fn request(hub: &HubState, symbol_for: &str) -> ExchangeRequest {
    let my = MyNumber::parse("123456789018").unwrap();
    ExchangeRequest {
        envelope: InquiryEnvelope {
            inquiry_id: "inq-1".into(),
            inquirer: SAPPORO.into(),
            provider: YOKOHAMA.into(),
            procedure: "vaccination".into(),
            item: 25,
            ..Default::default()
        }
        .encode_to_vec(),
        inquirer_symbol: hub
            .symbols
            .symbol_for(&AgencyCode::parse(symbol_for).unwrap(), &my),
    }
}

fn refusal_code(resp: &ExchangeResponse) -> i32 {
    match &resp.result {
        Some(exchange_response::Result::Refused(r)) => r.code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn all_records(hub: &HubState) -> Vec<ExchangeRecord> {
    hub.list_records(&RecordQuery {
        limit: 100,
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn records_and_master_data_take_their_time_from_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0);
    let hub = open(dir.path(), &clock);
    let bundle = hub.published().data.bundle().clone();
    assert_eq!(bundle.issued_at_ms, T0);
    assert_eq!(bundle.version, T0 as u64);

    clock.advance(Duration::from_secs(5));
    // Another agency's symbol: refused by the hub, recorded at the clock's time.
    let resp = hub
        .exchange(&sapporo(), request(&hub, YOKOHAMA))
        .await
        .unwrap();
    assert_eq!(refusal_code(&resp), RefusalCode::SymbolInvalid as i32);
    clock.advance(Duration::from_secs(5));
    // The caller's own symbol: a permit, then the provider cannot be reached.
    let resp = hub
        .exchange(&sapporo(), request(&hub, SAPPORO))
        .await
        .unwrap();
    assert_eq!(refusal_code(&resp), RefusalCode::ProviderUnreachable as i32);
    assert!(!resp.permit_id.is_empty(), "a permit was issued");

    let records = all_records(&hub);
    let times: Vec<i64> = records.iter().map(|r| r.recorded_at_ms).collect();
    assert_eq!(times, vec![T0 + 5_000, T0 + 10_000]);
    assert_eq!(records[1].permit_id, resp.permit_id);
    assert_eq!(records[1].outcome, Outcome::Failed as i32);
}

#[tokio::test]
async fn the_master_version_moves_forward_across_a_restart_even_if_the_clock_steps_back() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0);
    let first = open(dir.path(), &clock).master_version();
    assert_eq!(first, T0 as u64);
    // The state (and its store) is dropped here; the version was stored through HubStore.
    clock.set(T0 - 86_400_000);
    let hub = open(dir.path(), &clock);
    assert_eq!(hub.master_version(), first + 1);
    let renewed = hub.reload_master().unwrap();
    assert_eq!(renewed, first + 2);
    assert_eq!(blocking(hub.store.master_version()).unwrap(), renewed);
}

fn pending_for(permit_id: &str, keep_until_ms: i64) -> PendingAnswer {
    let mut record = renkei_exchange::record::Exchange {
        inquirer: SAPPORO.into(),
        provider: YOKOHAMA.into(),
        procedure: "vaccination".into(),
        item: 25,
        inquiry_id: "inq-held".into(),
    }
    .relay_record(T0);
    record.permit_id = permit_id.into();
    record.outcome = Outcome::Pending as i32;
    PendingAnswer {
        permit_id: permit_id.into(),
        record,
        keep_until_ms,
    }
}

fn late(permit_id: &str) -> SealedAnswer {
    SealedAnswer {
        permit_id: permit_id.into(),
        inquirer: SAPPORO.into(),
        provider: YOKOHAMA.into(),
        ciphertext: vec![1, 2, 3],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_late_answer_waits_until_kept_no_longer_and_is_never_recorded_twice() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0);
    let hub = open(dir.path(), &clock);
    let yokohama = AgencyCode::parse(YOKOHAMA).unwrap();
    hub.store
        .put_pending(pending_for("p-held", T0 + 1_000))
        .await
        .unwrap();

    // The inquirer's gateway is down: the exchange stays, so the provider can send again.
    let e = hub
        .deliver_late_answer(&yokohama, late("p-held"), Outcome::Provided)
        .await
        .unwrap_err();
    assert!(matches!(e, HubError::InquirerUnreachable { .. }), "{e}");
    assert!(hub.store.pending("p-held").await.unwrap().is_some());

    // Only the permit's provider may answer it.
    let e = hub
        .deliver_late_answer(&sapporo(), late("p-held"), Outcome::Provided)
        .await
        .unwrap_err();
    assert!(
        matches!(e, HubError::Denied(Denied::NotTheProvider { .. })),
        "{e}"
    );

    // Past its keeping the hub refuses it, without a socket or a sleep.
    clock.advance(Duration::from_secs(1));
    let e = hub
        .deliver_late_answer(&yokohama, late("p-held"), Outcome::Provided)
        .await
        .unwrap_err();
    assert!(
        matches!(e, HubError::Denied(Denied::PendingExpired { .. })),
        "{e}"
    );
    // And the housekeeping round forgets it.
    assert_eq!(hub.expire_pending().await.unwrap(), 1);
    let e = hub
        .deliver_late_answer(&yokohama, late("p-held"), Outcome::Provided)
        .await
        .unwrap_err();
    assert!(
        matches!(e, HubError::Denied(Denied::NoPendingExchange { .. })),
        "{e}"
    );
    assert!(all_records(&hub).is_empty(), "no late answer was relayed");
}

#[tokio::test]
async fn a_pending_exchange_is_kept_as_long_as_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::at(T0);
    let hub = open(dir.path(), &clock);
    let days = hub.config.limits.record_retention_days;
    hub.store
        .put_pending(pending_for("p-old", rules::keep_pending_until(T0, days)))
        .await
        .unwrap();
    clock.set(T0 + i64::from(days) * 86_400_000 - 1);
    assert_eq!(hub.expire_pending().await.unwrap(), 0);
    clock.advance(Duration::from_millis(1));
    assert_eq!(hub.expire_pending().await.unwrap(), 1);
}
