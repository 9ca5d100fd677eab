use std::fmt;

use crate::error::{CoreError, echo};

/// Item number of the 主務省令 第2条 table (formerly 番号法別表第二), e.g. 25.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ItemNumber(u32);

impl ItemNumber {
    pub fn new(value: u32) -> Result<Self, CoreError> {
        if value == 0 || value > 999 {
            return Err(CoreError::InvalidItem {
                value,
                reason: "items are numbered 1 to 999",
            });
        }
        Ok(ItemNumber(value))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for ItemNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Procedure (事務) code used in the whitelist, e.g. `vaccination`.
///
/// Lower-case ASCII letters, digits and `-`, 1 to 64 characters, so codes are stable
/// keys in storage and in URLs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ProcedureCode(String);

impl ProcedureCode {
    pub fn parse(value: &str) -> Result<Self, CoreError> {
        let invalid = |reason| CoreError::InvalidProcedure {
            value: echo(value),
            reason,
        };
        if value.is_empty() || value.len() > 64 {
            return Err(invalid("expected 1 to 64 characters"));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid("only a-z, 0-9 and '-' are allowed"));
        }
        Ok(ProcedureCode(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProcedureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_and_procedures() {
        assert!(ItemNumber::new(25).is_ok());
        assert!(ItemNumber::new(0).is_err());
        assert!(ProcedureCode::parse("vaccination").is_ok());
        assert!(ProcedureCode::parse("Vaccination").is_err());
        assert!(ProcedureCode::parse("").is_err());
    }
}
