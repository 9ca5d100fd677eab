//! Domain types of Renkei, free of I/O.
//!
//! Every identifier that crosses a trust boundary is parsed into one of these types at the
//! edge, so the rest of the code can rely on it being well formed. Parsing never panics
//! and never echoes a My Number back in an error.
#![forbid(unsafe_code)]

mod agency;
pub mod dose;
mod error;
mod ids;
mod items;
mod my_number;
mod resident_code;
mod time;
mod uan;
pub mod vaccines;

pub use agency::AgencyCode;
pub use error::{CoreError, MAX_MESSAGE_CHARS, bounded_message};
pub use ids::{IdKind, new_id};
pub use items::{ItemNumber, ProcedureCode};
pub use my_number::MyNumber;
pub use resident_code::ResidentRecordCode;
pub use time::{Clock, FakeClock, SharedClock, SystemClock, format_ms, jst};
pub use uan::UnifiedAddressNumber;
