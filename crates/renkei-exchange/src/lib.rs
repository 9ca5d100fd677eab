//! The exchange protocol of Renkei, free of I/O (in the spirit of quinn-proto).
//!
//! Every decision of an exchange lives here as a pure function or state machine: the
//! hub authorizing an envelope, the provider choosing to answer, hold, defer or refuse,
//! the inquirer applying the outcome, held-decision transitions and expiry. Time comes
//! in as an argument (`now_ms`), never from a clock read here, and each step returns what
//! should happen (store this, send that, record this) for the gateway or hub shell to
//! carry out. That is why the refusal, held and expiry tables can be tested without a
//! socket or a sleep.
#![forbid(unsafe_code)]

pub mod record;
// Written by their owners this round: the hub's authorization and the gateway's
// provider, inquirer, held and expiry machines.
pub mod expiry;
pub mod held;
pub mod hub;
pub mod inquirer;
pub mod provider;
