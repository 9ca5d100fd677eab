//! The operator's view of the records (`renkei.v1.Reports`) on a real exchange: each filter
//! narrows the result to exactly the records it names, pages return every record once,
//! bad filters are INVALID_ARGUMENT naming the field, tenants see only their own records,
//! every query is audited, and the statistics count the exchanges performed.
#![allow(clippy::unwrap_used)]
// These tests run against real servers on today's wall clock, outside the Clock rule.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use renkei_e2e::ops::*;
use renkei_e2e::*;
use renkei_proto::v1::reports_client::ReportsClient;
use renkei_proto::v1::{
    DecideRequest, Decision, Direction, ExchangeRecord, GetInquiryRequest, GetStatisticsRequest,
    GetStatisticsResponse, InquiryState, ListHeldRequest, OperatorRole, Outcome, QueryAuditRequest,
    QueryRecordsRequest, QueryRecordsResponse, StatisticsGrouping, SubmitInquiryRequest,
};
use tonic::Code;
use tonic_types::StatusExt as _;

async fn query(s: &Session, q: QueryRecordsRequest) -> Result<QueryRecordsResponse, tonic::Status> {
    ReportsClient::new(s.channel.clone())
        .query_records(s.req(q))
        .await
        .map(|r| r.into_inner())
}

/// Every page of `q`, `page_size` at a time; asserts no record comes twice.
async fn all(s: &Session, q: &QueryRecordsRequest, page_size: u32) -> Vec<ExchangeRecord> {
    let mut out: Vec<ExchangeRecord> = Vec::new();
    let mut token = String::new();
    loop {
        let page = query(
            s,
            QueryRecordsRequest {
                page_size,
                page_token: token,
                ..q.clone()
            },
        )
        .await
        .unwrap();
        assert!(page.records.len() <= page_size as usize);
        out.extend(page.records);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let seqs: BTreeSet<u64> = out.iter().map(|r| r.sequence).collect();
    assert_eq!(seqs.len(), out.len(), "a record came twice");
    out
}

fn seqs<'a>(records: impl IntoIterator<Item = &'a ExchangeRecord>) -> Vec<u64> {
    records.into_iter().map(|r| r.sequence).collect()
}

async fn stats(s: &Session, req: GetStatisticsRequest) -> GetStatisticsResponse {
    ReportsClient::new(s.channel.clone())
        .get_statistics(s.req(req))
        .await
        .unwrap()
        .into_inner()
}

fn day(d: time::Date) -> String {
    d.to_string()
}

/// Today in Japan time.
fn jst_today() -> time::Date {
    time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(9, 0, 0).unwrap())
        .date()
}

