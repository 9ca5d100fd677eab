//! 自動応答不可 end to end: flagged records are held, decided by an approver (or expire),
//! and completed at the inquirer through the hub; what the inquirer sees of a held answer
//! is the same as what it sees of an ordinary slow one.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use prost::Message as _;
use renkei_e2e::ops::*;
use renkei_e2e::*;
use renkei_proto::v1::auto_response_block_client::AutoResponseBlockClient;
use renkei_proto::v1::gateway_network_server::{GatewayNetwork, GatewayNetworkServer};
use renkei_proto::v1::hub_client::HubClient;
use renkei_proto::v1::hub_records_client::HubRecordsClient;
use renkei_proto::v1::records_client::RecordsClient;
use renkei_proto::v1::{
    AnswerPayload, ClearFlagRequest, Confirmations, DecideRequest, Decision, DeliverAnswerRequest,
    DeliverAnswerResponse, DeliverInquiryRequest, DeliverInquiryResponse, ExchangeRecord,
    ExchangeRequest, FlagReason, GetHeldRequest, GetInquiryRequest, HeldState, Inquiry,
    InquiryEnvelope, InquiryState, IssueSymbolsRequest, ListHeldRequest, ListHubRecordsRequest,
    ListRecordsRequest, OperatorRole, Outcome, ProvisionCopy, PutCopyRequest, QueryAuditRequest,
    SetFlagRequest, answer_payload, content, exchange_response, symbol_result,
};
use tokio::sync::mpsc;
use tonic::Code;

const DEADLINE_MS: u64 = 400;

type Pair = (
    renkei_testkit::population::Resident,
    renkei_testkit::population::Resident,
);

async fn start(expiry_secs: u64) -> TestCluster {
    TestCluster::start_with(|o| {
        o.held.answer_deadline_ms = DEADLINE_MS;
        o.held.expiry_secs = expiry_secs;
    })
    .await
}

fn confirmed() -> Confirmations {
    Confirmations {
        legal_basis: true,
        necessity: true,
        careful_handling: true,
        note: "電話で照会元に確認".into(),
    }
}

