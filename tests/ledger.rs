//! The record logs of a real gateway tenant and of the real hub, over mTLS, checked with
//! an RFC 9162 verifier that shares no code with the ledger (`support/rfc9162.rs`).
#![allow(clippy::unwrap_used)]

use prost::Message as _;
use renkei_e2e::rfc9162;
use renkei_e2e::*;
use renkei_proto::v1::record_log_client::RecordLogClient;
use renkei_proto::v1::{
    ExchangeRecord, GetConsistencyProofRequest, GetInclusionProofRequest, GetTreeHeadRequest,
    SignedTreeHead, TreeHead,
};
use tonic::Code;
use tonic::transport::Channel;

/// Checks the Ed25519 signature with ring directly, over the documented signed bytes.
fn verified_head(signed: &SignedTreeHead, public_key_file: &str) -> TreeHead {
    let key =
        renkei_crypto::read_verifying_key(&certs_dir().join("keys").join(public_key_file)).unwrap();
    let mut message = b"renkei/v1/tree-head\0".to_vec();
    message.extend_from_slice(&signed.tree_head);
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key.as_bytes())
        .verify(&message, &signed.signature)
        .expect("tree head signature");
    TreeHead::decode(signed.tree_head.as_slice()).unwrap()
}

async fn head(client: &mut RecordLogClient<Channel>, fresh: bool) -> SignedTreeHead {
    client
        .get_tree_head(GetTreeHeadRequest { fresh })
        .await
        .unwrap()
        .into_inner()
        .head
        .unwrap()
}

