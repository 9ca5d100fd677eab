//! Library side of the `renkei` command: what its binary and its process tests share.
//!
//! The test cluster and the synthetic population moved to `renkei-testkit`; they are
//! re-exported here under their old paths so test files written against `renkei_cli::cluster`
//! and `renkei_cli::population` keep building. New code names `renkei_testkit` directly.
#![forbid(unsafe_code)]

pub use renkei_testkit::{cluster, population};
pub mod signal;
pub mod stdout;
