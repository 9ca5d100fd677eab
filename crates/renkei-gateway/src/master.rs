//! The gateway's copy of the hub's master data (配信マスター): verified, persisted, and
//! never replaced by an older or badly signed bundle.

use std::sync::{Arc, RwLock};

use prost::Message as _;
use renkei_core::SharedClock;
use renkei_crypto::VerifyingKey;
use renkei_master::MasterData;
use renkei_proto::v1::SignedMasterBundle;
use renkei_store::Tree;

use crate::GatewayError;

const KEY: &[u8] = b"signed-bundle";

#[derive(Debug)]
pub(crate) struct MasterCell {
    anchor: VerifyingKey,
    current: RwLock<Option<Arc<MasterData>>>,
    tree: Tree,
    /// Expiry is judged by this clock (a `FakeClock` in tests).
    clock: SharedClock,
}

/// What happened to an offered bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    New(u64),
    /// Same or older version than the one in use: ignored (no rollback).
    NotNewer(u64),
}

impl MasterCell {
    /// Opens the cell with the last good bundle from storage, if any. A stored bundle is
    /// verified again: storage is not trusted more than the network.
    pub(crate) fn open(
        anchor: VerifyingKey,
        tree: Tree,
        clock: SharedClock,
    ) -> Result<MasterCell, GatewayError> {
        let cell = MasterCell {
            anchor,
            current: RwLock::new(None),
            tree,
            clock,
        };
        if let Some(bytes) = cell.tree.get(KEY)? {
            match SignedMasterBundle::decode(bytes.as_ref())
                .map_err(|e| GatewayError::Corrupt(e.to_string()))
                .and_then(|s| cell.verify(&s))
            {
                Ok(data) => cell.set(data),
                Err(e) => {
                    tracing::warn!(error = %e, "stored master data rejected; waiting for the hub")
                }
            }
        }
        Ok(cell)
    }

    fn verify(&self, signed: &SignedMasterBundle) -> Result<MasterData, GatewayError> {
        let bundle = renkei_crypto::verify_bundle(&self.anchor, signed)?;
        Ok(MasterData::new(bundle)?)
    }

    fn set(&self, data: MasterData) {
        let data = Some(Arc::new(data));
        match self.current.write() {
            Ok(mut g) => *g = data,
            Err(p) => *p.into_inner() = data,
        }
    }

    /// Verifies and installs a bundle from the hub. A bad signature is an error and the
    /// last good bundle stays in use.
    pub(crate) fn install(&self, signed: &SignedMasterBundle) -> Result<Installed, GatewayError> {
        let data = self.verify(signed)?;
        let version = data.version();
        if let Some(cur) = self.peek()
            && version <= cur.version()
        {
            return Ok(Installed::NotNewer(cur.version()));
        }
        self.tree.insert(KEY, signed.encode_to_vec())?;
        self.set(data);
        tracing::info!(version, "master data installed");
        Ok(Installed::New(version))
    }

    /// The bundle in use, even if expired (for status displays).
    pub(crate) fn peek(&self) -> Option<Arc<MasterData>> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The bundle to check requests against; unavailable if none or expired.
    pub(crate) fn get(&self) -> Result<Arc<MasterData>, GatewayError> {
        let data = self.peek().ok_or(GatewayError::NoMasterData)?;
        if data.is_expired(self.clock.now_ms()) {
            return Err(GatewayError::MasterDataExpired {
                version: data.version(),
                expired_at: renkei_core::format_ms(data.bundle().expires_at_ms),
            });
        }
        Ok(data)
    }

    /// The key permits must be signed with: the bundle's, else the trust anchor.
    pub(crate) fn permit_key(&self, data: &MasterData) -> VerifyingKey {
        VerifyingKey::from_bytes(&data.bundle().permit_signing_public_key)
            .unwrap_or_else(|_| self.anchor.clone())
    }
}
