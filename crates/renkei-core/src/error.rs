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
    #[error("resident record code is invalid: {reason}")]
    InvalidResidentRecordCode { reason: &'static str },
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
            CoreError::InvalidResidentRecordCode { .. } => "resident_record_code",
            CoreError::InvalidUnifiedAddressNumber { .. } => "unified_address_number",
            CoreError::InvalidProcedure { .. } => "procedure",
            CoreError::InvalidItem { .. } => "item",
        }
    }
}

/// Truncates user input echoed in an error so a huge value cannot bloat a response.
pub(crate) fn echo(value: &str) -> String {
    clip(value, 40)
}

/// The longest error message a server sends, in characters.
///
/// Messages quote what the caller sent so that a person can find the mistake, but a caller
/// controls that input: without a bound a 1 MB id came back as a 786 KB trailer. About 200
/// characters keep every message this project writes whole and cut only echoed input.
pub const MAX_MESSAGE_CHARS: usize = 200;

/// An error message cut to [`MAX_MESSAGE_CHARS`], for the edge that turns errors into
/// statuses. A cut message ends with `…` so the reader knows it was cut.
pub fn bounded_message(message: &str) -> String {
    clip(message, MAX_MESSAGE_CHARS)
}

fn clip(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        None => value.to_owned(),
        Some((end, _)) => {
            let mut s = value[..end].to_owned();
            s.push('…');
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_messages_are_kept_whole() {
        let m = "unified address number \"12\" is invalid: it must have 15 digits";
        assert_eq!(bounded_message(m), m);
        let exact = "あ".repeat(MAX_MESSAGE_CHARS);
        assert_eq!(bounded_message(&exact), exact);
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let huge = format!("inquiry {} not found", "漢".repeat(1_000_000));
        let cut = bounded_message(&huge);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(cut.starts_with("inquiry 漢"));
        assert!(cut.ends_with('…'));
    }
}
