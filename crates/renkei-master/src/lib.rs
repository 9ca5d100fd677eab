//! Master data (配信マスター) shared by the hub and the gateways.
//!
//! The hub builds a [`MasterBundle`] from the files in `deploy/master/` and signs it; every
//! gateway verifies the bundle and wraps it in [`MasterData`] to re-check each incoming
//! request. Keeping the matching logic in one crate means the hub and the provider can
//! never disagree about what the whitelist allows.
#![forbid(unsafe_code)]

mod files;
mod whitelist;

pub use files::{MasterFiles, load_bundle};
pub use whitelist::{MasterData, WhitelistRefusal, kind_name};

/// Why master data could not be loaded or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MasterError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("master bundle is invalid: {0}")]
    Bundle(String),
}