/// Waits until the inquiry reaches a final state.
async fn final_state(tc: &TestCluster, code: &str, inquiry_id: &str) -> Inquiry {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let i = tc
            .inquiries(code)
            .get_inquiry(GetInquiryRequest {
                inquiry_id: inquiry_id.into(),
            })
            .await
            .unwrap()
            .into_inner();
        if i.state != InquiryState::Pending as i32 {
            return i;
        }
        assert!(
            Instant::now() < deadline,
            "inquiry {inquiry_id} stayed pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn own_records(tc: &TestCluster, code: &str, inquiry_id: &str) -> Vec<ExchangeRecord> {
    RecordsClient::new(tc.backoffice(code))
        .list_records(ListRecordsRequest {
            inquiry_id: inquiry_id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records
}

async fn hub_records(tc: &TestCluster, inquiry_id: &str) -> Vec<ExchangeRecord> {
    HubRecordsClient::new(tc.cluster.hub_channel("auditor").unwrap())
        .list_records(ListHubRecordsRequest {
            inquiry_id: inquiry_id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records
}

/// Outcomes recorded for an inquiry once there are `n`. `GetInquiry` shows a final state as
/// soon as it is stored, which can be a moment before its record (written concurrently) is
/// durable and indexed, at the inquirer as at the provider and the hub.
async fn eventually(n: usize, mut read: impl AsyncFnMut() -> Vec<ExchangeRecord>) -> Vec<Outcome> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let records = read().await;
        if records.len() >= n || Instant::now() > deadline {
            return outcomes(&records);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn outcomes(records: &[ExchangeRecord]) -> Vec<Outcome> {
    records
        .iter()
        .map(|r| Outcome::try_from(r.outcome).unwrap())
        .collect()
}

/// A flagged mover asked about by 札幌市: the inquiry comes back pending.
async fn held_inquiry(tc: &TestCluster, key: &str) -> (Inquiry, Pair) {
    let movers = tc.movers().await;
    let (y, s) = movers[0].clone();
    tc.flag_as_backoffice(YOKOHAMA, &y.unified_address_number, 0)
        .await;
    let started = Instant::now();
    let inquiry = tc
        .ask(SAPPORO, key, &s.unified_address_number, YOKOHAMA, 25)
        .await
        .unwrap();
    assert_eq!(inquiry.state, InquiryState::Pending as i32, "{inquiry:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(DEADLINE_MS),
        "a held answer must not come back before the answer deadline"
    );
    assert!(inquiry.content.is_none() && inquiry.refusal.is_none());
    (inquiry, (y, s))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_inquiry_is_approved_and_delivered_through_the_hub() {
    let tc = start(3600).await;
    let admin = tc.admin(YOKOHAMA).await;
    let approver = tc
        .operator(YOKOHAMA, &admin, "approver", approver("vaccination"))
        .await;
    let (inquiry, (y, _)) = held_inquiry(&tc, "held-approve").await;

    let held = approver
        .block()
        .list_held(approver.req(ListHeldRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .held;
    assert_eq!(held.len(), 1);
    let h = &held[0];
    assert_eq!(h.inquirer, SAPPORO);
    assert_eq!(h.inquirer_name, "札幌市");
    assert_eq!(h.procedure, "vaccination");
    assert_eq!(h.item, 25);
    assert!(!h.legal_basis.is_empty());
    assert_eq!(h.inquiry_id, inquiry.inquiry_id);
    assert_eq!(h.unified_address_number, y.unified_address_number);
    assert_eq!(h.flag_reason, FlagReason::SupportMeasure as i32);
    assert!(h.received_at_ms > 0 && h.expires_at_ms > h.received_at_ms);
    assert_eq!(h.state, HeldState::Waiting as i32);

    // Approval needs all three confirmations.
    let err = approver
        .block()
        .decide(approver.req(DecideRequest {
            permit_id: h.permit_id.clone(),
            decision: Decision::Approve as i32,
            confirmations: Some(Confirmations {
                necessity: false,
                ..confirmed()
            }),
            manual_content: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(
        final_state_now(&tc, &inquiry.inquiry_id).await,
        InquiryState::Pending as i32
    );

    let decided = approver
        .block()
        .decide(approver.req(DecideRequest {
            permit_id: h.permit_id.clone(),
            decision: Decision::Approve as i32,
            confirmations: Some(confirmed()),
            manual_content: None,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decided.state, HeldState::Approved as i32);
    assert_eq!(decided.decided_by, "approver");

    let done = final_state(&tc, SAPPORO, &inquiry.inquiry_id).await;
    assert_eq!(done.state, InquiryState::Answered as i32, "{done:?}");
    let Some(content::Body::Vaccination(got)) = done.content.and_then(|c| c.body) else {
        panic!("no vaccination history in the approved answer");
    };
    assert_eq!(&got, y.history.as_ref().unwrap());

    // A second decision on the same inquiry is refused.
    let again = approver
        .block()
        .decide(approver.req(DecideRequest {
            permit_id: h.permit_id.clone(),
            decision: Decision::Refuse as i32,
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    // Recorded on both sides and at the hub.
    assert_eq!(
        eventually(2, async || own_records(&tc, SAPPORO, &inquiry.inquiry_id)
            .await)
        .await,
        [Outcome::Pending, Outcome::Provided]
    );
    assert_eq!(
        eventually(2, async || own_records(&tc, YOKOHAMA, &inquiry.inquiry_id)
            .await)
        .await,
        [Outcome::Held, Outcome::Provided]
    );
    let provider = own_records(&tc, YOKOHAMA, &inquiry.inquiry_id).await;
    assert_eq!(provider[1].operator, "approver");
    assert_eq!(
        eventually(2, async || hub_records(&tc, &inquiry.inquiry_id).await).await,
        [Outcome::Pending, Outcome::Relayed]
    );

    // Audited, with person and procedure.
    let audit = admin
        .audit(QueryAuditRequest {
            action: "held.".into(),
            ..Default::default()
        })
        .await;
    assert_audited(&audit, "approver", "held.list", "ok");
    assert_audited(&audit, "approver", "held.approve", "invalid");
    assert_audited(&audit, "approver", "held.approve", "ok");
    assert_audited(&audit, "approver", "held.refuse", "refused");
    let approve = audit
        .iter()
        .find(|e| e.action == "held.approve" && e.outcome == "ok")
        .unwrap();
    assert_eq!(approve.target, y.unified_address_number);
    assert_eq!(approve.procedure, "vaccination");
    assert_eq!(approve.terminal, "t1");
    assert_eq!(approve.terminal_cert_sha256.len(), 64);
    assert!(approve.peer_address.starts_with("127.0.0.1:"));
    tc.stop().await;
}

async fn final_state_now(tc: &TestCluster, inquiry_id: &str) -> i32 {
    tc.inquiries(SAPPORO)
        .get_inquiry(GetInquiryRequest {
            inquiry_id: inquiry_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_inquiry_is_refused_and_completes_as_not_provided() {
    let tc = start(3600).await;
    let admin = tc.admin(YOKOHAMA).await;
    let approver = tc
        .operator(YOKOHAMA, &admin, "approver", approver("vaccination"))
        .await;
    let (inquiry, _) = held_inquiry(&tc, "held-refuse").await;
    let held = approver
        .block()
        .list_held(approver.req(ListHeldRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .held;
    let decided = approver
        .block()
        .decide(approver.req(DecideRequest {
            permit_id: held[0].permit_id.clone(),
            decision: Decision::Refuse as i32,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decided.state, HeldState::Refused as i32);
    let done = final_state(&tc, SAPPORO, &inquiry.inquiry_id).await;
    assert_eq!(done.state, InquiryState::NotProvided as i32, "{done:?}");
    assert!(done.content.is_none());
    assert_eq!(
        eventually(2, async || own_records(&tc, SAPPORO, &inquiry.inquiry_id)
            .await)
        .await,
        [Outcome::Pending, Outcome::NotProvided]
    );
    assert_eq!(
        eventually(2, async || own_records(&tc, YOKOHAMA, &inquiry.inquiry_id)
            .await)
        .await,
        [Outcome::Held, Outcome::NotProvided]
    );
    assert_eq!(
        eventually(2, async || hub_records(&tc, &inquiry.inquiry_id).await).await,
        [Outcome::Pending, Outcome::NotProvided]
    );
    // Decided inquiries leave the waiting list and show under their state.
    let waiting = approver
        .block()
        .list_held(approver.req(ListHeldRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .held;
    assert!(waiting.is_empty());
    let refused = approver
        .block()
        .list_held(approver.req(ListHeldRequest {
            state: HeldState::Refused as i32,
        }))
        .await
        .unwrap()
        .into_inner()
        .held;
    assert_eq!(refused.len(), 1);
    let audit = admin.audit(QueryAuditRequest::default()).await;
    assert_audited(&audit, "approver", "held.refuse", "ok");
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_inquiry_nobody_decides_expires() {
    let tc = start(1).await;
    let (inquiry, _) = held_inquiry(&tc, "held-expire").await;
    let done = final_state(&tc, SAPPORO, &inquiry.inquiry_id).await;
    assert_eq!(done.state, InquiryState::Expired as i32, "{done:?}");
    assert_eq!(
        eventually(2, async || own_records(&tc, SAPPORO, &inquiry.inquiry_id)
            .await)
        .await,
        [Outcome::Pending, Outcome::Expired]
    );
    let id = inquiry.inquiry_id.clone();
    assert_eq!(
        eventually(2, async || own_records(&tc, YOKOHAMA, &id).await).await,
        [Outcome::Held, Outcome::Expired]
    );
    assert_eq!(
        eventually(2, async || hub_records(&tc, &id).await).await,
        [Outcome::Pending, Outcome::Expired]
    );
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_flag_is_cleared_the_answer_is_automatic_again() {
    let tc = start(3600).await;
    let admin = tc.admin(YOKOHAMA).await;
    let manager = tc
        .operator(
            YOKOHAMA,
            &admin,
            "flags",
            vec![grant(OperatorRole::FlagManager, "")],
        )
        .await;
    let movers = tc.movers().await;
    let (y, s) = &movers[0];
    // A flag on the person and one item, set by an operator.
    let flag = manager
        .block()
        .set_flag(manager.req(SetFlagRequest {
            unified_address_number: y.unified_address_number.clone(),
            item: 25,
            reason: FlagReason::MasterError as i32,
            note: "正本誤り".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(flag.set_by, "flags");
    assert!(flag.set_at_ms > 0);
    let held = tc
        .ask(SAPPORO, "c1", &s.unified_address_number, YOKOHAMA, 25)
        .await
        .unwrap();
    assert_eq!(held.state, InquiryState::Pending as i32);

    let cleared = manager
        .block()
        .clear_flag(manager.req(ClearFlagRequest {
            unified_address_number: y.unified_address_number.clone(),
            item: 25,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(cleared.existed);
    let started = Instant::now();
    let answered = tc
        .ask(SAPPORO, "c2", &s.unified_address_number, YOKOHAMA, 25)
        .await
        .unwrap();
    assert_eq!(
        answered.state,
        InquiryState::Answered as i32,
        "{answered:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(DEADLINE_MS));

    let audit = admin
        .audit(QueryAuditRequest {
            target: y.unified_address_number.clone(),
            ..Default::default()
        })
        .await;
    assert_audited(&audit, "flags", "flag.set", "ok");
    assert_audited(&audit, "flags", "flag.clear", "ok");
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_system_imports_its_daily_list_and_bad_rows_are_reported() {
    let tc = start(3600).await;
    let rows = vec![
        SetFlagRequest {
            unified_address_number: "1410031000001".into(),
            item: 0,
            reason: FlagReason::SupportMeasure as i32,
            note: String::new(),
        },
        SetFlagRequest {
            unified_address_number: "not-a-number".into(),
            item: 0,
            reason: FlagReason::SupportMeasure as i32,
            note: String::new(),
        },
        SetFlagRequest {
            unified_address_number: "1410031000002".into(),
            item: 0,
            reason: FlagReason::Unspecified as i32,
            note: String::new(),
        },
        SetFlagRequest {
            unified_address_number: "1410031000003".into(),
            item: 25,
            reason: FlagReason::Sensitive as i32,
            note: String::new(),
        },
    ];
    let mut client = AutoResponseBlockClient::new(tc.backoffice(YOKOHAMA));
    let summary = client
        .import_flags(tokio_stream::iter(rows))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summary.accepted, 2);
    assert_eq!(summary.rejected, 2);
    assert_eq!(summary.errors[0].index, 1);
    assert_eq!(summary.errors[0].field, "unified_address_number");
    assert_eq!(summary.errors[1].index, 2);
    assert_eq!(summary.errors[1].field, "reason");
    let flags = client
        .list_flags(renkei_proto::v1::ListFlagsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .flags;
    assert_eq!(flags.len(), 2);
    assert!(flags.iter().all(|f| f.set_by == "backoffice:vaccination"));
    // Each imported flag is on record by person, and the import as a whole.
    let admin = tc.admin(YOKOHAMA).await;
    let audit = admin.audit(QueryAuditRequest::default()).await;
    for uan in ["1410031000001", "1410031000003"] {
        assert!(
            audit.iter().any(|e| e.action == "flag.set"
                && e.target == uan
                && e.operator == "backoffice:vaccination"),
            "no audit entry for {uan}"
        );
    }
    assert_audited(&audit, "backoffice:vaccination", "flag.import", "ok");
    assert_eq!(audit.iter().filter(|e| e.action == "flag.set").count(), 2);
    // Another municipality's address system sees none of them.
    let other = AutoResponseBlockClient::new(tc.backoffice(SAPPORO))
        .list_flags(renkei_proto::v1::ListFlagsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .flags;
    assert!(other.is_empty());
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_approver_of_the_procedure_may_see_or_decide() {
    let tc = start(3600).await;
    let admin = tc.admin(YOKOHAMA).await;
    let manager = tc
        .operator(
            YOKOHAMA,
            &admin,
            "flags",
            vec![
                grant(OperatorRole::FlagManager, ""),
                grant(OperatorRole::Inquirer, ""),
            ],
        )
        .await;
    let other = tc
        .operator(YOKOHAMA, &admin, "childcare", approver("childcare"))
        .await;
    let (inquiry, _) = held_inquiry(&tc, "held-rights").await;
    let permit_id = hub_records(&tc, &inquiry.inquiry_id).await[0]
        .permit_id
        .clone();

    // Neither an administrator nor a flag manager approves.
    for s in [&admin, &manager] {
        let err = s
            .block()
            .list_held(s.req(ListHeldRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
        let err = s
            .block()
            .decide(s.req(DecideRequest {
                permit_id: permit_id.clone(),
                decision: Decision::Approve as i32,
                confirmations: Some(confirmed()),
                manual_content: None,
            }))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    }
    // An approver of another procedure sees nothing and may decide nothing here.
    let listed = other
        .block()
        .list_held(other.req(ListHeldRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .held;
    assert!(listed.is_empty());
    let err = other
        .block()
        .get_held(other.req(GetHeldRequest {
            permit_id: permit_id.clone(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = other
        .block()
        .decide(other.req(DecideRequest {
            permit_id: permit_id.clone(),
            decision: Decision::Approve as i32,
            confirmations: Some(confirmed()),
            manual_content: None,
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    // Still pending: nobody without the right changed anything.
    assert_eq!(
        final_state_now(&tc, &inquiry.inquiry_id).await,
        InquiryState::Pending as i32
    );
    let audit = admin.audit(QueryAuditRequest::default()).await;
    assert_audited(&audit, "admin", "held.list", "denied");
    assert_audited(&audit, "admin", "held.approve", "denied");
    assert_audited(&audit, "flags", "held.approve", "denied");
    assert_audited(&audit, "childcare", "held.list", "ok");
    assert_audited(&audit, "childcare", "held.show", "denied");
    assert_audited(&audit, "childcare", "held.approve", "denied");
    let denied = audit
        .iter()
        .find(|e| e.operator == "childcare" && e.action == "held.approve")
        .unwrap();
    assert_eq!(denied.procedure, "vaccination");
    tc.stop().await;
}

/// Plays 札幌市's gateway on the network side: records what the hub delivers to it.
#[derive(Clone)]
struct InquirerGateway {
    answers: mpsc::UnboundedSender<(Instant, DeliverAnswerRequest)>,
}

#[tonic::async_trait]
impl GatewayNetwork for InquirerGateway {
    async fn deliver_inquiry(
        &self,
        _: tonic::Request<DeliverInquiryRequest>,
    ) -> Result<tonic::Response<DeliverInquiryResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented(
            "札幌市 answers nothing in this test",
        ))
    }

    async fn deliver_answer(
        &self,
        req: tonic::Request<DeliverAnswerRequest>,
    ) -> Result<tonic::Response<DeliverAnswerResponse>, tonic::Status> {
        let _ = self.answers.send((Instant::now(), req.into_inner()));
        Ok(tonic::Response::new(DeliverAnswerResponse {}))
    }
}

/// The indistinguishability test. 札幌市's gateway is played by this test, so it sees
/// exactly the bytes and the timing the real inquirer would: the hub's exchange response
/// and the late answer the hub delivers. One person is flagged at 横浜市; another has an
/// ordinary copy, but 横浜市's provision database is slow (past the answer deadline).
/// Both copies hold the same history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flagged_record_looks_to_the_inquirer_like_an_ordinary_slow_answer() {
    const LATENCY_MS: u64 = 1_500;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inquirer_addr = listener.local_addr().unwrap();
    let tc = TestCluster::start_with(|o| {
        o.tenants.retain(|(code, _)| code != SAPPORO);
        o.extra_endpoints = vec![(SAPPORO.into(), inquirer_addr.to_string())];
        o.held.answer_deadline_ms = DEADLINE_MS;
        o.held.simulated_answer_latency_ms = LATENCY_MS;
    })
    .await;
    let (tx, mut answers) = mpsc::unbounded_channel();
    let routes =
        tonic::service::Routes::new(GatewayNetworkServer::new(InquirerGateway { answers: tx }));
    let creds = tc.cluster.credentials("gateway").unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        renkei_transport::serve(
            listener,
            &creds,
            routes,
            &["renkei.v1.GatewayNetwork"],
            Default::default(),
            async {
                let _ = stopped.await;
            },
        )
        .await
    });

    // Two movers; both copies at 横浜市 hold the same history; the first is flagged.
    let movers = renkei_testkit::population::movers(today());
    let history = movers[0].0.history.clone().unwrap();
    for (y, _) in &movers {
        tc.enrol(YOKOHAMA, std::slice::from_ref(y)).await;
        tc.copies(YOKOHAMA)
            .put_copy(PutCopyRequest {
                copy: Some(ProvisionCopy {
                    unified_address_number: y.unified_address_number.clone(),
                    item: 25,
                    content: Some(renkei_testkit::population::content(&history)),
                    ..Default::default()
                }),
            })
            .await
            .unwrap();
    }
    let flagged = &movers[0].0;
    tc.flag_as_backoffice(YOKOHAMA, &flagged.unified_address_number, 0)
        .await;

    // 札幌市's symbols for both, then the two exchanges, as 札幌市's gateway makes them.
    let mut hub = HubClient::new(
        tc.cluster
            .hub_channel(&format!("tenant-{SAPPORO}"))
            .unwrap(),
    );
    let symbols = hub
        .issue_symbols(IssueSymbolsRequest {
            my_numbers: movers.iter().map(|(_, s)| s.my_number.clone()).collect(),
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    let mut seen = Vec::new();
    for (i, sym) in symbols.into_iter().enumerate() {
        let Some(symbol_result::Result::Symbol(symbol)) = sym.result else {
            panic!("no symbol");
        };
        let envelope = InquiryEnvelope {
            inquiry_id: format!("inq-{i:028}"),
            inquirer: SAPPORO.into(),
            provider: YOKOHAMA.into(),
            procedure: "vaccination".into(),
            item: 25,
            created_at_ms: renkei_core::Clock::now_ms(&renkei_core::SystemClock),
            nonce: vec![i as u8; 16],
            disclose_after_ms: 0,
        };
        let started = Instant::now();
        let resp = hub
            .exchange(ExchangeRequest {
                envelope: envelope.encode_to_vec(),
                inquirer_symbol: symbol,
            })
            .await
            .unwrap()
            .into_inner();
        seen.push((started.elapsed(), resp, envelope));
    }
    let (flag_time, flag_resp, flag_env) = &seen[0];
    let (slow_time, slow_resp, slow_env) = &seen[1];

    // Status: both pending, the same message.
    assert!(matches!(
        flag_resp.result,
        Some(exchange_response::Result::Pending(_))
    ));
    assert!(matches!(
        slow_resp.result,
        Some(exchange_response::Result::Pending(_))
    ));
    // Size: the same encoded length (permit ids have one length).
    assert_eq!(flag_resp.encoded_len(), slow_resp.encoded_len());
    // Timing: both leave the provider at the deadline: not before it, and the slow one
    // does not wait for its answer.
    let deadline = Duration::from_millis(DEADLINE_MS);
    for t in [flag_time, slow_time] {
        assert!(
            *t >= deadline,
            "pending came back after {t:?}, before the deadline"
        );
        assert!(
            *t < Duration::from_millis(LATENCY_MS),
            "pending took {t:?}: it waited for the answer"
        );
    }

    // The slow answer arrives on its own; the flagged one when an approver approves it.
    let (_, slow_answer) = tokio::time::timeout(Duration::from_secs(10), answers.recv())
        .await
        .unwrap()
        .unwrap();
    let admin = tc.admin(YOKOHAMA).await;
    let approver = tc
        .operator(YOKOHAMA, &admin, "approver", approver("vaccination"))
        .await;
    approver
        .block()
        .decide(approver.req(DecideRequest {
            permit_id: flag_resp.permit_id.clone(),
            decision: Decision::Approve as i32,
            confirmations: Some(confirmed()),
            manual_content: None,
        }))
        .await
        .unwrap();
    let (_, flag_answer) = tokio::time::timeout(Duration::from_secs(10), answers.recv())
        .await
        .unwrap()
        .unwrap();

    // Size: the same on the wire, the same ciphertext length.
    assert_eq!(flag_answer.encoded_len(), slow_answer.encoded_len());
    let (fa, sa) = (flag_answer.answer.unwrap(), slow_answer.answer.unwrap());
    assert_eq!(fa.ciphertext.len(), sa.ciphertext.len());
    assert_eq!(fa.permit_id, flag_resp.permit_id);
    assert_eq!(sa.permit_id, slow_resp.permit_id);

    // Content: both open to a FOUND answer with the same history, and nothing else differs.
    let certs = certs_dir();
    let own =
        renkei_crypto::read_encryption_key(&certs.join(format!("keys/{SAPPORO}.enc.key"))).unwrap();
    let provider =
        renkei_crypto::read_verifying_key(&certs.join(format!("keys/{YOKOHAMA}.sign.pub")))
            .unwrap();
    let open = |a: &renkei_proto::v1::SealedAnswer| {
        let ctx = renkei_crypto::AnswerContext {
            permit_id: a.permit_id.clone(),
            inquirer: SAPPORO.into(),
            provider: YOKOHAMA.into(),
        };
        AnswerPayload::decode(
            renkei_crypto::open_answer(a, &ctx, &own, &provider)
                .unwrap()
                .as_slice(),
        )
        .unwrap()
    };
    let (fp, sp) = (open(&fa), open(&sa));
    assert_eq!(fp.status, answer_payload::Status::Found as i32);
    assert_eq!(sp.status, answer_payload::Status::Found as i32);
    assert_eq!(fp.content, sp.content);
    assert_eq!(fp.encoded_len(), sp.encoded_len());
    assert_eq!(fp.inquiry_id, flag_env.inquiry_id);
    assert_eq!(sp.inquiry_id, slow_env.inquiry_id);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_copy_the_inquiry_is_held_and_answered_by_hand() {
    let tc = TestCluster::start_with(|o| {
        o.held.answer_deadline_ms = DEADLINE_MS;
        o.held.hold_without_copy = vec!["vaccination".into()];
    })
    .await;
    let admin = tc.admin(YOKOHAMA).await;
    let approver = tc
        .operator(YOKOHAMA, &admin, "approver", approver("vaccination"))
        .await;
    let movers = tc.movers().await;
    // The second mover has no copy at 横浜市.
    let (y, s) = &movers[1];
    assert!(y.history.is_none());
    let inquiry = tc
        .ask(SAPPORO, "manual", &s.unified_address_number, YOKOHAMA, 25)
        .await
        .unwrap();
    assert_eq!(inquiry.state, InquiryState::Pending as i32);
    let held = approver
        .block()
        .list_held(approver.req(ListHeldRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .held;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].cause, renkei_proto::v1::HoldCause::NoCopy as i32);
    let permit_id = held[0].permit_id.clone();

    // The hand-made answer passes the same format check as a copy.
    let mut history = movers[0].0.history.clone().unwrap();
    let decide = async |content: renkei_proto::v1::VaccinationHistory| {
        approver
            .block()
            .decide(approver.req(DecideRequest {
                permit_id: permit_id.clone(),
                decision: Decision::Approve as i32,
                confirmations: Some(confirmed()),
                manual_content: Some(renkei_testkit::population::content(&content)),
            }))
            .await
    };
    let mut bad = history.clone();
    bad.doses[0].vaccine_code = "NO-SUCH-VACCINE".into();
    let err = decide(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().starts_with("manual_content"),
        "{}",
        err.message()
    );

    history.doses.truncate(3);
    decide(history.clone()).await.unwrap();
    let done = final_state(&tc, SAPPORO, &inquiry.inquiry_id).await;
    assert_eq!(done.state, InquiryState::Answered as i32, "{done:?}");
    let Some(content::Body::Vaccination(got)) = done.content.and_then(|c| c.body) else {
        panic!("no history in the manual answer");
    };
    assert_eq!(got, history);
    assert_eq!(
        outcomes(&own_records(&tc, YOKOHAMA, &inquiry.inquiry_id).await),
        [Outcome::Held, Outcome::Provided]
    );
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flagged_record_is_answered_from_its_copy_not_by_hand() {
    let tc = start(3600).await;
    let admin = tc.admin(YOKOHAMA).await;
    let approver = tc
        .operator(YOKOHAMA, &admin, "approver", approver("vaccination"))
        .await;
    let (inquiry, (y, _)) = held_inquiry(&tc, "flag-manual").await;
    let permit_id = hub_records(&tc, &inquiry.inquiry_id).await[0]
        .permit_id
        .clone();
    let err = approver
        .block()
        .decide(approver.req(DecideRequest {
            permit_id,
            decision: Decision::Approve as i32,
            confirmations: Some(confirmed()),
            manual_content: Some(renkei_testkit::population::content(
                y.history.as_ref().unwrap(),
            )),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    tc.stop().await;
}

/// The node process of the crash test, with 横浜市's first administrator bootstrapped.
fn start_node(data: &std::path::Path) -> (std::process::Child, String, String) {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_renkei-e2e-node"))
        .arg(data)
        .env("RENKEI_E2E_BOOTSTRAP_ADMIN", YOKOHAMA)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("node said {line:?}: {e}"));
    (
        child,
        v["local"].as_str().unwrap().to_owned(),
        v["admin_otp"].as_str().unwrap_or_default().to_owned(),
    )
}

fn channel_to(local: &str, name: &str) -> tonic::transport::Channel {
    let d = certs_dir();
    let creds = renkei_transport::Credentials::load(
        &d.join("ca.pem"),
        &d.join(format!("{name}.pem")),
        &d.join(format!("{name}.key.pem")),
    )
    .unwrap();
    renkei_transport::channel(
        local,
        renkei_testkit::cluster::GATEWAY_SERVER_NAME,
        &creds,
        &renkei_transport::ClientOptions::default(),
    )
    .unwrap()
}

/// A held inquiry, the flag, the operators and their session survive `kill -9` of the
/// server process; the approval after the restart completes the inquiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_inquiry_and_its_approver_survive_kill_9() {
    use renkei_proto::v1::inquiries_client::InquiriesClient;

    let dir = tempfile::tempdir().unwrap();
    let (mut child, local, otp) = start_node(dir.path());
    assert!(!otp.is_empty());
    let (y, s) = renkei_testkit::population::movers(today()).remove(0);
    for (code, r) in [(YOKOHAMA, &y), (SAPPORO, &s)] {
        let ch = channel_to(&local, &format!("backoffice-{code}"));
        renkei_testkit::enrol(&ch, std::slice::from_ref(r), renkei_testkit::Calls::Single)
            .await
            .unwrap();
    }
    AutoResponseBlockClient::new(channel_to(&local, &format!("backoffice-{YOKOHAMA}")))
        .set_flag(SetFlagRequest {
            unified_address_number: y.unified_address_number.clone(),
            item: 0,
            reason: FlagReason::SupportMeasure as i32,
            note: String::new(),
        })
        .await
        .unwrap();
    let terminal = channel_to(&local, &format!("terminal-{YOKOHAMA}"));
    let admin = Session::first_login(terminal.clone(), "admin", &otp).await;
    let approver = {
        let otp = admin.add_user("approver", approver("vaccination")).await;
        Session::first_login(terminal, "approver", &otp).await
    };
    let inquiry = InquiriesClient::new(channel_to(&local, &format!("backoffice-{SAPPORO}")))
        .submit_inquiry(ask_request(
            "crash",
            &s.unified_address_number,
            YOKOHAMA,
            25,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inquiry.state, InquiryState::Pending as i32);

    child.kill().unwrap();
    child.wait().unwrap();
    let (mut child, local, otp) = start_node(dir.path());
    assert!(otp.is_empty(), "the administrator was bootstrapped twice");

    // Same session token, new connection: the session was on disk too.
    let approver = Session {
        channel: channel_to(&local, &format!("terminal-{YOKOHAMA}")),
        ..approver
    };
    let held = approver
        .block()
        .list_held(approver.req(ListHeldRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .held;
    assert_eq!(held.len(), 1, "the held inquiry was lost");
    approver
        .block()
        .decide(approver.req(DecideRequest {
            permit_id: held[0].permit_id.clone(),
            decision: Decision::Approve as i32,
            confirmations: Some(confirmed()),
            manual_content: None,
        }))
        .await
        .unwrap();
    let mut inquiries = InquiriesClient::new(channel_to(&local, &format!("backoffice-{SAPPORO}")));
    let mut state = InquiryState::Pending as i32;
    for _ in 0..100 {
        state = inquiries
            .get_inquiry(GetInquiryRequest {
                inquiry_id: inquiry.inquiry_id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .state;
        if state != InquiryState::Pending as i32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, InquiryState::Answered as i32);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decided_held_inquiries_are_forgotten_after_the_retention_but_waiting_ones_stay() {
    let tc = TestCluster::start_with(|o| {
        o.held.answer_deadline_ms = DEADLINE_MS;
        o.inquiry_result_retention_secs = 0;
    })
    .await;
    let admin = tc.admin(YOKOHAMA).await;
    let approver = tc
        .operator(YOKOHAMA, &admin, "approver", approver("vaccination"))
        .await;
    let (first, (_, s)) = held_inquiry(&tc, "purge-1").await;
    let held = approver
        .block()
        .list_held(approver.req(ListHeldRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .held;
    approver
        .block()
        .decide(approver.req(DecideRequest {
            permit_id: held[0].permit_id.clone(),
            decision: Decision::Refuse as i32,
            ..Default::default()
        }))
        .await
        .unwrap();
    final_state(&tc, SAPPORO, &first.inquiry_id).await;
    let second = tc
        .ask(SAPPORO, "purge-2", &s.unified_address_number, YOKOHAMA, 25)
        .await
        .unwrap();
    assert_eq!(second.state, InquiryState::Pending as i32);
    tokio::time::sleep(Duration::from_millis(20)).await;
    tc.cluster.gateway.purge_now().await.unwrap();
    let list = |state: HeldState| {
        let approver = approver.clone();
        async move {
            approver
                .block()
                .list_held(approver.req(ListHeldRequest {
                    state: state as i32,
                }))
                .await
                .unwrap()
                .into_inner()
                .held
        }
    };
    assert!(list(HeldState::Refused).await.is_empty());
    let waiting = list(HeldState::Waiting).await;
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].inquiry_id, second.inquiry_id);
    // The decision stays on record.
    assert_eq!(
        outcomes(&own_records(&tc, YOKOHAMA, &first.inquiry_id).await),
        [Outcome::Held, Outcome::NotProvided]
    );
    tc.stop().await;
}
