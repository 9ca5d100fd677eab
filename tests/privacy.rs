//! My Number never reaches storage or logs: a capture of every log line (at TRACE, from
//! every crate, including tonic, h2 and rustls) and every byte the hub and gateway wrote
//! during symbol acquisition, single and bulk, and an exchange, holds none of them.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use renkei_e2e::*;
use renkei_proto::v1::{AcquireSymbolRequest, AcquisitionState, RegisterAddressNumberRequest};
use renkei_testkit::population;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_numbers_reach_neither_logs_nor_storage() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!(
            "trace,{}",
            renkei_gateway::SLED_LOG_CAP
        )))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let tc = TestCluster::start().await;
    // Single form, through the demo helpers.
    let movers = tc.movers().await;
    // Bulk form, with one bad number in the middle.
    let residents = population::municipality(OKAZAKI, 8, today());
    let mut symbols = tc.symbols(OKAZAKI);
    let regs: Vec<_> = residents
        .iter()
        .map(|r| RegisterAddressNumberRequest {
            unified_address_number: r.unified_address_number.clone(),
        })
        .collect();
    symbols
        .register_address_numbers(tokio_stream::iter(regs))
        .await
        .unwrap();
    let mut reqs: Vec<_> = residents
        .iter()
        .map(|r| AcquireSymbolRequest {
            unified_address_number: r.unified_address_number.clone(),
            my_number: r.my_number.clone(),
        })
        .collect();
    let bad = "123456789010".to_owned();
    reqs.insert(
        3,
        AcquireSymbolRequest {
            unified_address_number: residents[0].unified_address_number.clone(),
            my_number: bad.clone(),
        },
    );
    let mut stream = symbols
        .acquire_symbols(tokio_stream::iter(reqs))
        .await
        .unwrap()
        .into_inner();
    let mut states = Vec::new();
    while let Some(a) = stream.message().await.unwrap() {
        assert!(!a.error.contains(&bad));
        states.push(a.state);
    }
    assert_eq!(
        states
            .iter()
            .filter(|s| **s == AcquisitionState::Acquired as i32)
            .count(),
        8
    );
    assert_eq!(states[3], AcquisitionState::Failed as i32);
    tc.ask(
        SAPPORO,
        "p",
        &movers[0].1.unified_address_number,
        YOKOHAMA,
        25,
    )
    .await
    .unwrap();

    let dir = tc.stop().await;
    let data = dir.path().to_owned();

    let logs = capture.0.lock().unwrap().clone();
    let files = all_bytes_under(&data);
    let mut numbers: Vec<String> = residents.iter().map(|r| r.my_number.clone()).collect();
    numbers.extend(movers.iter().map(|(y, _)| y.my_number.clone()));
    numbers.push(bad);
    for n in &numbers {
        assert!(
            !contains(&logs, n.as_bytes()),
            "a My Number reached the logs"
        );
        for (path, bytes) in &files {
            assert!(
                !contains(bytes, n.as_bytes()),
                "a My Number reached {}",
                path.display()
            );
        }
    }
    // The capture and the scan are real: they see what legitimately is there.
    assert!(logs.len() > 10_000, "captured {} bytes of logs", logs.len());
    assert!(
        contains(&logs, b"h2") || contains(&logs, b"rustls"),
        "TRACE from the transport was captured"
    );
    let uan = residents[1].unified_address_number.as_bytes();
    assert!(
        files.iter().any(|(_, b)| contains(b, uan)),
        "the scan finds what storage does hold"
    );
}
