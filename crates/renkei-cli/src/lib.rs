//! Library side of the `renkei` command: the pieces the demo, the end-to-end tests and
//! the benchmarks share, so they all exercise the same real servers.
#![forbid(unsafe_code)]

pub mod cluster;
pub mod population;
pub mod signal;
pub mod stdout;