/// Every leaf of the tree of `head` is proven included. Returns the entries.
async fn check_all_inclusions(
    client: &mut RecordLogClient<Channel>,
    head: &TreeHead,
    with_entries: bool,
) -> Vec<Vec<u8>> {
    let mut entries = Vec::new();
    for leaf in 0..head.tree_size {
        let proof = client
            .get_inclusion_proof(GetInclusionProofRequest {
                leaf_index: leaf,
                tree_size: head.tree_size,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(proof.leaf_index, leaf);
        assert_eq!(proof.tree_size, head.tree_size);
        let leaf_hash = if with_entries {
            // Recompute the leaf from the entry: the server's leaf hash is not trusted.
            let h = rfc9162::leaf_hash(&proof.entry);
            assert_eq!(h, proof.leaf_hash);
            entries.push(proof.entry.clone());
            h
        } else {
            assert!(proof.entry.is_empty(), "the hub must not hand out entries");
            proof.leaf_hash.clone()
        };
        assert!(
            rfc9162::verify_inclusion(
                &leaf_hash,
                leaf,
                head.tree_size,
                &proof.audit_path,
                &head.root_hash
            ),
            "inclusion of leaf {leaf} in a tree of {}",
            head.tree_size
        );
        // The same proof must not verify another leaf: the verifier can fail.
        let mut other = leaf_hash.clone();
        other[0] ^= 1;
        assert!(!rfc9162::verify_inclusion(
            &other,
            leaf,
            head.tree_size,
            &proof.audit_path,
            &head.root_hash
        ));
    }
    entries
}

async fn check_consistency(client: &mut RecordLogClient<Channel>, old: &TreeHead, new: &TreeHead) {
    assert!(old.tree_size > 0 && old.tree_size < new.tree_size);
    let proof = client
        .get_consistency_proof(GetConsistencyProofRequest {
            first: old.tree_size,
            second: new.tree_size,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        rfc9162::verify_consistency(
            old.tree_size,
            new.tree_size,
            &old.root_hash,
            &new.root_hash,
            &proof.proof
        ),
        "consistency {} → {}",
        old.tree_size,
        new.tree_size
    );
    let mut wrong = old.root_hash.clone();
    wrong[5] ^= 1;
    assert!(!rfc9162::verify_consistency(
        old.tree_size,
        new.tree_size,
        &wrong,
        &new.root_hash,
        &proof.proof
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_and_hub_logs_prove_inclusion_and_consistency_to_an_independent_verifier() {
    let tc = TestCluster::start().await;
    let movers = tc.movers().await;
    let (_, s) = &movers[0];
    tc.ask(SAPPORO, "l-1", &s.unified_address_number, YOKOHAMA, 25)
        .await
        .unwrap();
    tc.ask(SAPPORO, "l-2", &s.unified_address_number, YOKOHAMA, 26)
        .await
        .unwrap();

    // The tenant's log, as its back office sees it.
    let mut sapporo = RecordLogClient::new(tc.backoffice(SAPPORO));
    let first = verified_head(&head(&mut sapporo, true).await, "011002.sign.pub");
    assert_eq!(first.log_id, SAPPORO);
    assert!(first.tree_size >= 2, "{first:?}");
    let entries = check_all_inclusions(&mut sapporo, &first, true).await;
    for e in &entries {
        let r = ExchangeRecord::decode(e.as_slice()).unwrap();
        assert_eq!(r.keeper, SAPPORO);
    }

    // The hub's log, as an auditor sees it.
    let mut hub = RecordLogClient::new(tc.cluster.hub_channel("auditor").unwrap());
    let hub_first = verified_head(&head(&mut hub, true).await, "hub.sign.pub");
    assert_eq!(hub_first.log_id, "hub");
    assert!(hub_first.tree_size >= 2);
    check_all_inclusions(&mut hub, &hub_first, false).await;

    // More exchanges; the new heads must extend the old ones.
    for i in 0..5 {
        tc.ask(
            SAPPORO,
            &format!("l-more-{i}"),
            &s.unified_address_number,
            YOKOHAMA,
            25,
        )
        .await
        .unwrap();
    }
    let second = verified_head(&head(&mut sapporo, true).await, "011002.sign.pub");
    assert!(second.tree_size >= first.tree_size + 5);
    assert!(second.timestamp_ms >= first.timestamp_ms);
    check_consistency(&mut sapporo, &first, &second).await;
    check_all_inclusions(&mut sapporo, &second, true).await;
    let hub_second = verified_head(&head(&mut hub, true).await, "hub.sign.pub");
    check_consistency(&mut hub, &hub_first, &hub_second).await;
    // Without `fresh`, the latest head comes back unchanged.
    let again = verified_head(&head(&mut sapporo, false).await, "011002.sign.pub");
    assert_eq!(again, second);

    // tree_size 0 means the latest signed head.
    let p = sapporo
        .get_inclusion_proof(GetInclusionProofRequest {
            leaf_index: 0,
            tree_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.tree_size, second.tree_size);

    // Bad requests get clear errors.
    let err = sapporo
        .get_inclusion_proof(GetInclusionProofRequest {
            leaf_index: second.tree_size,
            tree_size: second.tree_size,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let err = sapporo
        .get_consistency_proof(GetConsistencyProofRequest {
            first: 1,
            second: second.tree_size + 1000,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    // Only auditors read the hub's log; a tenant certificate is refused.
    let mut as_tenant = RecordLogClient::new(tc.cluster.hub_channel("tenant-011002").unwrap());
    let err = as_tenant
        .get_tree_head(GetTreeHeadRequest { fresh: false })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // Each tenant sees its own log: Yokohama's head is Yokohama's, signed by its key.
    let mut yokohama = RecordLogClient::new(tc.backoffice(YOKOHAMA));
    let y = verified_head(&head(&mut yokohama, true).await, "141003.sign.pub");
    assert_eq!(y.log_id, YOKOHAMA);
    tc.stop().await;
}

/// What each party's record of one exchange holds, read back from the logs' entries —
/// and what none of the log files hold: the person's My Number or the answer's content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_hold_the_exchange_context_and_hashes_but_no_payload_or_my_number() {
    use renkei_proto::v1::{Direction, Outcome};
    let tc = TestCluster::start().await;
    let movers = tc.movers().await;
    let (y, s) = &movers[0];
    let inquiry = tc
        .ask(SAPPORO, "c-1", &s.unified_address_number, YOKOHAMA, 25)
        .await
        .unwrap();
    assert!(!inquiry.permit_id.is_empty());

    let mut sapporo = RecordLogClient::new(tc.backoffice(SAPPORO));
    let mut yokohama = RecordLogClient::new(tc.backoffice(YOKOHAMA));
    let by_permit = |entries: Vec<Vec<u8>>| {
        entries
            .into_iter()
            .map(|e| ExchangeRecord::decode(e.as_slice()).unwrap())
            .find(|r| r.permit_id == inquiry.permit_id)
            .expect("no record of the exchange")
    };
    let h = verified_head(&head(&mut sapporo, true).await, "011002.sign.pub");
    let asked = by_permit(check_all_inclusions(&mut sapporo, &h, true).await);
    let h = verified_head(&head(&mut yokohama, true).await, "141003.sign.pub");
    let answered = by_permit(check_all_inclusions(&mut yokohama, &h, true).await);

    let is_hash = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    for (r, keeper, direction, counterparty) in [
        (&asked, SAPPORO, Direction::Inquiry, YOKOHAMA),
        (&answered, YOKOHAMA, Direction::Provision, SAPPORO),
    ] {
        assert!(r.recorded_at_ms > 0);
        assert_eq!(r.keeper, keeper);
        assert_eq!(r.direction, direction as i32);
        assert_eq!(r.counterparty, counterparty);
        assert_eq!(r.procedure, "vaccination");
        assert_eq!(r.item, 25);
        assert_eq!(r.inquiry_id, inquiry.inquiry_id);
        assert_eq!(r.outcome, Outcome::Provided as i32, "{r:?}");
        assert!(is_hash(&r.envelope_sha256), "{r:?}");
        assert!(is_hash(&r.sealed_answer_sha256), "{r:?}");
        assert!(
            r.person_ref.is_empty(),
            "symbols never reach a tenant's records"
        );
    }
    // Both sides hash the same sealed messages: the records corroborate each other.
    assert_eq!(asked.envelope_sha256, answered.envelope_sha256);
    assert_eq!(asked.sealed_answer_sha256, answered.sealed_answer_sha256);
    assert_eq!(asked.unified_address_number, s.unified_address_number);
    assert_eq!(answered.unified_address_number, y.unified_address_number);

    let data = tc.stop().await;
    let lot = y.history.as_ref().unwrap().doses[0].lot.clone();
    assert!(!lot.is_empty());
    for (path, bytes) in all_bytes_under(data.path())
        .into_iter()
        .filter(|(p, _)| p.components().any(|c| c.as_os_str() == "records"))
    {
        assert!(
            !contains(&bytes, s.my_number.as_bytes()),
            "My Number in {}",
            path.display()
        );
        assert!(
            !contains(&bytes, lot.as_bytes()),
            "answer content (lot {lot}) in {}",
            path.display()
        );
    }
}
