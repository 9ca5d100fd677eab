use std::fmt;

use zeroize::Zeroize;

use crate::error::CoreError;

/// 個人番号 (My Number): eleven digits and a check digit.
///
/// Deliberately has no `Display`, no `Serialize` and a redacting `Debug`, so it cannot
/// reach a log line or a storage format by accident. The digits are wiped on drop.
/// Only [`MyNumber::expose_digits`] reveals them, for the one place that needs them:
/// symbol derivation at the hub.
pub struct MyNumber([u8; 12]);

impl MyNumber {
    pub fn parse(value: &str) -> Result<Self, CoreError> {
        let invalid = |reason| CoreError::InvalidMyNumber { reason };
        if value.len() != 12 {
            return Err(invalid("expected 12 digits (11 digits and a check digit)"));
        }
        let mut digits = [0u8; 12];
        for (slot, c) in digits.iter_mut().zip(value.bytes()) {
            if !c.is_ascii_digit() {
                return Err(invalid("only the digits 0-9 are allowed"));
            }
            *slot = c - b'0';
        }
        if digits[11] != Self::check_digit(&digits[..11]) {
            return Err(invalid("check digit does not match"));
        }
        Ok(MyNumber(digits))
    }

    /// Completes eleven digits with their check digit, for generators of synthetic
    /// residents. Returns `None` unless given exactly eleven ASCII digits.
    pub fn complete(first11: &str) -> Option<String> {
        if first11.len() != 11 || !first11.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: Vec<u8> = first11.bytes().map(|b| b - b'0').collect();
        let mut s = first11.to_owned();
        s.push(char::from(b'0' + Self::check_digit(&digits)));
        Some(s)
    }

    /// Check digit of the 総務省令: weights 2..7,2..6 from the right; 0 if r <= 1 else 11 - r.
    fn check_digit(first11: &[u8]) -> u8 {
        let sum: u32 = first11
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &p)| {
                let n = i as u32 + 1;
                let q = if n <= 6 { n + 1 } else { n - 5 };
                u32::from(p) * q
            })
            .sum();
        let r = (sum % 11) as u8;
        if r <= 1 { 0 } else { 11 - r }
    }

    /// The twelve digits as ASCII, for symbol derivation. Callers must not store or log them.
    pub fn expose_digits(&self) -> [u8; 12] {
        let mut out = [0u8; 12];
        for (o, d) in out.iter_mut().zip(self.0) {
            *o = b'0' + d;
        }
        out
    }
}

impl fmt::Debug for MyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MyNumber(<redacted>)")
    }
}

impl Drop for MyNumber {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_vectors_from_identifiers_md() {
        for n in [
            "123456789018",
            "000000000000",
            "987654321093",
            "111111111118",
            "555555555557",
        ] {
            assert!(MyNumber::parse(n).is_ok(), "{n} should be valid");
        }
    }

    #[test]
    fn invalid_vectors_are_refused() {
        for n in [
            "123456789010",
            "12345678901",
            "12345678901X",
            "",
            "1234567890123",
        ] {
            assert!(MyNumber::parse(n).is_err(), "{n} should be invalid");
        }
    }

    #[test]
    fn errors_and_debug_never_show_the_digits() {
        let e = MyNumber::parse("123456789010").unwrap_err();
        assert!(!e.to_string().contains("123456789010"));
        let m = MyNumber::parse("123456789018").unwrap();
        assert!(!format!("{m:?}").contains("1234"));
        assert_eq!(&m.expose_digits(), b"123456789018");
    }

    #[test]
    fn complete_appends_the_check_digit() {
        assert_eq!(
            MyNumber::complete("12345678901").as_deref(),
            Some("123456789018")
        );
        assert_eq!(
            MyNumber::complete("98765432109").as_deref(),
            Some("987654321093")
        );
        assert!(MyNumber::complete("1234567890").is_none());
    }
}
