//! The vaccination adapter: the link between a municipality's 予防接種台帳 system and its
//! tenant on the gateway (既存システム接続).
//!
//! It reads and writes the local formats (the ledger CSV, HL7 FHIR R4 with JP Core code
//! systems, the VRS export), generates synthetic populations, and talks to the gateway as
//! a back-office system over mTLS: bulk symbol acquisition, provision-copy sync,
//! reconciliation and transfer-in inquiries. Names and other basic items stay on the
//! municipality's side; only unified address numbers and dose records reach the gateway,
//! and My Numbers only pass through memory on their way to symbol acquisition.
#![forbid(unsafe_code)]

pub mod client;
mod error;
pub mod fhir;
pub mod generate;
pub mod input;
pub mod ledger;
pub mod model;
pub mod reconcile;
pub mod symbols;
pub mod sync;
pub mod text;
pub mod transfer;
pub mod vrs;

pub use error::{RowError, VaccinationError};
pub use input::InputFormat;
pub use model::{LocalMaster, Person, PersonInfo, Sex};
pub use text::TextEncoding;
