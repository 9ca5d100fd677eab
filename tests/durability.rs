//! Durable means durable: every write the servers acknowledged survives `kill -9` of the
//! real server process, and the record logs reopen cleanly.
#![allow(clippy::unwrap_used)]

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use renkei_e2e::*;
use renkei_proto::v1::inquiries_client::InquiriesClient;
use renkei_proto::v1::records_client::RecordsClient;
use renkei_proto::v1::symbols_client::SymbolsClient;
use renkei_proto::v1::{
    AcquireSymbolRequest, GetInquiryRequest, InquiryState, ListRecordsRequest,
    RegisterAddressNumberRequest,
};
use renkei_testkit::cluster::GATEWAY_SERVER_NAME;
use renkei_testkit::population;
use renkei_transport::{ClientOptions, Credentials};
use tokio::sync::Mutex;
use tonic::transport::Channel;

struct Node {
    child: Child,
    local: String,
}

fn start_node(data: &std::path::Path) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_renkei-e2e-node"))
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("node said {line:?}: {e}"));
    Node {
        child,
        local: v["local"].as_str().unwrap().to_owned(),
    }
}

fn backoffice(node: &Node, code: &str) -> Channel {
    let d = certs_dir();
    let creds = Credentials::load(
        &d.join("ca.pem"),
        &d.join(format!("backoffice-{code}.pem")),
        &d.join(format!("backoffice-{code}.key.pem")),
    )
    .unwrap();
    renkei_transport::channel(
        &node.local,
        GATEWAY_SERVER_NAME,
        &creds,
        &ClientOptions::default(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start_node(dir.path());

    // Set up two movers so inquiries (which write on both tenants and at the hub) can run.
    let movers = population::movers(today());
    for (code, r) in movers
        .iter()
        .flat_map(|(y, s)| [(YOKOHAMA, y), (SAPPORO, s)])
    {
        let mut s = SymbolsClient::new(backoffice(&node, code));
        s.register_address_number(RegisterAddressNumberRequest {
            unified_address_number: r.unified_address_number.clone(),
        })
        .await
        .unwrap();
        s.acquire_symbol(AcquireSymbolRequest {
            unified_address_number: r.unified_address_number.clone(),
            my_number: r.my_number.clone(),
        })
        .await
        .unwrap();
    }

    // Writers run flat out; the node is killed under them.
    let acked_uans = Arc::new(Mutex::new(Vec::<String>::new()));
    let acked_inquiries = Arc::new(Mutex::new(Vec::<(String, i32)>::new()));
    let mut tasks = Vec::new();
    for w in 0..4u32 {
        let mut symbols = SymbolsClient::new(backoffice(&node, OKAZAKI));
        let acked = acked_uans.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let uan = format!("9{w}{i:08}");
                match symbols
                    .register_address_number(RegisterAddressNumberRequest {
                        unified_address_number: uan.clone(),
                    })
                    .await
                {
                    Ok(_) => acked.lock().await.push(uan),
                    Err(_) => return,
                }
            }
        }));
    }
    for w in 0..2u32 {
        let mut inquiries = InquiriesClient::new(backoffice(&node, SAPPORO));
        let acked = acked_inquiries.clone();
        let uan = movers[w as usize].1.unified_address_number.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                match inquiries
                    .submit_inquiry(ask_request(&format!("k-{w}-{i}"), &uan, YOKOHAMA, 25))
                    .await
                {
                    Ok(r) => {
                        let r = r.into_inner();
                        acked.lock().await.push((r.inquiry_id, r.state));
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node.child.kill().unwrap(); // SIGKILL
    node.child.wait().unwrap();
    for t in tasks {
        let _ = t.await;
    }
    let uans = acked_uans.lock().await.clone();
    let inquiries = acked_inquiries.lock().await.clone();
    assert!(
        uans.len() > 20 && inquiries.len() > 5,
        "too few writes before the kill: {} {}",
        uans.len(),
        inquiries.len()
    );

    // Restart on the same data: logs must reopen (torn tails cut, nothing corrupt).
    let mut node = start_node(dir.path());
    let mut symbols = SymbolsClient::new(backoffice(&node, OKAZAKI));
    for uan in &uans {
        let again = symbols
            .register_address_number(RegisterAddressNumberRequest {
                unified_address_number: uan.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(
            !again.newly_registered,
            "acknowledged registration of {uan} was lost"
        );
    }
    let mut client = InquiriesClient::new(backoffice(&node, SAPPORO));
    let mut records = RecordsClient::new(backoffice(&node, SAPPORO));
    for (id, state) in &inquiries {
        let got = client
            .get_inquiry(GetInquiryRequest {
                inquiry_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.state, *state, "inquiry {id} came back in another state");
        assert_ne!(got.state, InquiryState::Unspecified as i32);
        let recs = records
            .list_records(ListRecordsRequest {
                inquiry_id: id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .records;
        assert_eq!(
            recs.len(),
            1,
            "the record of acknowledged inquiry {id} was lost"
        );
    }
    node.child.kill().unwrap();
    node.child.wait().unwrap();
}
