//! The hub as the outside witness of each tenant's record log (issue 12): it keeps the
//! latest head each tenant's gateway sent, accepts a new one only if it is signed by the
//! key master data publishes for that tenant and its tree extends the one kept, and
//! countersigns it. A log later found behind the witnessed head was rolled back.

use renkei_core::AgencyCode;
use renkei_ledger::witness::{self as rules, cosign};
use renkei_proto::v1::{TreeHead, WitnessTreeHeadRequest, WitnessedHead};

use crate::HubError;
use crate::exchange::HubState;

/// How often a stale read of the stored head is retried before giving up: only racing
/// witnesses of one log lose a swap, and a gateway sends one log's heads one at a time.
const SWAP_ATTEMPTS: usize = 4;

impl HubState {
    /// Checks, keeps and countersigns `req.head` for the calling tenant.
    #[tracing::instrument(skip_all, fields(tenant = %caller, tree_size))]
    pub(crate) async fn witness(
        &self,
        caller: &AgencyCode,
        req: WitnessTreeHeadRequest,
    ) -> Result<WitnessedHead, HubError> {
        let signed = req.head.ok_or(HubError::MissingField { field: "head" })?;
        let published = self.published();
        let agency =
            published
                .data
                .agency(caller.as_str())
                .ok_or_else(|| HubError::ForgedHead {
                    log_id: caller.to_string(),
                    reason: "the tenant is not in master data, so no key to check its head".into(),
                })?;
        let key = renkei_crypto::VerifyingKey::from_bytes(&agency.signing_public_key)?;
        let head =
            renkei_crypto::verify_tree_head(&key, &signed).map_err(|e| HubError::ForgedHead {
                log_id: caller.to_string(),
                reason: format!(
                    "the signature does not verify under the tenant's key in master data: {e}"
                ),
            })?;
        tracing::Span::current().record("tree_size", head.tree_size);
        if head.log_id != caller.as_str() {
            return Err(HubError::ForgedHead {
                log_id: caller.to_string(),
                reason: format!("the head is for log {}, not the caller's", head.log_id),
            });
        }
        for _ in 0..SWAP_ATTEMPTS {
            let kept = self.store.witnessed_head(caller.as_str()).await?;
            let kept_head = kept.as_ref().map(|w| decode_kept(caller, w)).transpose()?;
            rules::check_extends(
                kept_head.as_ref(),
                &head,
                req.from_size,
                &req.consistency_proof,
            )
            .map_err(|refusal| HubError::NotWitnessed {
                log_id: caller.to_string(),
                refusal,
            })?;
            if let (Some(w), Some(h)) = (&kept, &kept_head)
                && h.tree_size == head.tree_size
            {
                // Nothing new: the head kept stands, with its countersignature.
                return Ok(w.clone());
            }
            let witnessed = cosign(&self.signing, signed.clone(), self.clock.now_ms());
            if self
                .store
                .replace_witnessed_head(caller.as_str(), kept.as_ref(), &witnessed)
                .await?
            {
                tracing::info!(
                    previous = kept_head.as_ref().map_or(0, |h| h.tree_size),
                    "tree head witnessed"
                );
                return Ok(witnessed);
            }
        }
        Err(HubError::task(
            "witness",
            "the witnessed head kept changing under concurrent witnesses",
        ))
    }

    /// The head last witnessed for `log_id`.
    pub(crate) async fn witnessed(&self, log_id: &str) -> Result<Option<WitnessedHead>, HubError> {
        Ok(self.store.witnessed_head(log_id).await?)
    }
}

