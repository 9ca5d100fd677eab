use std::path::PathBuf;

/// Everything the adapter can fail with. Row-level problems are not errors: they are
/// [`crate::RowError`]s collected alongside the good rows.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaccinationError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("state file {path}: {reason}")]
    State { path: PathBuf, reason: String },
    #[error("the gateway refused the request ({code:?}): {message}")]
    Gateway { code: tonic::Code, message: String },
    #[error("cannot connect to the gateway: {0}")]
    Transport(#[from] renkei_transport::TransportError),
    #[error("{0}")]
    Invalid(String),
}

impl VaccinationError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        VaccinationError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<tonic::Status> for VaccinationError {
    fn from(s: tonic::Status) -> Self {
        VaccinationError::Gateway {
            code: s.code(),
            message: s.message().to_owned(),
        }
    }
}

/// One bad input row (or FHIR bundle entry): where it is and why it was left out. The good
/// rows go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub file: String,
    /// 1-based line in the file (a CSV's header is line 1; for a FHIR bundle, the line the
    /// entry starts on, which is 1 for every entry of a bundle written on one line).
    pub line: u64,
    /// For a FHIR bundle, the entry's 0-based index, as FHIRPath writes `Bundle.entry[i]`.
    pub entry: Option<u64>,
    /// The column (or FHIR element) at fault, when one is.
    pub column: Option<String>,
    pub reason: String,
    /// The unified address number the bad record names, when it could still be read. A sync
    /// never deletes the copy of a person a bad record names, and deletes nothing when a bad
    /// record names no readable person: the person may be missing only because of it.
    pub person: Option<String>,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(i) = self.entry {
            write!(f, "Bundle.entry[{i}]: ")?;
        }
        if let Some(c) = &self.column {
            write!(f, "{c}: ")?;
        }
        f.write_str(&self.reason)
    }
}
