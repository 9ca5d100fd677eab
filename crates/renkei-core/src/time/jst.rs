//! Japan time (日本標準時, UTC+09:00): the zone every day in Renkei is counted in.
//!
//! Operators, ledgers and reports speak of days in Japan, while records carry Unix
//! milliseconds. Japan has had no daylight saving since 1951, so a fixed offset is exact
//! for every record Renkei can hold, and no time-zone database is needed.

use time::{Date, OffsetDateTime, UtcOffset};

use super::Clock;

/// UTC+09:00.
pub const OFFSET: UtcOffset = time::macros::offset!(+9);

/// The day in Japan at Unix milliseconds `ms`; `None` beyond the years `time` represents.
pub fn date_of_ms(ms: i64) -> Option<Date> {
    at_ms(ms).map(|t| t.date())
}

/// Today in Japan by `clock`.
///
/// A clock beyond the representable years reads as 1970-01-01: dose dates are then all
/// in the future and refused, rather than all accepted.
pub fn today(clock: &dyn Clock) -> Date {
    date_of_ms(clock.now_ms()).unwrap_or(Date::from_ordinal_date(1970, 1).unwrap_or(Date::MIN))
}

/// The first millisecond of `day` in Japan.
pub fn day_start_ms(day: Date) -> i64 {
    day.midnight().assume_offset(OFFSET).unix_timestamp() * 1000
}

/// `YYYY-MM-DD`, without going through a format description (one call per ledger row).
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Unix milliseconds as `YYYY-MM-DD hh:mm:ss.mmm+09:00`, the form operators read; the
/// bare number when it is beyond the representable years.
pub fn format_ms(ms: i64) -> String {
    let Some(t) = at_ms(ms) else {
        return ms.to_string();
    };
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]+09:00"
    );
    t.format(&fmt).unwrap_or_else(|_| ms.to_string())
}

fn at_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .map(|t| t.to_offset(OFFSET))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeClock;
    use time::macros::date;

    /// 2026-04-01 00:00:00 JST, which is 2026-03-31 15:00:00 UTC.
    const APRIL_FIRST_MS: i64 = 1_774_969_200_000;

    #[test]
    fn the_offset_is_nine_hours() {
        assert_eq!(OFFSET.whole_seconds(), 9 * 3600);
    }

    #[test]
    fn a_japan_day_starts_at_fifteen_hundred_utc_the_day_before() {
        assert_eq!(day_start_ms(date!(2026 - 04 - 01)), APRIL_FIRST_MS);
        assert_eq!(date_of_ms(APRIL_FIRST_MS), Some(date!(2026 - 04 - 01)));
        assert_eq!(date_of_ms(APRIL_FIRST_MS - 1), Some(date!(2026 - 03 - 31)));
        assert_eq!(date_of_ms(0), Some(date!(1970 - 01 - 01)));
        assert_eq!(date_of_ms(i64::MAX), None);
    }

    #[test]
    fn today_follows_the_clock_across_japan_midnight() {
        let clock = FakeClock::at(APRIL_FIRST_MS - 1);
        assert_eq!(today(clock.as_ref()), date!(2026 - 03 - 31));
        clock.advance(std::time::Duration::from_millis(1));
        assert_eq!(today(clock.as_ref()), date!(2026 - 04 - 01));
        clock.set(i64::MAX);
        assert_eq!(today(clock.as_ref()), date!(1970 - 01 - 01));
    }

    #[test]
    fn formats() {
        assert_eq!(format_ms(0), "1970-01-01 09:00:00.000+09:00");
        assert_eq!(
            format_ms(APRIL_FIRST_MS + 1_234),
            "2026-04-01 00:00:01.234+09:00"
        );
        assert_eq!(format_ms(i64::MAX), i64::MAX.to_string());
        assert_eq!(format_date(date!(0987 - 06 - 05)), "0987-06-05");
        assert_eq!(format_date(date!(2026 - 11 - 23)), "2026-11-23");
    }
}
