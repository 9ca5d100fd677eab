//! Publishing master data: build the bundle from files, stamp it, sign it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use renkei_crypto::SigningKey;
use renkei_master::{MasterData, MasterFiles};
use renkei_proto::v1::SignedMasterBundle;

use crate::HubError;
use crate::config::MasterConfig;
use crate::exchange::HubState;

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
    now_ms: i64,
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
    let now = now_ms;
    // Versions only move forward, even if the clock steps back.
    bundle.version = (now as u64).max(previous_version + 1);
    bundle.issued_at_ms = now;
    let validity_ms = i64::try_from(config.validity.as_duration().as_millis()).unwrap_or(i64::MAX);
    bundle.expires_at_ms = now.saturating_add(validity_ms);
    bundle.permit_signing_public_key = key.public_key().as_bytes().to_vec();
    let signed = renkei_crypto::sign_bundle(key, bundle.encode_to_vec());
    let data = MasterData::new(bundle)?;
    tracing::info!(
        version = data.version(),
        agencies = data.bundle().agencies.len(),
        whitelist = data.bundle().whitelist.len(),
        expires_at = %renkei_core::format_ms(data.bundle().expires_at_ms),
        "master data published"
    );
    Ok(Published { data, signed })
}

impl Published {
    /// When the hub signs the next bundle: half way through this one's validity.
    pub(crate) fn renew_at_ms(&self) -> i64 {
        let b = self.data.bundle();
        b.issued_at_ms + (b.expires_at_ms - b.issued_at_ms) / 2
    }

    /// Seconds until this bundle expires (negative once it has).
    pub(crate) fn expires_in_secs(&self, now_ms: i64) -> f64 {
        (self.data.bundle().expires_at_ms - now_ms) as f64 / 1000.0
    }
}

/// Re-reads the master files and publishes a newly signed bundle each time half of the
/// current one's validity has passed, until `stop` resolves. Gateways pick the new version
/// up on their next refresh (`known_version` differs). A failed renewal keeps the current
/// bundle, which is still valid, and is retried shortly.
pub(crate) async fn renew(state: Arc<HubState>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let retry = (state.config.master.validity.as_duration() / 10)
        .clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        let published = state.published();
        let wait_ms = (published.renew_at_ms() - state.clock.now_ms()).max(0);
        let wait = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0));
        tracing::debug!(
            version = published.data.version(),
            renew_in_ms = wait_ms,
            "next master data renewal scheduled"
        );
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let s = state.clone();
        let outcome = tokio::task::spawn_blocking(move || s.reload_master()).await;
        let error = match outcome {
            Ok(Ok(version)) => {
                tracing::info!(
                    previous = published.data.version(),
                    version,
                    "master data renewed"
                );
                continue;
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => HubError::task("master data renewal", e).to_string(),
        };
        tracing::error!(
            version = published.data.version(),
            expires_at = %renkei_core::format_ms(published.data.bundle().expires_at_ms),
            retry_in_secs = retry.as_secs(),
            error = %error,
            "master data renewal failed; the current bundle stays published until it expires"
        );
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(retry) => {}
        }
    }
}
