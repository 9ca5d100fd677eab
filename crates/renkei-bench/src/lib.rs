//! The measuring side of `renkei bench`: a load driver (closed loop for maximum throughput,
//! open loop at a fixed rate for latency), latency histograms, the process's CPU time and
//! peak RSS, and a baseline that makes the same RPC legs over mTLS with the same
//! cryptography as a real exchange but no storage and no logic.
//!
//! Kept apart from the CLI so that the numbers are produced by one small, testable piece of
//! code whatever is being measured. The workloads themselves (what one operation is, and
//! the servers and population it runs against) are in [`workload`].
#![forbid(unsafe_code)]

mod error;
mod load;
mod process;
mod report;

pub mod baseline;
pub mod workload;

pub use error::BenchError;
pub use load::{LoadMode, LoadSpec, drive};
pub use process::ProcessUsage;
pub use report::{Latency, Report};
