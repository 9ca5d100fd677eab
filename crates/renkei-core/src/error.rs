/// Why an identifier or domain value was refused.
///
/// Messages are written for the person who typed the value: they say what is wrong and
/// what a valid value looks like. A My Number is never included in a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    #[error("agency code {value:?} is invalid: {reason}")]
    InvalidAgencyCode { value: String, reason: String },
    #[error("my number is invalid: {reason}")]
    InvalidMyNumber { reason: &'static str },
    #[error("unified address number {value:?} is invalid: {reason}")]
    InvalidUnifiedAddressNumber { value: String, reason: &'static str },
    #[error("procedure code {value:?} is invalid: {reason}")]
    InvalidProcedure { value: String, reason: &'static str },
    #[error("item {value} is invalid: {reason}")]
    InvalidItem { value: u32, reason: &'static str },
}

impl CoreError {
    /// The request field the error is about, for rich error details (BadRequest).
    pub fn field(&self) -> &'static str {
        match self {
            CoreError::InvalidAgencyCode { .. } => "agency_code",
            CoreError::InvalidMyNumber { .. } => "my_number",
            CoreError::InvalidUnifiedAddressNumber { .. } => "unified_address_number",
            CoreError::InvalidProcedure { .. } => "procedure",
            CoreError::InvalidItem { .. } => "item",
        }
    }
}

/// Truncates user input echoed in an error so a huge value cannot bloat a response.
pub(crate) fn echo(value: &str) -> String {
    const MAX: usize = 40;
    if value.chars().count() <= MAX {
        value.to_owned()
    } else {
        let mut s: String = value.chars().take(MAX).collect();
        s.push('…');
        s
    }
}
