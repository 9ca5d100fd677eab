//! Prometheus metrics end to end: a real exchange, a scrape of `/metrics` over HTTP, the
//! expected series with the right counts, and none of the exchange's identifiers anywhere in
//! the scrape.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use renkei_e2e::*;
use renkei_proto::v1::GetInquiryRequest;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::Code;

async fn scrape(addr: SocketAddr, path: &str) -> (String, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

/// Sum of the samples of `name` whose labels include every pair of `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        if labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        {
            let v: f64 = rest.rsplit(' ').next().unwrap().parse().unwrap();
            found = Some(found.unwrap_or(0.0) + v);
        }
    }
    found
}

const SUBMIT: &str = "/renkei.v1.Inquiries/SubmitInquiry";
const GET: &str = "/renkei.v1.Inquiries/GetInquiry";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_by_method_and_outcome_and_carry_no_identifiers() {
    let tc = TestCluster::start_with(|o| {
        o.gateway_metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await;
    let addr = tc.cluster.gateway_metrics_addr.unwrap();
    let movers = tc.movers().await;
    let mut secrets: Vec<String> = Vec::new();
    for (y, s) in &movers {
        for r in [y, s] {
            secrets.push(r.unified_address_number.clone());
            secrets.push(r.my_number.clone());
        }
    }
    // Two real exchanges through the hub, 札幌市 asking 横浜市.
    for (i, (_, s)) in movers.iter().enumerate() {
        let inquiry = tc
            .ask(
                SAPPORO,
                &format!("metrics-{i}"),
                &s.unified_address_number,
                YOKOHAMA,
                25,
            )
            .await
            .unwrap();
        secrets.push(inquiry.inquiry_id.clone());
        secrets.push(format!("metrics-{i}"));
        let done = tc
            .inquiries(SAPPORO)
            .get_inquiry(GetInquiryRequest {
                inquiry_id: inquiry.inquiry_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        if !done.permit_id.is_empty() {
            secrets.push(done.permit_id.clone());
        }
    }
    assert!(secrets.iter().any(|s| s.len() > 20), "permit ids collected");
    // A refused call: an inquiry id that does not exist.
    let missing = "inq-does-not-exist-7a1c";
    secrets.push(missing.into());
    let err = tc
        .inquiries(SAPPORO)
        .get_inquiry(GetInquiryRequest {
            inquiry_id: missing.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let (head, text) = scrape(addr, "/metrics").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let n = movers.len() as f64;
    assert_eq!(
        value(
            &text,
            "renkei_grpc_requests_total",
            &[
                ("method", SUBMIT),
                ("code", "OK"),
                ("caller", "backoffice"),
                ("tenant", SAPPORO)
            ]
        ),
        Some(n),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "renkei_grpc_request_duration_seconds_count",
            &[("method", SUBMIT), ("code", "OK")]
        ),
        Some(n)
    );
    assert_eq!(
        value(
            &text,
            "renkei_grpc_requests_total",
            &[("method", GET), ("code", "OK"), ("tenant", SAPPORO)]
        ),
        Some(n)
    );
    assert_eq!(
        value(
            &text,
            "renkei_grpc_requests_total",
            &[("method", GET), ("code", "NOT_FOUND"), ("tenant", SAPPORO)]
        ),
        Some(1.0)
    );
    // The provider side: the hub delivered each inquiry to 横浜市 over the network side.
    assert_eq!(
        value(
            &text,
            "renkei_grpc_requests_total",
            &[
                ("method", "/renkei.v1.GatewayNetwork/DeliverInquiry"),
                ("code", "OK"),
                ("caller", "hub")
            ]
        ),
        Some(n)
    );
    // Nothing of 横浜市 is counted under another tenant.
    assert_eq!(
        value(
            &text,
            "renkei_grpc_requests_total",
            &[("method", SUBMIT), ("tenant", YOKOHAMA)]
        ),
        None
    );
    assert_eq!(
        value(&text, "renkei_ledger_records", &[("tenant", YOKOHAMA)]).map(|v| v >= n),
        Some(true),
        "{text}"
    );
    for gauge in ["renkei_held_inquiries", "renkei_jobs_running"] {
        assert_eq!(
            value(&text, gauge, &[("tenant", OKAZAKI)]),
            Some(0.0),
            "{gauge}"
        );
    }
    assert_eq!(value(&text, "renkei_maintenance", &[]), Some(0.0));
    // The cluster's hub signs master data valid for 30 days.
    let left = value(&text, "renkei_master_data_expires_in_seconds", &[]);
    assert!(
        left.is_some_and(|s| s > 29.0 * 86_400.0 && s <= 30.0 * 86_400.0),
        "{left:?}"
    );
    // The scrape itself is in flight while rendered; no gRPC call is.
    assert_eq!(
        value(
            &text,
            "renkei_grpc_requests_in_flight",
            &[("method", SUBMIT)]
        ),
        Some(0.0)
    );

    // No identifier of a person or an exchange, anywhere in the text.
    for s in &secrets {
        assert!(!s.is_empty());
        assert!(
            !text.contains(s.as_str()),
            "the scrape contains the identifier {s:?}"
        );
    }
    let (head, _) = scrape(addr, "/other").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    tc.stop().await;
}
