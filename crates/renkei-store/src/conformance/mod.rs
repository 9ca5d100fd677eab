//! One behavioural test suite for every storage backend.
//!
//! Each function takes a freshly opened, empty backend and panics with a message naming
//! the broken promise. The sled backend runs it in `tests/conformance.rs`; the PostgreSQL
//! backend runs the same functions against a throwaway cluster.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod exchange;
pub mod hub;
pub mod operators;
pub mod registry;
