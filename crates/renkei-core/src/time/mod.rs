mod clock;
pub mod jst;

pub use clock::{Clock, FakeClock, SharedClock, SystemClock};

/// Wall-clock Unix milliseconds from the system clock.
///
/// Transitional: code that decides anything by time takes a [`Clock`] instead, so tests
/// can move time by hand. This shim goes once the last caller has a clock.
pub fn now_ms() -> i64 {
    SystemClock.now_ms()
}

/// Formats Unix milliseconds in Japan time, the zone operators work in ([`jst::format_ms`]).
pub fn format_ms(ms: i64) -> String {
    jst::format_ms(ms)
}
