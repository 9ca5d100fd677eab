mod clock;
pub mod jst;

pub use clock::{Clock, FakeClock, SharedClock, SystemClock};

/// Formats Unix milliseconds in Japan time, the zone operators work in ([`jst::format_ms`]).
pub fn format_ms(ms: i64) -> String {
    jst::format_ms(ms)
}
