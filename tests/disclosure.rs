//! Resident disclosure at the hub: one person's exchanges across agencies, joined by the
//! hub's symbol translation, each proven in the hub's log (checked with the independent
//! RFC 9162 verifier), embargoes honoured, and only the portal may ask.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use prost::Message as _;
use renkei_e2e::rfc9162;
use renkei_e2e::*;
use renkei_proto::v1::disclosure_client::DisclosureClient;
use renkei_proto::v1::{DiscloseExchangesRequest, ExchangeRecord, TreeHead};
use tonic::Code;

fn hub_head(signed: &renkei_proto::v1::SignedTreeHead) -> TreeHead {
    let key = renkei_crypto::read_verifying_key(&certs_dir().join("keys/hub.sign.pub")).unwrap();
    let mut message = b"renkei/v1/tree-head\0".to_vec();
    message.extend_from_slice(&signed.tree_head);
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key.as_bytes())
        .verify(&message, &signed.signature)
        .expect("hub tree head signature");
    TreeHead::decode(signed.tree_head.as_slice()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_sees_their_exchanges_across_agencies_with_proofs_and_embargoes_hold() {
    let tc = TestCluster::start().await;
    let movers = tc.movers().await;
    let (y, s) = &movers[0];
    let (other_y, other_s) = &movers[1];
    let now = renkei_core::Clock::now_ms(&renkei_core::SystemClock);

    let mut expected = BTreeSet::new();
    // 札幌市 asks 横浜市 about the person, and 横浜市 asks 札幌市: two agencies' symbols.
    let a = tc
        .ask(SAPPORO, "d-1", &s.unified_address_number, YOKOHAMA, 25)
        .await
        .unwrap();
    expected.insert(a.permit_id.clone());
    let b = tc
        .ask(YOKOHAMA, "d-2", &y.unified_address_number, SAPPORO, 25)
        .await
        .unwrap();
    assert!(!b.permit_id.is_empty(), "{b:?}");
    expected.insert(b.permit_id.clone());
    // An embargo that has passed: visible.
    let mut req = ask_request("d-3", &s.unified_address_number, YOKOHAMA, 25);
    req.disclose_after_ms = now - 60_000;
    let c = tc
        .inquiries(SAPPORO)
        .submit_inquiry(req)
        .await
        .unwrap()
        .into_inner();
    expected.insert(c.permit_id.clone());
    // An embargo for tomorrow: withheld.
    let mut req = ask_request("d-4", &s.unified_address_number, YOKOHAMA, 25);
    req.disclose_after_ms = now + 24 * 3600 * 1000;
    let hidden = tc
        .inquiries(SAPPORO)
        .submit_inquiry(req)
        .await
        .unwrap()
        .into_inner();
    assert!(!hidden.permit_id.is_empty());
    // A negative time is refused at the gateway, before anything is sent.
    let mut req = ask_request("d-bad", &s.unified_address_number, YOKOHAMA, 25);
    req.disclose_after_ms = -5;
    let err = tc.inquiries(SAPPORO).submit_inquiry(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("disclose_after_ms"),
        "{}",
        err.message()
    );
    // Someone else's exchange.
    let theirs = tc
        .ask(
            SAPPORO,
            "d-5",
            &other_s.unified_address_number,
            YOKOHAMA,
            25,
        )
        .await
        .unwrap();

    let mut portal = DisclosureClient::new(tc.cluster.hub_channel("portal").unwrap());
    let resp = portal
        .disclose_exchanges(DiscloseExchangesRequest {
            my_number: s.my_number.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let head = hub_head(resp.head.as_ref().unwrap());
    assert_eq!(head.log_id, "hub");
    let mut seen = BTreeSet::new();
    for x in &resp.exchanges {
        let record = x.record.as_ref().unwrap();
        let proof = x.proof.as_ref().unwrap();
        let leaf = rfc9162::leaf_hash(&x.entry);
        assert_eq!(leaf, proof.leaf_hash);
        assert_eq!(proof.leaf_index, record.sequence);
        assert_eq!(proof.tree_size, head.tree_size);
        assert!(
            rfc9162::verify_inclusion(
                &leaf,
                proof.leaf_index,
                head.tree_size,
                &proof.audit_path,
                &head.root_hash
            ),
            "inclusion of record {}",
            record.sequence
        );
        // The record shown is the record proven.
        let mut proven = ExchangeRecord::decode(x.entry.as_slice()).unwrap();
        proven.sequence = record.sequence;
        assert_eq!(&proven, record);
        assert_eq!(record.keeper, "hub");
        assert!(!record.procedure.is_empty() && record.item == 25);
        seen.insert(record.permit_id.clone());
    }
    assert_eq!(seen, expected, "exactly the person's visible exchanges");
    assert!(!seen.contains(&hidden.permit_id));
    assert!(!seen.contains(&theirs.permit_id));

    // The other person sees only their own exchange.
    let resp = portal
        .disclose_exchanges(DiscloseExchangesRequest {
            my_number: other_y.my_number.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let theirs_seen: Vec<_> = resp
        .exchanges
        .iter()
        .map(|x| x.record.as_ref().unwrap().permit_id.clone())
        .collect();
    assert_eq!(theirs_seen, vec![theirs.permit_id.clone()]);

    // A bad number: a clear error that does not echo it.
    let err = portal
        .disclose_exchanges(DiscloseExchangesRequest {
            my_number: "123456789010".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(!err.message().contains("123456789010"), "{}", err.message());
    // Only the portal may ask.
    for cert in ["auditor", "tenant-011002"] {
        let err = DisclosureClient::new(tc.cluster.hub_channel(cert).unwrap())
            .disclose_exchanges(DiscloseExchangesRequest {
                my_number: s.my_number.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{cert}");
    }
    tc.stop().await;
}
