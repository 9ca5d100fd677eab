use std::fmt;

use zeroize::Zeroize;

use crate::error::CoreError;

/// 住民票コード (resident record code): ten random digits and a check digit, the number by
/// which 住基ネット (J-LIS) knows a resident.
///
/// It identifies a person nationally, as a My Number does, so it gets the same care: no
/// `Display`, no `Serialize`, a redacting `Debug`, digits wiped on drop. Only the adapter,
/// the gateway (on its way to J-LIS) and J-LIS itself ever hold one; the hub never does.
///
/// The check digit is a modulus-11 rule of the same form as the My Number's (weights
/// 2,3,4,5,6,7,2,3,4,5 from the right; 0 if the remainder is 0 or 1, else 11 − remainder).
/// The official 算式 (平成14年総務省告示第436号) could not be consulted from here; this rule is
/// a documented stand-in, see docs/decisions/0092-jlis-symbol-acquisition.md.
pub struct ResidentRecordCode([u8; 11]);

impl ResidentRecordCode {
    pub fn parse(value: &str) -> Result<Self, CoreError> {
        let invalid = |reason| CoreError::InvalidResidentRecordCode { reason };
        if value.len() != 11 {
            return Err(invalid("expected 11 digits (10 digits and a check digit)"));
        }
        let mut digits = [0u8; 11];
        for (slot, c) in digits.iter_mut().zip(value.bytes()) {
            if !c.is_ascii_digit() {
                return Err(invalid("only the digits 0-9 are allowed"));
            }
            *slot = c - b'0';
        }
        if digits[10] != Self::check_digit(&digits[..10]) {
            return Err(invalid("check digit does not match"));
        }
        Ok(ResidentRecordCode(digits))
    }

    /// Completes ten digits with their check digit, for generators of synthetic residents.
    /// Returns `None` unless given exactly ten ASCII digits.
    pub fn complete(first10: &str) -> Option<String> {
        if first10.len() != 10 || !first10.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: Vec<u8> = first10.bytes().map(|b| b - b'0').collect();
        let mut s = first10.to_owned();
        s.push(char::from(b'0' + Self::check_digit(&digits)));
        Some(s)
    }

    fn check_digit(first10: &[u8]) -> u8 {
        let sum: u32 = first10
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

    /// The eleven digits as ASCII, for the request to J-LIS and J-LIS's own lookup.
    /// Callers must not store (outside J-LIS) or log them.
    pub fn expose_digits(&self) -> [u8; 11] {
        let mut out = [0u8; 11];
        for (o, d) in out.iter_mut().zip(self.0) {
            *o = b'0' + d;
        }
        out
    }
}

impl Clone for ResidentRecordCode {
    fn clone(&self) -> Self {
        ResidentRecordCode(self.0)
    }
}

impl PartialEq for ResidentRecordCode {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for ResidentRecordCode {}

impl fmt::Debug for ResidentRecordCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResidentRecordCode(<redacted>)")
    }
}

impl Drop for ResidentRecordCode {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: "1234567890" from the right is 0,9,8,7,6,5,4,3,2,1 under weights
    /// 2,3,4,5,6,7,2,3,4,5, sum 195, 195 mod 11 = 8, check 11 − 8 = 3.
    #[test]
    fn valid_vectors() {
        for n in [
            "12345678903",
            "98765432103",
            "11111111113",
            "00000000000",
            // 5 × 2 = 10, remainder 10: check 1.
            "00000000051",
            // 6 × 2 = 12, remainder 1: check 0, not 10.
            "00000000060",
            // 1 × 3 = 3: check 8.
            "00000000108",
        ] {
            assert!(ResidentRecordCode::parse(n).is_ok(), "{n} should be valid");
        }
    }

    #[test]
    fn invalid_vectors_are_refused() {
        for n in [
            "12345678900",
            "12345678904",
            "00000000061",
            "1234567890",
            "123456789031",
            "1234567890X",
            "１２３４５６７８９０３",
            "",
        ] {
            assert!(
                ResidentRecordCode::parse(n).is_err(),
                "{n} should be invalid"
            );
        }
    }

    #[test]
    fn every_single_digit_error_is_caught() {
        let good = "12345678903";
        for pos in 0..11 {
            for d in b'0'..=b'9' {
                let mut b = good.as_bytes().to_vec();
                if b[pos] == d {
                    continue;
                }
                b[pos] = d;
                let s = String::from_utf8(b).unwrap_or_default();
                assert!(ResidentRecordCode::parse(&s).is_err(), "{s}");
            }
        }
    }

    #[test]
    fn errors_and_debug_never_show_the_digits() {
        let e = ResidentRecordCode::parse("12345678900").unwrap_err();
        assert!(!e.to_string().contains("1234567890"));
        assert_eq!(e.field(), "resident_record_code");
        let c = ResidentRecordCode::parse("12345678903").unwrap();
        assert!(!format!("{c:?}").contains("1234"));
        assert_eq!(&c.expose_digits(), b"12345678903");
    }

    #[test]
    fn complete_appends_the_check_digit() {
        assert_eq!(
            ResidentRecordCode::complete("1234567890").as_deref(),
            Some("12345678903")
        );
        assert!(ResidentRecordCode::complete("123456789").is_none());
        assert!(ResidentRecordCode::complete("12345678x0").is_none());
    }
}
