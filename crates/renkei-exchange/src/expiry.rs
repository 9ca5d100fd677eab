//! When things run out: permits, held inquiries, deferred answers, kept results. Each
//! rule is one comparison with `now_ms` passed in, written once so the provider, the
//! sweep and the purge cannot disagree about a boundary millisecond.

/// Seen-permit entries are kept this long past the permit's expiry: a replay after that
/// is refused as expired anyway, so the entry is no longer needed to refuse it.
pub const SEEN_PERMIT_GRACE_MS: i64 = 3_600_000;

/// A permit is good up to and including its expiry millisecond.
pub fn permit_expired(expires_at_ms: i64, now_ms: i64) -> bool {
    now_ms > expires_at_ms
}

/// When a held inquiry received now expires undecided.
pub fn held_expires_at(received_at_ms: i64, expiry_ms: i64) -> i64 {
    received_at_ms.saturating_add(expiry_ms)
}

/// A held inquiry is expired from its expiry millisecond on: an operator deciding at
/// that moment is too late, and the sweep completes it as expired.
pub fn held_expired(expires_at_ms: i64, now_ms: i64) -> bool {
    expires_at_ms <= now_ms
}

/// A deferred answer is due from its ready millisecond on.
pub fn deferred_due(ready_at_ms: i64, now_ms: i64) -> bool {
    ready_at_ms <= now_ms
}

/// Whether the sweep has work for a waiting entry: a due deferred answer or an expired
/// held inquiry.
pub fn sweep_due(deferred: bool, ready_at_ms: i64, expires_at_ms: i64, now_ms: i64) -> bool {
    if deferred {
        deferred_due(ready_at_ms, now_ms)
    } else {
        held_expired(expires_at_ms, now_ms)
    }
}

/// A seen-permit entry may be forgotten once a replay would be refused as expired anyway.
pub fn seen_permit_forgettable(permit_expires_at_ms: i64, now_ms: i64) -> bool {
    permit_expires_at_ms.saturating_add(SEEN_PERMIT_GRACE_MS) < now_ms
}

/// The completion time before which results are deleted, for a retention in milliseconds.
pub fn retention_cutoff(now_ms: i64, retention_ms: i64) -> i64 {
    now_ms.saturating_sub(retention_ms)
}

/// Whether a completed result (inquiry or decided held inquiry) is past its retention.
/// Zero means "not completed" and is never purged.
pub fn result_expired(completed_at_ms: i64, cutoff_ms: i64) -> bool {
    completed_at_ms > 0 && completed_at_ms <= cutoff_ms
}

/// How long to wait, from now, until `at_ms` (never negative).
pub fn wait_ms(at_ms: i64, now_ms: i64) -> u64 {
    at_ms.saturating_sub(now_ms).max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_800_000_000_000;

    #[test]
    fn the_expiry_table() {
        // (rule, at, now, expected)
        type Rule = fn(i64, i64) -> bool;
        let cases: [(&str, Rule, i64, i64, bool); 12] = [
            ("permit before expiry", permit_expired, T, T - 1, false),
            ("permit at expiry", permit_expired, T, T, false),
            ("permit after expiry", permit_expired, T, T + 1, true),
            ("held before expiry", held_expired, T, T - 1, false),
            ("held at expiry", held_expired, T, T, true),
            ("held after expiry", held_expired, T, T + 1, true),
            ("deferred before ready", deferred_due, T, T - 1, false),
            ("deferred at ready", deferred_due, T, T, true),
            (
                "seen permit within grace",
                seen_permit_forgettable,
                T,
                T + SEEN_PERMIT_GRACE_MS,
                false,
            ),
            (
                "seen permit past grace",
                seen_permit_forgettable,
                T,
                T + SEEN_PERMIT_GRACE_MS + 1,
                true,
            ),
            ("result at cutoff", result_expired, T, T, true),
            ("result after cutoff", result_expired, T + 1, T, false),
        ];
        for (name, rule, at, now, want) in cases {
            assert_eq!(rule(at, now), want, "{name}");
        }
    }

    #[test]
    fn unfinished_results_are_never_purged_and_waits_are_never_negative() {
        assert!(!result_expired(0, T));
        assert_eq!(retention_cutoff(T, 1_000), T - 1_000);
        assert_eq!(wait_ms(T, T + 5), 0);
        assert_eq!(wait_ms(T + 250, T), 250);
        assert_eq!(held_expires_at(T, 3_600_000), T + 3_600_000);
        assert_eq!(held_expires_at(i64::MAX - 1, 10), i64::MAX);
    }

    #[test]
    fn the_sweep_looks_at_the_clock_that_applies() {
        // A deferred answer has no expiry; a held inquiry has no ready time.
        assert!(sweep_due(true, T, 0, T));
        assert!(!sweep_due(true, T + 1, 0, T));
        assert!(sweep_due(false, 0, T, T));
        assert!(!sweep_due(false, 0, T + 1, T));
    }
}