fn decode_kept(caller: &AgencyCode, w: &WitnessedHead) -> Result<TreeHead, HubError> {
    use prost::Message as _;
    let bytes = w
        .head
        .as_ref()
        .map(|h| h.tree_head.as_slice())
        .unwrap_or_default();
    TreeHead::decode(bytes).map_err(|e| {
        HubError::Store(renkei_store::StoreError::Corrupt(format!(
            "witnessed head of log {caller}: {e}"
        )))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use std::path::Path;

    use renkei_core::FakeClock;
    use renkei_ledger::{HeadSigner, Ledger, LedgerOptions};
    use renkei_proto::v1::WitnessTreeHeadRequest;

    use super::*;
    use crate::HubConfig;

    fn state(data: &Path) -> HubState {
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/hub.toml");
        let mut c = HubConfig::load(&deploy).unwrap();
        c.data_dir = data.to_path_buf();
        c.metrics = None;
        HubState::open(c, FakeClock::at(1_800_000_000_000)).unwrap()
    }

    fn sapporo_key() -> renkei_crypto::SigningKey {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs-dev/keys/011002.sign.key");
        renkei_crypto::read_signing_key(&p).unwrap()
    }

    #[tokio::test]
    async fn heads_are_witnessed_forward_only_and_forged_ones_refused() {
        let data = tempfile::tempdir().unwrap();
        let hub = state(data.path());
        let caller = AgencyCode::parse("011002").unwrap();
        let logdir = tempfile::tempdir().unwrap();
        let log = Ledger::open_signed(
            logdir.path(),
            LedgerOptions::default(),
            HeadSigner {
                log_id: "011002".into(),
                key: sapporo_key(),
            },
        )
        .unwrap();
        for i in 0..3u8 {
            log.append(vec![i]).await.unwrap();
        }
        let first = log.sign_head(1).unwrap();
        let req = |head, from_size, consistency_proof| WitnessTreeHeadRequest {
            head: Some(head),
            from_size,
            consistency_proof,
        };
        let w = hub
            .witness(&caller, req(first.clone(), 0, vec![]))
            .await
            .unwrap();
        assert_eq!(w.head.as_ref(), Some(&first));
        let hub_key = hub.signing.public_key();
        let got = renkei_ledger::witness::verify_witnessed(
            Some(&hub_key),
            &sapporo_key().public_key(),
            &w,
        )
        .unwrap();
        assert_eq!(got.tree_size, 3);

        for i in 3..8u8 {
            log.append(vec![i]).await.unwrap();
        }
        let second = log.sign_head(2).unwrap();
        let proof = log
            .consistency_proof(3, 8)
            .unwrap()
            .into_iter()
            .map(|h| h.to_vec())
            .collect();
        hub.witness(&caller, req(second, 3, proof)).await.unwrap();

        // The older head again: a rollback, refused with both sizes.
        match hub.witness(&caller, req(first.clone(), 8, vec![])).await {
            Err(HubError::NotWitnessed { refusal, .. }) => assert_eq!(
                refusal,
                renkei_ledger::witness::Refusal::Smaller {
                    witnessed: 8,
                    new: 3
                }
            ),
            other => panic!("expected a rollback refusal, got {other:?}"),
        }
        // A head of 9 records signed by another key.
        let (forger, _) = renkei_crypto::SigningKey::generate().unwrap();
        let forged = renkei_crypto::sign_tree_head(
            &forger,
            &renkei_proto::v1::TreeHead {
                log_id: "011002".into(),
                tree_size: 9,
                root_hash: vec![0; 32],
                timestamp_ms: 3,
            },
        );
        let e = hub
            .witness(&caller, req(forged, 8, vec![]))
            .await
            .unwrap_err();
        assert!(matches!(e, HubError::ForgedHead { .. }), "{e}");
        assert_eq!(e.into_status().code(), tonic::Code::PermissionDenied);
        // Another tenant's head sent as one's own is refused as well.
        let yokohama = AgencyCode::parse("141003").unwrap();
        let e = hub
            .witness(&yokohama, req(first, 0, vec![]))
            .await
            .unwrap_err();
        assert!(matches!(e, HubError::ForgedHead { .. }), "{e}");
        let kept = hub.witnessed("011002").await.unwrap().unwrap();
        let kept = renkei_ledger::witness::verify_witnessed(
            Some(&hub_key),
            &sapporo_key().public_key(),
            &kept,
        )
        .unwrap();
        assert_eq!(
            kept.tree_size, 8,
            "refusals leave the witnessed head as it was"
        );
        assert_eq!(hub.witnessed("141003").await.unwrap(), None);
    }
}
