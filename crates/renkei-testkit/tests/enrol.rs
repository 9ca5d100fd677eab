//! The one enrolment helper leaves residents askable in both call forms, and says so when a
//! symbol cannot be acquired instead of leaving a half-enrolled population behind.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use renkei_proto::v1::inquiries_client::InquiriesClient;
use renkei_proto::v1::{InquiryState, SubmitInquiryRequest};
use renkei_testkit::population::{self, Resident};
use renkei_testkit::{Calls, Cluster, ClusterOptions, Enrolled, TestkitError, enrol};

fn certs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../certs-dev")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolled_residents_can_be_asked_about_in_either_call_form() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(ClusterOptions::new(certs_dir(), dir.path()))
        .await
        .unwrap();
    let today = population::today(&renkei_core::SystemClock);
    let movers = population::movers(today);
    let (yokohama, sapporo): (Vec<Resident>, Vec<Resident>) = movers.iter().cloned().unzip();

    // 横浜市 holds a record for the first mover only; 札幌市 holds none.
    let provider = enrol(
        &cluster.backoffice("141003").unwrap(),
        &yokohama,
        Calls::Single,
    )
    .await
    .unwrap();
    assert_eq!(
        provider,
        Enrolled {
            registered: 2,
            acquired: 2,
            copies: 1
        }
    );
    let inquirer = enrol(
        &cluster.backoffice("011002").unwrap(),
        &sapporo,
        Calls::Bulk,
    )
    .await
    .unwrap();
    assert_eq!(
        inquirer,
        Enrolled {
            registered: 2,
            acquired: 2,
            copies: 0
        }
    );

    let mut inquiries = InquiriesClient::new(cluster.backoffice("011002").unwrap());
    let mut states = Vec::new();
    for (i, s) in sapporo.iter().enumerate() {
        let inquiry = inquiries
            .submit_inquiry(SubmitInquiryRequest {
                idempotency_key: format!("enrol-{i}"),
                unified_address_number: s.unified_address_number.clone(),
                provider: "141003".into(),
                procedure: "vaccination".into(),
                item: 25,
                case_reference: String::new(),
                disclose_after_ms: 0,
            })
            .await
            .unwrap()
            .into_inner();
        states.push(inquiry.state);
    }
    assert_eq!(
        states,
        [InquiryState::Answered as i32, InquiryState::NoData as i32]
    );
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symbol_that_cannot_be_acquired_fails_the_enrolment() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(ClusterOptions::new(certs_dir(), dir.path()))
        .await
        .unwrap();
    let today = population::today(&renkei_core::SystemClock);
    for (code, calls) in [("232025", Calls::Single), ("011002", Calls::Bulk)] {
        let mut residents = population::municipality(code, 3, today);
        // A well-formed number whose check digit is wrong: no symbol can be issued for it.
        let last = residents[1].my_number.pop().unwrap();
        let wrong = char::from(b'0' + (last.to_digit(10).unwrap() as u8 + 1) % 10);
        residents[1].my_number.push(wrong);
        let e = enrol(&cluster.backoffice(code).unwrap(), &residents, calls)
            .await
            .unwrap_err();
        assert!(
            matches!(e, TestkitError::NotAcquired { .. } | TestkitError::Rpc(_)),
            "{calls:?}: {e}"
        );
    }
    cluster.shutdown().await.unwrap();
}
