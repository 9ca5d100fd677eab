//! End-to-end exchanges over real servers on loopback with mTLS: the demo's scenarios and
//! the properties around them.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use prost::Message as _;
use renkei_e2e::*;
use renkei_proto::v1::hub_client::HubClient;
use renkei_proto::v1::hub_records_client::HubRecordsClient;
use renkei_proto::v1::records_client::RecordsClient;
use renkei_proto::v1::{
    Direction, ExchangeRequest, GetInquiryRequest, GetMasterDataRequest, InquiryEnvelope,
    InquiryState, ListHubRecordsRequest, ListInquiriesRequest, ListRecordsRequest, Outcome,
    ProvisionCopy, PutCopyRequest, RefusalCode, RegisterAddressNumberRequest, content,
    exchange_response,
};
use renkei_testkit::population;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_a_the_answer_arrives_and_matches_the_copy() {
    let tc = TestCluster::start().await;
    let movers = tc.movers().await;
    let (y, s) = &movers[0];
    let inquiry = tc
        .ask(SAPPORO, "a", &s.unified_address_number, YOKOHAMA, 25)
        .await
        .unwrap();
    assert_eq!(inquiry.state, InquiryState::Answered as i32, "{inquiry:?}");
    let Some(content::Body::Vaccination(got)) = inquiry.content.and_then(|c| c.body) else {
        panic!("no vaccination history in the answer");
    };
    assert_eq!(&got, y.history.as_ref().unwrap());
    assert!(!inquiry.permit_id.is_empty());
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_b_the_hub_refuses_what_the_whitelist_does_not_allow() {
    let tc = TestCluster::start().await;
    let movers = tc.movers().await;
    let s = &movers[0].1;
    let inquiry = tc
        .ask(SAPPORO, "b", &s.unified_address_number, YOKOHAMA, 26)
        .await
        .unwrap();
    assert_eq!(inquiry.state, InquiryState::Refused as i32);
    let r = inquiry.refusal.unwrap();
    assert_eq!(r.code, RefusalCode::NotOnWhitelist as i32);
    assert_eq!(r.refused_by, "hub");
    assert!(r.message.contains("都道府県知事"), "{}", r.message);
    // No permit, so the provider never saw it; the hub and the inquirer recorded the refusal.
    assert!(inquiry.permit_id.is_empty());
    let hub = HubRecordsClient::new(tc.cluster.hub_channel("auditor").unwrap())
        .list_records(ListHubRecordsRequest {
            inquiry_id: inquiry.inquiry_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(hub.len(), 1);
    assert_eq!(hub[0].outcome, Outcome::Refused as i32);
    let own = RecordsClient::new(tc.backoffice(SAPPORO))
        .list_records(ListRecordsRequest {
            inquiry_id: inquiry.inquiry_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].outcome, Outcome::Refused as i32);
    let provider = RecordsClient::new(tc.backoffice(YOKOHAMA))
        .list_records(ListRecordsRequest {
            inquiry_id: inquiry.inquiry_id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert!(provider.is_empty());
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_c_a_person_without_a_copy_is_answered_no_data() {
    let tc = TestCluster::start().await;
    let movers = tc.movers().await;
    let inquiry = tc
        .ask(
            SAPPORO,
            "c",
            &movers[1].1.unified_address_number,
            YOKOHAMA,
            25,
        )
        .await
        .unwrap();
    assert_eq!(inquiry.state, InquiryState::NoData as i32, "{inquiry:?}");
    assert!(inquiry.content.is_none());
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_previous_city_gives_no_such_person_never_other_data() {
    let tc = TestCluster::start().await;
    let movers = tc.movers().await;
    // Okazaki has its own residents but not this child.
    tc.enrol(OKAZAKI, &population::municipality(OKAZAKI, 3, today()))
        .await;
    let inquiry = tc
        .ask(
            SAPPORO,
            "wrong-city",
            &movers[0].1.unified_address_number,
            OKAZAKI,
            25,
        )
        .await
        .unwrap();
    assert_eq!(inquiry.state, InquiryState::Refused as i32);
    let r = inquiry.refusal.unwrap();
    assert_eq!(r.code, RefusalCode::UnknownPerson as i32);
    assert_eq!(r.refused_by, OKAZAKI);
    assert!(r.message.contains("no such person"), "{}", r.message);
    assert!(inquiry.content.is_none());
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_is_idempotent_watch_ends_final_and_list_filters() {
    let tc = TestCluster::start().await;
    let movers = tc.movers().await;
    let s = &movers[0].1.unified_address_number;
    let first = tc.ask(SAPPORO, "same-key", s, YOKOHAMA, 25).await.unwrap();
    let again = tc.ask(SAPPORO, "same-key", s, YOKOHAMA, 25).await.unwrap();
    assert_eq!(first.inquiry_id, again.inquiry_id);
    let err = tc
        .ask(SAPPORO, "same-key", s, OKAZAKI, 25)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);

    let mut watch = tc
        .inquiries(SAPPORO)
        .watch_inquiry(GetInquiryRequest {
            inquiry_id: first.inquiry_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let seen = watch.message().await.unwrap().unwrap();
    assert_eq!(seen.state, InquiryState::Answered as i32);
    assert!(
        watch.message().await.unwrap().is_none(),
        "the watch ends at a final state"
    );

    tc.ask(
        SAPPORO,
        "other",
        &movers[1].1.unified_address_number,
        YOKOHAMA,
        25,
    )
    .await
    .unwrap();
    let listed = tc
        .inquiries(SAPPORO)
        .list_inquiries(ListInquiriesRequest {
            state: InquiryState::NoData as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .inquiries;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].unified_address_number,
        movers[1].1.unified_address_number
    );
    let page = tc
        .inquiries(SAPPORO)
        .list_inquiries(ListInquiriesRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.inquiries.len(), 1);
    let rest = tc
        .inquiries(SAPPORO)
        .list_inquiries(ListInquiriesRequest {
            page_size: 10,
            page_token: page.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.inquiries.len(), 1);
    assert_ne!(rest.inquiries[0].inquiry_id, page.inquiries[0].inquiry_id);
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_and_the_hub_record_the_exchange_and_agree() {
    let tc = TestCluster::start().await;
    let movers = tc.movers().await;
    let inquiry = tc
        .ask(
            SAPPORO,
            "rec",
            &movers[0].1.unified_address_number,
            YOKOHAMA,
            25,
        )
        .await
        .unwrap();
    let q = || ListRecordsRequest {
        inquiry_id: inquiry.inquiry_id.clone(),
        ..Default::default()
    };
    let inq = RecordsClient::new(tc.backoffice(SAPPORO))
        .list_records(q())
        .await
        .unwrap()
        .into_inner()
        .records;
    let prov = RecordsClient::new(tc.backoffice(YOKOHAMA))
        .list_records(q())
        .await
        .unwrap()
        .into_inner()
        .records;
    let hub = HubRecordsClient::new(tc.cluster.hub_channel("auditor").unwrap())
        .list_records(ListHubRecordsRequest {
            inquiry_id: inquiry.inquiry_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!((inq.len(), prov.len(), hub.len()), (1, 1, 1));
    assert_eq!(inq[0].direction, Direction::Inquiry as i32);
    assert_eq!(prov[0].direction, Direction::Provision as i32);
    assert_eq!(hub[0].direction, Direction::Relay as i32);
    assert_eq!(
        inq[0].unified_address_number,
        movers[0].1.unified_address_number
    );
    assert_eq!(
        prov[0].unified_address_number,
        movers[0].0.unified_address_number
    );
    assert!(hub[0].unified_address_number.is_empty() && hub[0].person_ref.is_empty());
    for r in [&inq[0], &prov[0], &hub[0]] {
        assert_eq!(r.permit_id, inquiry.permit_id);
        assert_eq!(r.sealed_answer_sha256, inq[0].sealed_answer_sha256);
        assert_eq!(r.envelope_sha256, inq[0].envelope_sha256);
        assert!(!r.sealed_answer_sha256.is_empty());
    }
    // Per person: the provider finds it by its own unified address number.
    let by_person = RecordsClient::new(tc.backoffice(YOKOHAMA))
        .list_records(ListRecordsRequest {
            unified_address_number: movers[0].0.unified_address_number.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(by_person.len(), 1);
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_never_holds_the_plaintext() {
    let tc = TestCluster::start().await;
    let movers = tc.movers().await;
    let (y, s) = &movers[0];
    // A marker only the plaintext answer contains.
    let marker = format!(
        "MARKER-{}",
        hex::encode(renkei_crypto::random_bytes::<8>().unwrap())
    );
    let mut history = y.history.clone().unwrap();
    history.doses[0].remarks = marker.clone();
    tc.copies(YOKOHAMA)
        .put_copy(PutCopyRequest {
            copy: Some(ProvisionCopy {
                unified_address_number: y.unified_address_number.clone(),
                item: 25,
                content: Some(population::content(&history)),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let inquiry = tc
        .ask(SAPPORO, "plain", &s.unified_address_number, YOKOHAMA, 25)
        .await
        .unwrap();
    let Some(content::Body::Vaccination(got)) = inquiry.content.and_then(|c| c.body) else {
        panic!()
    };
    assert_eq!(got.doses[0].remarks, marker, "the inquirer opens it");

    // What the hub relays, seen by a gateway calling it: ciphertext only.
    let symbol = renkei_crypto::read_symbol_key(&certs_dir().join("keys/hub.symbol.key"))
        .unwrap()
        .symbol_for(
            &renkei_core::AgencyCode::parse(SAPPORO).unwrap(),
            &renkei_core::MyNumber::parse(&s.my_number).unwrap(),
        );
    let envelope = InquiryEnvelope {
        inquiry_id: "inq-plaintext-check".into(),
        inquirer: SAPPORO.into(),
        provider: YOKOHAMA.into(),
        procedure: "vaccination".into(),
        item: 25,
        created_at_ms: renkei_core::Clock::now_ms(&renkei_core::SystemClock),
        nonce: vec![1; 16],
        ..Default::default()
    };
    let resp = HubClient::new(
        tc.cluster
            .hub_channel(&format!("tenant-{SAPPORO}"))
            .unwrap(),
    )
    .exchange(ExchangeRequest {
        envelope: envelope.encode_to_vec(),
        inquirer_symbol: symbol,
    })
    .await
    .unwrap()
    .into_inner();
    let Some(exchange_response::Result::Answer(sealed)) = resp.result else {
        panic!("no answer")
    };
    assert!(!contains(&sealed.encode_to_vec(), marker.as_bytes()));

    let dir = tc.stop().await;
    let hub_files = all_bytes_under(&dir.path().join("hub"));
    assert!(!hub_files.is_empty());
    for (path, bytes) in &hub_files {
        assert!(
            !contains(bytes, marker.as_bytes()),
            "{} holds the plaintext",
            path.display()
        );
    }
    // The scan can find the marker where it legitimately is: the provider's copy.
    assert!(
        all_bytes_under(&dir.path().join("gateway"))
            .iter()
            .any(|(_, b)| contains(b, marker.as_bytes()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symbols_never_reach_back_office_systems() {
    let tc = TestCluster::start().await;
    let movers = tc.movers().await;
    let key = renkei_crypto::read_symbol_key(&certs_dir().join("keys/hub.symbol.key")).unwrap();
    let mut symbols = Vec::new();
    for (y, s) in &movers {
        let my = renkei_core::MyNumber::parse(&y.my_number).unwrap();
        for code in [SAPPORO, YOKOHAMA] {
            let sym = key.symbol_for(&renkei_core::AgencyCode::parse(code).unwrap(), &my);
            symbols.push(hex::encode(&sym));
            symbols.push(String::from_utf8_lossy(&sym).into_owned());
            symbols.push(sym.iter().map(|b| *b as char).collect::<String>());
        }
        let _ = s;
    }
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let inquiry = tc
        .ask(
            SAPPORO,
            "sym",
            &movers[0].1.unified_address_number,
            YOKOHAMA,
            25,
        )
        .await
        .unwrap();
    seen.push(inquiry.encode_to_vec());
    seen.push(
        tc.inquiries(SAPPORO)
            .get_inquiry(GetInquiryRequest {
                inquiry_id: inquiry.inquiry_id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .encode_to_vec(),
    );
    seen.push(
        tc.inquiries(SAPPORO)
            .list_inquiries(ListInquiriesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .encode_to_vec(),
    );
    for code in [SAPPORO, YOKOHAMA] {
        seen.push(
            RecordsClient::new(tc.backoffice(code))
                .list_records(ListRecordsRequest::default())
                .await
                .unwrap()
                .into_inner()
                .encode_to_vec(),
        );
        let mut export = tc
            .copies(code)
            .export_copies(renkei_proto::v1::ExportCopiesRequest { item: 0 })
            .await
            .unwrap()
            .into_inner();
        while let Some(c) = export.message().await.unwrap() {
            seen.push(c.encode_to_vec());
        }
    }
    let all: Vec<u8> = seen.concat();
    assert!(all.len() > 1000, "the test looked at real responses");
    for s in &symbols {
        assert!(
            !contains(&all, s.as_bytes()),
            "a symbol reached a back office"
        );
    }
    let raw = key.symbol_for(
        &renkei_core::AgencyCode::parse(SAPPORO).unwrap(),
        &renkei_core::MyNumber::parse(&movers[0].0.my_number).unwrap(),
    );
    assert!(!contains(&all, &raw));
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_offices_see_only_their_own_tenant() {
    let tc = TestCluster::start().await;
    let movers = tc.movers().await;
    let inquiry = tc
        .ask(
            SAPPORO,
            "iso",
            &movers[0].1.unified_address_number,
            YOKOHAMA,
            25,
        )
        .await
        .unwrap();
    // Yokohama's back office cannot read Sapporo's inquiry, even knowing its id.
    let err = tc
        .inquiries(YOKOHAMA)
        .get_inquiry(GetInquiryRequest {
            inquiry_id: inquiry.inquiry_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let listed = tc
        .inquiries(YOKOHAMA)
        .list_inquiries(ListInquiriesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.inquiries.is_empty());
    // Nor use a person registered only in Yokohama.
    let err = tc
        .ask(
            SAPPORO,
            "iso-2",
            &movers[0].0.unified_address_number,
            YOKOHAMA,
            25,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    // Copies are per tenant.
    let mut export = tc
        .copies(SAPPORO)
        .export_copies(renkei_proto::v1::ExportCopiesRequest { item: 0 })
        .await
        .unwrap()
        .into_inner();
    assert!(
        export.message().await.unwrap().is_none(),
        "Sapporo holds no copies of its own"
    );
    let records = RecordsClient::new(tc.backoffice(OKAZAKI))
        .list_records(ListRecordsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .records;
    assert!(records.is_empty());
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_import_reports_bad_records_by_position_and_keeps_the_good_ones() {
    let tc = TestCluster::start().await;
    let residents = population::municipality(YOKOHAMA, 6, today());
    let regs: Vec<_> = residents
        .iter()
        .map(|r| RegisterAddressNumberRequest {
            unified_address_number: r.unified_address_number.clone(),
        })
        .chain([RegisterAddressNumberRequest {
            unified_address_number: "12-34".into(),
        }])
        .collect();
    let summary = tc
        .symbols(YOKOHAMA)
        .register_address_numbers(tokio_stream::iter(regs))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((summary.accepted, summary.rejected), (6, 1));
    assert_eq!(summary.errors[0].index, 6);

    let mut copies: Vec<PutCopyRequest> = residents
        .iter()
        .map(|r| PutCopyRequest {
            copy: Some(ProvisionCopy {
                unified_address_number: r.unified_address_number.clone(),
                item: 25,
                content: Some(population::content(&r.history.clone().unwrap_or_default())),
                ..Default::default()
            }),
        })
        .collect();
    // Position 2: a dose with an impossible date; position 4: an item this agency does not provide.
    if let Some(renkei_proto::v1::Content {
        body: Some(content::Body::Vaccination(h)),
    }) = copies[2].copy.as_mut().and_then(|c| c.content.as_mut())
    {
        h.doses.push(renkei_proto::v1::Dose {
            vaccine_code: "MR".into(),
            dose_number: 1,
            date: "2021-02-30".into(),
            ..Default::default()
        });
    }
    copies[4].copy.as_mut().unwrap().item = 28;
    let summary = tc
        .copies(YOKOHAMA)
        .import_copies(tokio_stream::iter(copies))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((summary.accepted, summary.rejected), (4, 2), "{summary:?}");
    assert_eq!(summary.errors[0].index, 2);
    assert!(
        summary.errors[0].field.ends_with(".date"),
        "{:?}",
        summary.errors[0]
    );
    assert_eq!(summary.errors[1].index, 4);
    assert_eq!(summary.errors[1].field, "copy.item");
    let mut export = tc
        .copies(YOKOHAMA)
        .export_copies(renkei_proto::v1::ExportCopiesRequest { item: 25 })
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(c) = export.message().await.unwrap() {
        assert_eq!(c.content_sha256.len(), 64);
        n += 1;
    }
    assert_eq!(n, 4);
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_inquiry_results_are_purged_and_the_purge_is_recorded() {
    let tc = TestCluster::start_with(|o| o.inquiry_result_retention_secs = 1).await;
    let movers = tc.movers().await;
    let inquiry = tc
        .ask(
            SAPPORO,
            "ret",
            &movers[0].1.unified_address_number,
            YOKOHAMA,
            25,
        )
        .await
        .unwrap();
    assert_eq!(
        tc.cluster.gateway.purge_now().await.unwrap(),
        0,
        "not yet expired"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(tc.cluster.gateway.purge_now().await.unwrap() >= 1);
    let err = tc
        .inquiries(SAPPORO)
        .get_inquiry(GetInquiryRequest {
            inquiry_id: inquiry.inquiry_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let records = RecordsClient::new(tc.backoffice(SAPPORO))
        .list_records(ListRecordsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .records;
    let purge = records
        .iter()
        .find(|r| r.outcome == Outcome::Purged as i32)
        .expect("a purge record");
    assert_eq!(purge.direction, Direction::System as i32);
    assert!(
        purge.note.contains("deleted 1 inquiry results"),
        "{}",
        purge.note
    );
    // The exchange's own record is not purged with the result.
    assert!(records.iter().any(|r| r.inquiry_id == inquiry.inquiry_id));
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_bundle_with_a_bad_signature_is_rejected_and_the_last_good_one_kept() {
    let tc = TestCluster::start().await;
    let good_version = tc.cluster.gateway.master_version().unwrap();
    let signed = HubClient::new(
        tc.cluster
            .hub_channel(&format!("tenant-{SAPPORO}"))
            .unwrap(),
    )
    .get_master_data(GetMasterDataRequest { known_version: 0 })
    .await
    .unwrap()
    .into_inner()
    .bundle
    .unwrap();
    // Tampered: a later version with the signature of the old bytes.
    let mut bundle = renkei_proto::v1::MasterBundle::decode(signed.bundle.as_slice()).unwrap();
    bundle.version += 10;
    bundle.whitelist.clear();
    let tampered = renkei_proto::v1::SignedMasterBundle {
        bundle: bundle.encode_to_vec(),
        ..signed.clone()
    };
    assert!(tc.cluster.gateway.install_master(&tampered).await.is_err());
    // Signed, but by someone else.
    let (rogue, _) = renkei_crypto::SigningKey::generate().unwrap();
    let forged = renkei_crypto::sign_bundle(&rogue, bundle.encode_to_vec());
    assert!(tc.cluster.gateway.install_master(&forged).await.is_err());
    assert_eq!(tc.cluster.gateway.master_version(), Some(good_version));
    // The whitelist still works: exchanges go on under the last good bundle.
    let movers = tc.movers().await;
    let inquiry = tc
        .ask(
            SAPPORO,
            "after",
            &movers[0].1.unified_address_number,
            YOKOHAMA,
            25,
        )
        .await
        .unwrap();
    assert_eq!(inquiry.state, InquiryState::Answered as i32);
    // And the genuine bundle is accepted as "not newer", not as an error.
    assert!(matches!(
        tc.cluster.gateway.install_master(&signed).await.unwrap(),
        renkei_gateway::Installed::NotNewer(_)
    ));
    tc.stop().await;
}
