use std::fmt;

use crate::error::{CoreError, echo};

/// 団体内統合宛名番号: a municipality's own person number, 1 to 15 ASCII digits.
///
/// Unique only within one tenant; every storage key that holds one is tenant-scoped.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnifiedAddressNumber(String);

impl UnifiedAddressNumber {
    pub const MAX_LEN: usize = 15;

    pub fn parse(value: &str) -> Result<Self, CoreError> {
        let invalid = |reason| CoreError::InvalidUnifiedAddressNumber {
            value: echo(value),
            reason,
        };
        if value.is_empty() {
            return Err(invalid("it is empty"));
        }
        if value.len() > Self::MAX_LEN {
            return Err(invalid("it is longer than 15 digits"));
        }
        if !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("only the digits 0-9 are allowed"));
        }
        Ok(UnifiedAddressNumber(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnifiedAddressNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UnifiedAddressNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uan({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_digits_only_up_to_15() {
        assert!(UnifiedAddressNumber::parse("1").is_ok());
        assert!(UnifiedAddressNumber::parse("123456789012345").is_ok());
        assert!(UnifiedAddressNumber::parse("1234567890123456").is_err());
        assert!(UnifiedAddressNumber::parse("").is_err());
        assert!(UnifiedAddressNumber::parse("12a").is_err());
        assert!(UnifiedAddressNumber::parse("-1").is_err());
    }
}