/// Exchanges of every kind 横浜市 keeps a record of. Returns how many inquiries 横浜市
/// made (all settled at once).
async fn exchanges(tc: &TestCluster, admin: &Session) -> (u64, [String; 2]) {
    let movers = tc.movers().await;
    let (y0, s0) = &movers[0];
    let (y1, s1) = &movers[1];
    // 札幌市 asks 横浜市: answered with data.
    let a = tc
        .ask(SAPPORO, "r-a", &s0.unified_address_number, YOKOHAMA, 25)
        .await
        .unwrap();
    assert_eq!(a.state, InquiryState::Answered as i32, "{a:?}");
    // 札幌市 asks about a flagged person: held at 横浜市, then refused by an approver.
    tc.flag_as_backoffice(YOKOHAMA, &y1.unified_address_number, 0)
        .await;
    let held = tc
        .ask(SAPPORO, "r-held", &s1.unified_address_number, YOKOHAMA, 25)
        .await
        .unwrap();
    assert_eq!(held.state, InquiryState::Pending as i32, "{held:?}");
    let approver = tc
        .operator(YOKOHAMA, admin, "approver", approver("vaccination"))
        .await;
    let h = approver
        .block()
        .list_held(approver.req(ListHeldRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .held
        .remove(0);
    approver
        .block()
        .decide(approver.req(DecideRequest {
            permit_id: h.permit_id,
            decision: Decision::Refuse as i32,
            ..Default::default()
        }))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let i = tc
            .inquiries(SAPPORO)
            .get_inquiry(GetInquiryRequest {
                inquiry_id: held.inquiry_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        if i.state == InquiryState::NotProvided as i32 {
            break;
        }
        assert!(Instant::now() < deadline, "never settled: {i:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // 横浜市 asks: 札幌市 (no copy there), 札幌市 off the whitelist (refused by the hub),
    // 岡崎市 (another counterparty), and 札幌市 for another procedure.
    let mut made = 0;
    let y = &y0.unified_address_number;
    for (key, provider, item, procedure) in [
        ("r-b", SAPPORO, 25, "vaccination"),
        ("r-c", SAPPORO, 26, "vaccination"),
        ("r-d", OKAZAKI, 25, "vaccination"),
        ("r-e", SAPPORO, 27, "vaccination-fee"),
    ] {
        let i = tc
            .inquiries(YOKOHAMA)
            .submit_inquiry(SubmitInquiryRequest {
                procedure: procedure.into(),
                ..ask_request(key, y, provider, item)
            })
            .await
            .unwrap()
            .into_inner();
        assert_ne!(i.state, InquiryState::Pending as i32, "{i:?}");
        made += 1;
    }
    (
        made,
        [
            y0.unified_address_number.clone(),
            y1.unified_address_number.clone(),
        ],
    )
}

fn field_of(err: &tonic::Status) -> String {
    let br = err
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest details in {err:?}"));
    br.field_violations[0].field.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_pages_errors_isolation_audit_and_statistics() {
    let tc = TestCluster::start_with(|o| o.held.answer_deadline_ms = 400).await;
    let admin = tc.admin(YOKOHAMA).await;
    // The exchanges may straddle midnight in Japan: the period covers both days then.
    let first_day = jst_today();
    let (made, [y0, y1]) = exchanges(&tc, &admin).await;
    let reviewer = tc
        .operator(
            YOKOHAMA,
            &admin,
            "reviewer",
            vec![grant(OperatorRole::RecordsReviewer, "")],
        )
        .await;

    // Everything, one page; then one record at a time and three at a time: the same records.
    let everything = all(&reviewer, &QueryRecordsRequest::default(), 1000).await;
    assert!(everything.len() >= 7, "{everything:#?}");
    assert!(everything.iter().all(|r| r.keeper == YOKOHAMA));
    assert_eq!(
        seqs(&all(&reviewer, &QueryRecordsRequest::default(), 1).await),
        seqs(&everything)
    );
    assert_eq!(
        seqs(&all(&reviewer, &QueryRecordsRequest::default(), 3).await),
        seqs(&everything)
    );

    // Each filter gives exactly the records that match it.
    let check = |q: QueryRecordsRequest, want: &dyn Fn(&ExchangeRecord) -> bool| {
        let expected: Vec<u64> = everything
            .iter()
            .filter(|r| want(r))
            .map(|r| r.sequence)
            .collect();
        let reviewer = reviewer.clone();
        async move {
            let got = seqs(&all(&reviewer, &q, 2).await);
            assert!(!got.is_empty(), "{q:?} matched nothing");
            assert_eq!(got, expected, "{q:?}");
            got
        }
    };
    let of_y1 = check(
        QueryRecordsRequest {
            unified_address_number: y1.clone(),
            ..Default::default()
        },
        &|r| r.unified_address_number == y1,
    )
    .await;
    // The flagged person: held, then not provided.
    assert_eq!(of_y1.len(), 2);
    let okazaki = check(
        QueryRecordsRequest {
            counterparty: OKAZAKI.into(),
            ..Default::default()
        },
        &|r| r.counterparty == OKAZAKI,
    )
    .await;
    assert_eq!(okazaki.len(), 1);
    let fee = check(
        QueryRecordsRequest {
            procedure: "vaccination-fee".into(),
            ..Default::default()
        },
        &|r| r.procedure == "vaccination-fee",
    )
    .await;
    assert_eq!(fee.len(), 1);
    let held = check(
        QueryRecordsRequest {
            outcomes: vec!["held".into()],
            ..Default::default()
        },
        &|r| r.outcome == Outcome::Held as i32,
    )
    .await;
    assert_eq!(held.len(), 1);
    check(
        QueryRecordsRequest {
            outcomes: vec!["refused".into(), "not_provided".into()],
            ..Default::default()
        },
        &|r| r.outcome == Outcome::Refused as i32 || r.outcome == Outcome::NotProvided as i32,
    )
    .await;
    check(
        QueryRecordsRequest {
            unified_address_number: y0.clone(),
            counterparty: SAPPORO.into(),
            direction: "inquiry".into(),
            ..Default::default()
        },
        &|r| {
            r.unified_address_number == y0
                && r.counterparty == SAPPORO
                && r.direction == Direction::Inquiry as i32
        },
    )
    .await;
    // The period: today (Japan time) holds everything; yesterday and the next hour nothing.
    let today = jst_today();
    check(
        QueryRecordsRequest {
            from: day(first_day),
            to: day(today),
            ..Default::default()
        },
        &|_| true,
    )
    .await;
    let yesterday = day(first_day.previous_day().unwrap());
    for (from, to) in [
        (yesterday.clone(), yesterday.clone()),
        (
            (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap(),
            String::new(),
        ),
    ] {
        let none = all(
            &reviewer,
            &QueryRecordsRequest {
                from,
                to,
                ..Default::default()
            },
            10,
        )
        .await;
        assert!(none.is_empty(), "{none:#?}");
    }

    // Bad filters: INVALID_ARGUMENT naming the field.
    let mut other_filter = query(
        &reviewer,
        QueryRecordsRequest {
            page_size: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for (q, field) in [
        (
            QueryRecordsRequest {
                outcomes: vec!["provided".into(), "answered".into()],
                ..Default::default()
            },
            "outcomes[1]",
        ),
        (
            QueryRecordsRequest {
                from: "2026-13-01".into(),
                ..Default::default()
            },
            "from",
        ),
        (
            QueryRecordsRequest {
                to: "tomorrow".into(),
                ..Default::default()
            },
            "to",
        ),
        (
            QueryRecordsRequest {
                from: "2026-04-02".into(),
                to: "2026-04-01".into(),
                ..Default::default()
            },
            "to",
        ),
        (
            QueryRecordsRequest {
                counterparty: "141004".into(),
                ..Default::default()
            },
            "counterparty",
        ),
        (
            QueryRecordsRequest {
                unified_address_number: "12ab".into(),
                ..Default::default()
            },
            "unified_address_number",
        ),
        (
            QueryRecordsRequest {
                procedure: "Vaccination!".into(),
                ..Default::default()
            },
            "procedure",
        ),
        (
            QueryRecordsRequest {
                direction: "sideways".into(),
                ..Default::default()
            },
            "direction",
        ),
        (
            QueryRecordsRequest {
                page_size: 1001,
                ..Default::default()
            },
            "page_size",
        ),
        (
            QueryRecordsRequest {
                outcomes: vec!["held".into()],
                page_token: std::mem::take(&mut other_filter.next_page_token),
                ..Default::default()
            },
            "page_token",
        ),
        (
            QueryRecordsRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
            "page_token",
        ),
    ] {
        let err = query(&reviewer, q.clone()).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{q:?}: {err:?}");
        assert_eq!(field_of(&err), field, "{q:?}: {err:?}");
        assert!(err.message().starts_with(field), "{}", err.message());
    }

    // Statistics count the exchanges performed: 横浜市 answered one inquiry with data, held
    // one that an operator then refused, and made `made` inquiries, all settled.
    let s = stats(
        &reviewer,
        GetStatisticsRequest {
            from: day(first_day),
            to: day(today),
            group_by: StatisticsGrouping::Procedure as i32,
        },
    )
    .await;
    let total = s.total.unwrap();
    assert_eq!(total.inquiries, made, "{total:#?}");
    assert_eq!(total.inquiries_pending, 0);
    assert_eq!(total.provisions, 1);
    assert_eq!(total.holds, 1);
    assert_eq!(total.not_provided, 1);
    assert_eq!(total.refusals, 0);
    assert_eq!(total.expired, 0);
    assert_eq!(
        total.cells.iter().map(|c| c.count).sum::<u64>(),
        everything.len() as u64
    );
    let fee_row = s
        .rows
        .iter()
        .find(|r| r.procedure == "vaccination-fee")
        .unwrap();
    assert_eq!(fee_row.inquiries, 1);
    assert!(fee_row.day.is_empty());
    let by_day = stats(
        &reviewer,
        GetStatisticsRequest {
            group_by: StatisticsGrouping::Day as i32,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_day.rows.first().unwrap().day, day(first_day));
    assert_eq!(by_day.rows.last().unwrap().day, day(today));
    assert_eq!(by_day.rows.iter().map(|r| r.inquiries).sum::<u64>(), made);
    let before = stats(
        &reviewer,
        GetStatisticsRequest {
            to: yesterday.clone(),
            ..Default::default()
        },
    )
    .await;
    assert!(before.rows.is_empty(), "{before:#?}");
    let err = ReportsClient::new(reviewer.channel.clone())
        .get_statistics(reviewer.req(GetStatisticsRequest {
            from: "2026-02-30".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(field_of(&err), "from");

    // Only reviewers and administrators; not an approver, not a back office.
    let approver = tc
        .operator(YOKOHAMA, &admin, "approver2", approver("vaccination"))
        .await;
    let err = query(&approver, QueryRecordsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = ReportsClient::new(tc.backoffice(YOKOHAMA))
        .query_records(QueryRecordsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert_eq!(
        all(&admin, &QueryRecordsRequest::default(), 1000)
            .await
            .len(),
        everything.len()
    );

    // Tenant isolation: 札幌市's administrator sees 札幌市's records only, not 横浜市's
    // about the same people, and 横浜市's session is worthless at 札幌市's terminal.
    let sapporo = tc.admin(SAPPORO).await;
    let theirs = all(&sapporo, &QueryRecordsRequest::default(), 1000).await;
    assert!(!theirs.is_empty());
    assert!(theirs.iter().all(|r| r.keeper == SAPPORO), "{theirs:#?}");
    for uan in [&y0, &y1] {
        let none = all(
            &sapporo,
            &QueryRecordsRequest {
                unified_address_number: uan.clone(),
                ..Default::default()
            },
            100,
        )
        .await;
        assert!(none.is_empty(), "{none:#?}");
    }
    let sapporo_stats = stats(&sapporo, GetStatisticsRequest::default()).await;
    let st = sapporo_stats.total.unwrap();
    // 札幌市 asked twice: one answered at once, one pending and later not provided.
    assert_eq!(st.holds + st.not_provided, 0, "{st:#?}");
    assert_eq!(st.inquiries, 2, "{st:#?}");
    assert_eq!(st.inquiries_pending, 1, "{st:#?}");
    let stolen = Session {
        channel: tc.terminal(SAPPORO),
        ..reviewer.clone()
    };
    let err = query(&stolen, QueryRecordsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    // Every query is on the audit log, refused ones too.
    let entries = admin
        .audit(QueryAuditRequest {
            action: "records.".into(),
            limit: 1000,
            ..Default::default()
        })
        .await;
    assert_audited(&entries, "reviewer", "records.query", "ok");
    assert_audited(&entries, "reviewer", "records.query", "invalid");
    assert_audited(&entries, "reviewer", "records.stats", "ok");
    assert_audited(&entries, "approver2", "records.query", "denied");
    assert!(
        entries
            .iter()
            .any(|e| e.action == "records.query" && e.target == y1),
        "the person asked about is on the audit entry"
    );
    tc.stop().await;
}
