use std::fmt;

use crate::error::{CoreError, echo};

/// 全国地方公共団体コード (JIS X 0402): five digits and a check digit.
///
/// Also used for the other agencies Renkei knows (insurers, pension payers), which are
/// given codes of the same shape in the master data.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgencyCode(String);

impl AgencyCode {
    pub fn parse(value: &str) -> Result<Self, CoreError> {
        let invalid = |reason: String| CoreError::InvalidAgencyCode {
            value: echo(value),
            reason,
        };
        if value.len() != 6 {
            return Err(invalid(format!(
                "expected 6 digits (5 digits and a check digit), got {} characters",
                value.chars().count()
            )));
        }
        let digits: Vec<u32> = value
            .chars()
            .map(|c| c.to_digit(10))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid("only the digits 0-9 are allowed".into()))?;
        let expected = Self::check_digit(&digits[..5]);
        if digits[5] != expected {
            return Err(invalid(format!(
                "check digit is {} but should be {expected}",
                digits[5]
            )));
        }
        Ok(AgencyCode(value.to_owned()))
    }

    /// The code of five digits completed with their check digit: for tools that generate
    /// codes (bench tenants), so the rule lives only here.
    pub fn with_check_digit(first5: &str) -> Result<Self, CoreError> {
        let digits: Option<Vec<u32>> = first5.chars().map(|c| c.to_digit(10)).collect();
        match digits {
            Some(d) if d.len() == 5 => Self::parse(&format!("{first5}{}", Self::check_digit(&d))),
            _ => Err(CoreError::InvalidAgencyCode {
                value: echo(first5),
                reason: "expected the 5 digits before the check digit".into(),
            }),
        }
    }

    /// JIS X 0402 check digit: weights 6,5,4,3,2; (11 - sum mod 11) mod 10.
    fn check_digit(first5: &[u32]) -> u32 {
        let sum: u32 = first5.iter().zip([6, 5, 4, 3, 2]).map(|(d, w)| d * w).sum();
        (11 - sum % 11) % 10
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AgencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgencyCode({})", self.0)
    }
}

impl std::str::FromStr for AgencyCode {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_vectors_from_identifiers_md() {
        for code in [
            "011002", "141003", "232025", "072036", "382051", "130001", "010006", "271403",
        ] {
            assert!(AgencyCode::parse(code).is_ok(), "{code} should be valid");
        }
    }

    #[test]
    fn the_check_digit_is_added() {
        for code in ["011002", "141003", "232025", "271403"] {
            assert_eq!(
                AgencyCode::with_check_digit(&code[..5]).unwrap().as_str(),
                code
            );
        }
        assert!(AgencyCode::with_check_digit("1410").is_err());
        assert!(AgencyCode::with_check_digit("14A00").is_err());
    }

    #[test]
    fn invalid_vectors_are_refused_with_a_reason() {
        let e = AgencyCode::parse("141004").unwrap_err();
        assert!(
            e.to_string().contains("check digit is 4 but should be 3"),
            "{e}"
        );
        let e = AgencyCode::parse("01100").unwrap_err();
        assert!(e.to_string().contains("expected 6 digits"), "{e}");
        let e = AgencyCode::parse("14100A").unwrap_err();
        assert!(e.to_string().contains("only the digits"), "{e}");
        assert!(AgencyCode::parse("").is_err());
        assert!(
            AgencyCode::parse("１４１００３").is_err(),
            "full-width digits are refused"
        );
    }
}
