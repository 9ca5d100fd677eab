//! Publishing master data: build the bundle from files, stamp it, sign it.

use prost::Message as _;
use renkei_crypto::SigningKey;
use renkei_master::{MasterData, MasterFiles};
use renkei_proto::v1::SignedMasterBundle;

use crate::HubError;
use crate::config::MasterConfig;

/// A bundle as published: the parsed form for the hub's own checks and the signed bytes
/// handed to gateways.
#[derive(Debug)]
pub(crate) struct Published {
    pub(crate) data: MasterData,
    pub(crate) signed: SignedMasterBundle,
}

pub(crate) fn publish(
    config: &MasterConfig,
    key: &SigningKey,
    previous_version: u64,
) -> Result<Published, HubError> {
    let files = MasterFiles {
        agencies: config.agencies.clone(),
        whitelist: config.whitelist.clone(),
    };
    let mut bundle = renkei_master::load_bundle(&files)?;
    for (code, endpoint) in &config.endpoint_overrides {
        let agency = bundle
            .agencies
            .iter_mut()
            .find(|a| &a.code == code)
            .ok_or_else(|| {
                HubError::Config(format!(
                    "endpoint override for {code}, which is not in the agencies file"
                ))
            })?;
        agency.endpoint = endpoint.clone();
    }
    let now = renkei_core::now_ms();
    // Versions only move forward, even if the clock steps back.
    bundle.version = (now as u64).max(previous_version + 1);
    bundle.issued_at_ms = now;
    bundle.expires_at_ms = now + i64::from(config.validity_days) * 24 * 3600 * 1000;
    bundle.permit_signing_public_key = key.public_key().as_bytes().to_vec();
    let signed = renkei_crypto::sign_bundle(key, bundle.encode_to_vec());
    let data = MasterData::new(bundle)?;
    tracing::info!(
        version = data.version(),
        agencies = data.bundle().agencies.len(),
        whitelist = data.bundle().whitelist.len(),
        "master data published"
    );
    Ok(Published { data, signed })
}
