//! The edge: the one place a [`HubError`] becomes a gRPC [`Status`].
//!
//! Every status carries an `ErrorInfo` whose reason is stable (clients branch on it, not
//! on the message) in the domain `renkei.hub`; field errors add a `BadRequest`, and
//! failures where waiting helps (an inquirer's gateway that did not take a late answer)
//! add a `RetryInfo`. Messages are cut to a bounded length, so no request field or stored
//! value can inflate an error.

use std::collections::HashMap;
use std::time::Duration;

use renkei_core::bounded_message;
use renkei_exchange::hub::Denied;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::HubError;

const DOMAIN: &str = "renkei.hub";

/// How long a caller should wait before sending a late answer again.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Code, stable reason and whether a retry can help, by cause.
fn classify(e: &HubError) -> (Code, &'static str, bool) {
    use HubError as E;
    match e {
        E::Denied(d) => match d {
            Denied::InvalidField { .. } => (Code::InvalidArgument, "INVALID_ARGUMENT", false),
            Denied::NotTheInquirer { .. } => (Code::PermissionDenied, "NOT_THE_INQUIRER", false),
            Denied::NoPendingExchange { .. } => (Code::NotFound, "NO_PENDING_EXCHANGE", false),
            Denied::NotTheProvider { .. } => (Code::PermissionDenied, "NOT_THE_PROVIDER", false),
            Denied::PendingExpired { .. } => (Code::FailedPrecondition, "PENDING_EXPIRED", false),
            Denied::InquirerNotConnected { .. } => {
                (Code::FailedPrecondition, "INQUIRER_NOT_CONNECTED", false)
            }
            _ => (Code::InvalidArgument, "DENIED", false),
        },
        E::WrongRole { .. } => (Code::PermissionDenied, "WRONG_ROLE", false),
        E::TooManyNumbers { .. } => (Code::InvalidArgument, "TOO_MANY_NUMBERS", false),
        E::MissingField { .. } => (Code::InvalidArgument, "MISSING_FIELD", false),
        E::InvalidMyNumber { .. } => (Code::InvalidArgument, "INVALID_MY_NUMBER", false),
        E::InquirerUnreachable { .. } => (Code::Unavailable, "INQUIRER_UNREACHABLE", true),
        E::ForgedHead { .. } => (Code::PermissionDenied, "FORGED_TREE_HEAD", false),
        E::NotWitnessed { .. } => (
            Code::FailedPrecondition,
            "NOT_CONSISTENT_WITH_WITNESS",
            false,
        ),
        E::MetricsOff => (Code::FailedPrecondition, "METRICS_OFF", false),
        E::Records(renkei_records::RecordError::Ledger(
            renkei_ledger::LedgerError::OutOfRange(_),
        )) => (Code::InvalidArgument, "OUT_OF_RANGE", false),
        E::Store(renkei_store::StoreError::CommitterGone) => {
            (Code::Unavailable, "STORAGE_STOPPED", false)
        }
        _ => (Code::Internal, "INTERNAL", false),
    }
}

/// The field a field error is about, for the `BadRequest` detail.
fn field_violation(e: &HubError) -> Option<(&'static str, String)> {
    match e {
        HubError::Denied(Denied::InvalidField { field, message }) => Some((field, message.clone())),
        HubError::TooManyNumbers { .. } => Some(("my_numbers", e.to_string())),
        HubError::MissingField { field } => Some((field, "is required".to_owned())),
        HubError::InvalidMyNumber { message } => Some(("my_number", message.clone())),
        HubError::Records(renkei_records::RecordError::Ledger(
            renkei_ledger::LedgerError::OutOfRange(m),
        )) => Some(("range", m.clone())),
        _ => None,
    }
}

impl HubError {
    /// The status a caller sees. Internal failures are logged here and answered with a
    /// generic message: their text names files and storage, which is not the caller's.
    pub(crate) fn into_status(self) -> Status {
        let (code, reason, retry) = classify(&self);
        let mut details = ErrorDetails::new();
        details.set_error_info(reason, DOMAIN, HashMap::new());
        if retry {
            details.set_retry_info(Some(RETRY_AFTER));
        }
        if let Some((field, message)) = field_violation(&self) {
            details.add_bad_request_violation(field, bounded_message(&message));
        }
        let message = if code == Code::Internal {
            tracing::error!(error = %self, "hub internal error");
            "the hub failed to process the request; see the hub log".to_owned()
        } else {
            bounded_message(&self.to_string())
        };
        Status::with_error_details(code, message, details)
    }
}

