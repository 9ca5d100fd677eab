//! Passwords and session tokens never reach logs or storage, and the hub never sees a held
//! answer in the clear: a TRACE capture of every crate (tonic, h2 and rustls included) and
//! every byte the servers wrote during logins, a held inquiry and its approval.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use renkei_e2e::ops::*;
use renkei_e2e::*;
use renkei_proto::v1::operators_client::OperatorsClient;
use renkei_proto::v1::{
    Confirmations, DecideRequest, Decision, InquiryState, ListHeldRequest, LoginRequest,
};

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
async fn passwords_tokens_and_held_answers_stay_out_of_logs_storage_and_the_hub() {
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

    let tc = TestCluster::start_with(|o| o.held.answer_deadline_ms = 300).await;
    let otp = tc
        .cluster
        .gateway
        .bootstrap_admin(YOKOHAMA, "admin", "")
        .await
        .unwrap();
    let admin = Session::first_login(tc.terminal(YOKOHAMA), "admin", &otp).await;
    let approver_otp = admin.add_user("approver", approver("vaccination")).await;
    let approver = Session::first_login(tc.terminal(YOKOHAMA), "approver", &approver_otp).await;
    let wrong = "a-wrong-password-42";
    OperatorsClient::new(tc.terminal(YOKOHAMA))
        .login(LoginRequest {
            user: "admin".into(),
            password: wrong.into(),
        })
        .await
        .unwrap_err();

    let movers = tc.movers().await;
    let (y, s) = &movers[0];
    tc.flag_as_backoffice(YOKOHAMA, &y.unified_address_number, 0)
        .await;
    let inquiry = tc
        .ask(SAPPORO, "privacy", &s.unified_address_number, YOKOHAMA, 25)
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
    approver
        .block()
        .decide(approver.req(DecideRequest {
            permit_id: held[0].permit_id.clone(),
            decision: Decision::Approve as i32,
            confirmations: Some(Confirmations {
                legal_basis: true,
                necessity: true,
                careful_handling: true,
                note: String::new(),
            }),
            manual_content: None,
        }))
        .await
        .unwrap();

    let dir = tc.stop().await;
    let logs = capture.0.lock().unwrap().clone();
    let files = all_bytes_under(dir.path());
    let secrets = [
        otp.as_str(),
        approver_otp.as_str(),
        admin.password.as_str(),
        approver.password.as_str(),
        admin.token.as_str(),
        approver.token.as_str(),
        wrong,
    ];
    for secret in secrets {
        assert!(
            !contains(&logs, secret.as_bytes()),
            "a password or token reached the logs"
        );
        for (path, bytes) in &files {
            assert!(
                !contains(bytes, secret.as_bytes()),
                "a password or token reached {}",
                path.display()
            );
        }
    }
    // The hub relayed the approved answer but holds none of its content.
    let lots: Vec<String> = y
        .history
        .as_ref()
        .unwrap()
        .doses
        .iter()
        .map(|d| d.lot.clone())
        .filter(|l| l.len() >= 6)
        .collect();
    assert!(!lots.is_empty());
    let hub_files: Vec<_> = files
        .iter()
        .filter(|(p, _)| p.starts_with(dir.path().join("hub")))
        .collect();
    assert!(!hub_files.is_empty());
    for lot in &lots {
        for (path, bytes) in &hub_files {
            assert!(
                !contains(bytes, lot.as_bytes()),
                "the hub stored a held answer's content in {}",
                path.display()
            );
        }
        assert!(
            files.iter().any(|(_, b)| contains(b, lot.as_bytes())),
            "the scan finds the copy the gateway does hold"
        );
    }
    assert!(logs.len() > 10_000, "captured {} bytes of logs", logs.len());
    assert!(
        contains(&logs, b"audit"),
        "the operator actions were logged"
    );
}
