//! The pieces the demo, the benchmarks and the end-to-end tests share, so all of them
//! exercise the same real servers: a hub and a gateway started in this process on loopback
//! with mTLS ([`cluster`]), a deterministic synthetic population ([`population`]), and the
//! one way a municipality enrols a resident ([`enrol()`]).
//!
//! Despite the name this is a normal dependency of the `renkei` binary, not a
//! dev-dependency: `renkei demo` and `renkei bench` run exactly this cluster and enrol this
//! population, and that is the point. A demo or a benchmark with its own copy of the setup
//! would drift from what the tests prove. Nothing here runs unless one of those commands
//! (or a test) asks for it.
#![forbid(unsafe_code)]

pub mod cluster;
mod enrol;
mod error;
pub mod population;
pub mod postgres;

pub use cluster::{Cluster, ClusterOptions};
pub use enrol::{
    Calls, Enrolled, acquire_symbols, copy_request, enrol, import_copies, register_address_numbers,
};
pub use error::TestkitError;
