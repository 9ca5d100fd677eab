//! The record logs survive `kill -9` of the real server process during appends and head
//! signing: afterwards every log verifies offline, every acknowledged record is present
//! and provably included, and the new heads extend the heads acknowledged before the kill.
#![allow(clippy::unwrap_used)]

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use renkei_e2e::*;
use renkei_proto::v1::inquiries_client::InquiriesClient;
use renkei_proto::v1::record_log_client::RecordLogClient;
use renkei_proto::v1::records_client::RecordsClient;
use renkei_proto::v1::symbols_client::SymbolsClient;
use renkei_proto::v1::{
    AcquireSymbolRequest, ExchangeRecord, GetConsistencyProofRequest, GetInclusionProofRequest,
    GetTreeHeadRequest, ListRecordsRequest, RegisterAddressNumberRequest, TreeHead,
};
use renkei_testkit::cluster::{GATEWAY_SERVER_NAME, HUB_SERVER_NAME};
use renkei_testkit::population;
use renkei_transport::{ClientOptions, Credentials};
use tokio::sync::Mutex;
use tonic::transport::Channel;

struct Node {
    child: Child,
    local: String,
    hub: String,
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
        hub: v["hub"].as_str().unwrap().to_owned(),
    }
}

fn channel(addr: &str, server: &str, cert: &str) -> Channel {
    let d = certs_dir();
    let creds = Credentials::load(
        &d.join("ca.pem"),
        &d.join(format!("{cert}.pem")),
        &d.join(format!("{cert}.key.pem")),
    )
    .unwrap();
    renkei_transport::channel(addr, server, &creds, &ClientOptions::default()).unwrap()
}

fn backoffice(node: &Node, code: &str) -> Channel {
    channel(
        &node.local,
        GATEWAY_SERVER_NAME,
        &format!("backoffice-{code}"),
    )
}

fn head_of(signed: &renkei_proto::v1::SignedTreeHead) -> TreeHead {
    TreeHead::decode(signed.tree_head.as_slice()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_logs_survive_kill_9_and_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start_node(dir.path());
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

    // Inquiries append to three logs (Sapporo, Yokohama, hub); heads are signed under them.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let heads = Arc::new(Mutex::new(Vec::<TreeHead>::new()));
    let mut tasks = Vec::new();
    for w in 0..3u32 {
        let mut inquiries = InquiriesClient::new(backoffice(&node, SAPPORO));
        let acked = acked.clone();
        let uan = movers[(w % 2) as usize].1.unified_address_number.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                match inquiries
                    .submit_inquiry(ask_request(&format!("c-{w}-{i}"), &uan, YOKOHAMA, 25))
                    .await
                {
                    Ok(r) => acked.lock().await.push(r.into_inner().inquiry_id),
                    Err(_) => return,
                }
            }
        }));
    }
    {
        let mut log = RecordLogClient::new(backoffice(&node, SAPPORO));
        let heads = heads.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                match log.get_tree_head(GetTreeHeadRequest { fresh: true }).await {
                    Ok(r) => heads
                        .lock()
                        .await
                        .push(head_of(&r.into_inner().head.unwrap())),
                    Err(_) => return,
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node.child.kill().unwrap(); // SIGKILL
    node.child.wait().unwrap();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().await.clone();
    let heads = heads.lock().await.clone();
    assert!(
        acked.len() > 5 && heads.len() > 3,
        "too little work before the kill: {} inquiries, {} heads",
        acked.len(),
        heads.len()
    );
    let last_acked_head = heads.last().unwrap().clone();

    // Offline, before anything reopens the logs: each verifies.
    let data = dir.path();
    for (log, key) in [
        (
            data.join("gateway/records").join(SAPPORO),
            "011002.sign.pub",
        ),
        (
            data.join("gateway/records").join(YOKOHAMA),
            "141003.sign.pub",
        ),
        (data.join("hub/records"), "hub.sign.pub"),
    ] {
        let key = renkei_crypto::read_verifying_key(&certs_dir().join("keys").join(key)).unwrap();
        let report = renkei_ledger::verify_log(&log, &key, &mut |_| {}).unwrap();
        assert!(report.is_ok(), "{}: {:?}", log.display(), report.problem);
        assert!(report.records > 0);
        if log.ends_with(SAPPORO) {
            assert!(
                report.last_head_size >= last_acked_head.tree_size,
                "an acknowledged head was lost: {} < {}",
                report.last_head_size,
                last_acked_head.tree_size
            );
            assert!(report.records as usize >= acked.len());
        }
    }

    // Restart: every acknowledged inquiry's record is there and proven in a new head
    // that extends the last head acknowledged before the kill.
    let mut node = start_node(dir.path());
    let mut log = RecordLogClient::new(backoffice(&node, SAPPORO));
    let now = head_of(
        &log.get_tree_head(GetTreeHeadRequest { fresh: true })
            .await
            .unwrap()
            .into_inner()
            .head
            .unwrap(),
    );
    if now.tree_size > last_acked_head.tree_size {
        let proof = log
            .get_consistency_proof(GetConsistencyProofRequest {
                first: last_acked_head.tree_size,
                second: now.tree_size,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(rfc9162::verify_consistency(
            last_acked_head.tree_size,
            now.tree_size,
            &last_acked_head.root_hash,
            &now.root_hash,
            &proof.proof
        ));
    } else {
        assert_eq!(now.root_hash, last_acked_head.root_hash);
    }
    let mut records = RecordsClient::new(backoffice(&node, SAPPORO));
    for id in &acked {
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
        let proof = log
            .get_inclusion_proof(GetInclusionProofRequest {
                leaf_index: recs[0].sequence,
                tree_size: now.tree_size,
            })
            .await
            .unwrap()
            .into_inner();
        let entry = ExchangeRecord::decode(proof.entry.as_slice()).unwrap();
        assert_eq!(&entry.inquiry_id, id);
        assert!(rfc9162::verify_inclusion(
            &rfc9162::leaf_hash(&proof.entry),
            proof.leaf_index,
            now.tree_size,
            &proof.audit_path,
            &now.root_hash
        ));
    }
    // The hub's log reopened too and answers auditors.
    let mut hub_log = RecordLogClient::new(channel(&node.hub, HUB_SERVER_NAME, "auditor"));
    hub_log
        .get_tree_head(GetTreeHeadRequest { fresh: true })
        .await
        .unwrap();
    node.child.kill().unwrap();
    node.child.wait().unwrap();
}
