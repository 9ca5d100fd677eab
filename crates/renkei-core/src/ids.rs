/// Kinds of per-exchange identifiers; the prefix makes a bare id self-describing in
/// logs and tickets ("inq-…" is an inquiry, "pmt-…" a permit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    Inquiry,
    Permit,
    ProcessingSerial,
}

impl IdKind {
    fn prefix(self) -> &'static str {
        match self {
            IdKind::Inquiry => "inq",
            IdKind::Permit => "pmt",
            IdKind::ProcessingSerial => "ser",
        }
    }
}

/// A time-ordered identifier: prefix, 12 hex digits of Unix milliseconds, 16 hex digits
/// of randomness. Sorting ids sorts them by creation time, which keeps listings and
/// sled range scans in a useful order. The caller supplies the randomness so this crate
/// stays free of an RNG.
pub fn new_id(kind: IdKind, now_ms: i64, random: [u8; 8]) -> String {
    let mut s = String::with_capacity(32);
    s.push_str(kind.prefix());
    s.push('-');
    s.push_str(&format!("{:012x}", now_ms.max(0) as u64 & 0xffff_ffff_ffff));
    for b in random {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time() {
        let a = new_id(IdKind::Inquiry, 1_000, [0xff; 8]);
        let b = new_id(IdKind::Inquiry, 1_001, [0; 8]);
        assert!(a < b);
        assert!(a.starts_with("inq-"));
        assert_eq!(a.len(), 4 + 12 + 16);
    }
}
