mod clock;

pub use clock::{Clock, FakeClock, SharedClock, SystemClock};

/// Wall-clock Unix milliseconds from the system clock.
///
/// Transitional: code that decides anything by time takes a [`Clock`] instead, so tests
/// can move time by hand. This shim goes once the last caller has a clock.
pub fn now_ms() -> i64 {
    SystemClock.now_ms()
}

/// Formats Unix milliseconds as RFC 3339 in JST (+09:00), the zone operators work in.
pub fn format_ms(ms: i64) -> String {
    let offset = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let nanos = i128::from(ms) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => {
            let t = t.to_offset(offset);
            let fmt = time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]+09:00"
            );
            t.format(&fmt).unwrap_or_else(|_| ms.to_string())
        }
        Err(_) => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_in_jst() {
        assert_eq!(super::format_ms(0), "1970-01-01 09:00:00.000+09:00");
    }
}