impl From<HubError> for Status {
    fn from(e: HubError) -> Status {
        e.into_status()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reason(s: &Status) -> String {
        s.get_error_details()
            .error_info()
            .map(|i| format!("{}/{}", i.domain, i.reason))
            .unwrap_or_default()
    }

    #[test]
    fn causes_keep_their_codes_and_carry_a_stable_reason() {
        let cases: Vec<(HubError, Code, &str)> = vec![
            (
                Denied::InvalidField {
                    field: "envelope.item",
                    message: "0 is not an item".into(),
                }
                .into(),
                Code::InvalidArgument,
                "INVALID_ARGUMENT",
            ),
            (
                Denied::NotTheInquirer {
                    named: "141003".into(),
                    caller: "011002".into(),
                }
                .into(),
                Code::PermissionDenied,
                "NOT_THE_INQUIRER",
            ),
            (
                Denied::NoPendingExchange {
                    permit_id: "p".into(),
                }
                .into(),
                Code::NotFound,
                "NO_PENDING_EXCHANGE",
            ),
            (
                Denied::NotTheProvider {
                    permit_id: "p".into(),
                    provider: "141003".into(),
                    caller: "011002".into(),
                }
                .into(),
                Code::PermissionDenied,
                "NOT_THE_PROVIDER",
            ),
            (
                Denied::PendingExpired {
                    permit_id: "p".into(),
                    kept_until: "then".into(),
                }
                .into(),
                Code::FailedPrecondition,
                "PENDING_EXPIRED",
            ),
            (
                Denied::InquirerNotConnected {
                    inquirer: "011002".into(),
                }
                .into(),
                Code::FailedPrecondition,
                "INQUIRER_NOT_CONNECTED",
            ),
            (
                HubError::WrongRole {
                    service: "the hub's record log",
                    allowed: "auditors",
                    role: "tenant 011002".into(),
                },
                Code::PermissionDenied,
                "WRONG_ROLE",
            ),
            (
                HubError::TooManyNumbers { count: 9, max: 8 },
                Code::InvalidArgument,
                "TOO_MANY_NUMBERS",
            ),
            (
                HubError::MissingField { field: "answer" },
                Code::InvalidArgument,
                "MISSING_FIELD",
            ),
            (
                HubError::InvalidMyNumber {
                    message: "bad check digit".into(),
                },
                Code::InvalidArgument,
                "INVALID_MY_NUMBER",
            ),
            (
                HubError::InquirerUnreachable {
                    message: "refused".into(),
                },
                Code::Unavailable,
                "INQUIRER_UNREACHABLE",
            ),
            (
                HubError::MetricsOff,
                Code::FailedPrecondition,
                "METRICS_OFF",
            ),
            (
                HubError::task("disclosure", "panicked"),
                Code::Internal,
                "INTERNAL",
            ),
        ];
        for (e, code, want) in cases {
            let text = e.to_string();
            let s = e.into_status();
            assert_eq!(s.code(), code, "{text}");
            assert_eq!(reason(&s), format!("renkei.hub/{want}"), "{text}");
        }
    }

    #[test]
    fn field_errors_name_the_field_and_only_retryable_ones_say_when() {
        let s = HubError::MissingField { field: "answer" }.into_status();
        let bad = s.get_error_details().bad_request().cloned().unwrap();
        assert_eq!(bad.field_violations[0].field, "answer");
        assert!(s.get_error_details().retry_info().is_none());

        let s = HubError::InquirerUnreachable {
            message: "x".into(),
        }
        .into_status();
        let retry = s.get_error_details().retry_info().cloned().unwrap();
        assert_eq!(retry.retry_delay, Some(RETRY_AFTER));
        assert!(s.get_error_details().bad_request().is_none());
    }

    #[test]
    fn internal_detail_stays_in_the_log_and_messages_are_bounded() {
        let s = HubError::Config("/secret/path/hub.key unreadable".into()).into_status();
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("/secret"), "{}", s.message());

        let s = Denied::NoPendingExchange {
            permit_id: "x".repeat(1 << 16),
        };
        let s = HubError::from(s).into_status();
        assert!(
            s.message().chars().count() <= renkei_core::MAX_MESSAGE_CHARS + 1,
            "{} characters",
            s.message().chars().count()
        );
    }
}
