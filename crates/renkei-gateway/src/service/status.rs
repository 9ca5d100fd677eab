//! The edge: the one place a [`GatewayError`] becomes a gRPC [`Status`].
//!
//! Every status carries an `ErrorInfo` whose reason is stable (clients branch on it, not
//! on the message) in the domain `renkei.gateway`; field errors add a `BadRequest`, and
//! failures where waiting helps (the hub unreachable) add a `RetryInfo`. Messages are cut
//! to a bounded length, so no stored value can inflate an error.

use std::collections::HashMap;
use std::time::Duration;

use renkei_core::bounded_message;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::GatewayError;

const DOMAIN: &str = "renkei.gateway";

/// How long a client should wait before retrying a call that failed on the hub.
const HUB_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Code, stable reason and whether a retry can help, by cause.
fn classify(e: &GatewayError) -> (Code, &'static str, bool) {
    use GatewayError as E;
    match e {
        E::InvalidArgument { .. } => (Code::InvalidArgument, "INVALID_ARGUMENT", false),
        E::Records(renkei_records::RecordError::Ledger(
            renkei_ledger::LedgerError::OutOfRange(_),
        )) => (Code::InvalidArgument, "OUT_OF_RANGE", false),
        E::WrongRole { .. } => (Code::PermissionDenied, "WRONG_ROLE", false),
        E::ForeignAgency { .. } => (Code::PermissionDenied, "FOREIGN_AGENCY", false),
        E::UnknownTenant { .. } => (Code::NotFound, "UNKNOWN_TENANT", false),
        E::InquiryNotFound { .. } => (Code::NotFound, "INQUIRY_NOT_FOUND", false),
        E::IdempotencyConflict { .. } => (Code::AlreadyExists, "IDEMPOTENCY_CONFLICT", false),
        E::NoSymbol { .. } => (Code::FailedPrecondition, "NO_SYMBOL", false),
        E::NoPendingInquiry { .. } => (Code::NotFound, "NO_PENDING_INQUIRY", false),
        E::HeldNotFound { .. } => (Code::NotFound, "HELD_NOT_FOUND", false),
        E::AlreadyDecided { .. } => (Code::FailedPrecondition, "ALREADY_DECIDED", false),
        E::HeldExpired { .. } => (Code::FailedPrecondition, "HELD_EXPIRED", false),
        E::NoEncryptionKey { .. } => (Code::FailedPrecondition, "NO_ENCRYPTION_KEY", false),
        E::HubUnreachable { .. } => (Code::Unavailable, "HUB_UNREACHABLE", true),
        E::HubDidNotTakeAnswer { .. } => (Code::Unavailable, "HUB_UNREACHABLE", true),
        E::TaskFailed { .. } => (Code::Unavailable, "TASK_FAILED", true),
        // registry
        E::NotRegistered { .. } => (Code::FailedPrecondition, "NOT_REGISTERED", false),
        E::AcquisitionNotFound { .. } => (Code::NotFound, "ACQUISITION_NOT_FOUND", false),
        E::NoMasterData => (Code::Unavailable, "NO_MASTER_DATA", true),
        E::MasterDataExpired { .. } => (Code::Unavailable, "MASTER_DATA_EXPIRED", true),
        // Status-shaped leftovers of modules still being converted.
        E::PermissionDenied(_) => (Code::PermissionDenied, "PERMISSION_DENIED", false),
        E::NotFound(_) => (Code::NotFound, "NOT_FOUND", false),
        E::AlreadyExists(_) => (Code::AlreadyExists, "ALREADY_EXISTS", false),
        E::FailedPrecondition(_) => (Code::FailedPrecondition, "FAILED_PRECONDITION", false),
        E::Unavailable(_) => (Code::Unavailable, "UNAVAILABLE", true),
        E::Ops(o) => classify_ops(o),
        _ => (Code::Internal, "INTERNAL", false),
    }
}

/// Operator failures (renkei-ops) by class; the reason is the cause's own.
fn classify_ops(e: &renkei_ops::OpsError) -> (Code, &'static str, bool) {
    use renkei_ops::OpsErrorKind as K;
    let code = match e.kind() {
        K::Unauthenticated => Code::Unauthenticated,
        K::Denied => Code::PermissionDenied,
        K::Invalid => Code::InvalidArgument,
        K::NotFound => Code::NotFound,
        K::AlreadyExists => Code::AlreadyExists,
        K::Refused => Code::FailedPrecondition,
        _ => Code::Internal,
    };
    (code, e.reason(), false)
}

impl GatewayError {
    /// How the operator audit log names this failure; follows the status code, so a new
    /// cause is audited consistently with what the client was told.
    pub(crate) fn audit_outcome(&self) -> &'static str {
        if let GatewayError::Ops(o) = self {
            return o.audit_outcome();
        }
        match classify(self).0 {
            Code::PermissionDenied => "denied",
            Code::InvalidArgument => "invalid",
            Code::NotFound => "not-found",
            Code::FailedPrecondition => "refused",
            Code::Unavailable => "unavailable",
            _ => "failed",
        }
    }

    /// The status a client sees. Internal failures are logged here and answered with a
    /// generic message: their text names files and storage, which is not the caller's.
    pub fn into_status(self) -> Status {
        let (code, reason, retry) = classify(&self);
        let mut details = ErrorDetails::new();
        details.set_error_info(reason, DOMAIN, HashMap::new());
        if retry {
            details.set_retry_info(Some(HUB_RETRY_AFTER));
        }
        let message = if code == Code::Internal {
            tracing::error!(error = %self, "gateway internal error");
            "the gateway failed to process the request; see the gateway log".to_owned()
        } else {
            bounded_message(&self.to_string())
        };
        if let GatewayError::InvalidArgument { field, message } = &self {
            details.add_bad_request_violation(field.clone(), bounded_message(message));
        }
        if let GatewayError::Ops(o) = &self
            && let Some((field, message)) = o.field()
        {
            details.add_bad_request_violation(field, bounded_message(&message));
        }
        Status::with_error_details(code, message, details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &Status) -> String {
        s.get_error_details()
            .error_info()
            .map(|i| i.reason.clone())
            .unwrap_or_default()
    }

    #[test]
    fn causes_keep_their_codes_and_carry_a_stable_reason() {
        let cases = [
            (
                GatewayError::IdempotencyConflict {
                    key: "k".into(),
                    inquiry_id: "i".into(),
                },
                Code::AlreadyExists,
                "IDEMPOTENCY_CONFLICT",
            ),
            (
                GatewayError::NoSymbol { uan: "1".into() },
                Code::FailedPrecondition,
                "NO_SYMBOL",
            ),
            (
                GatewayError::HeldNotFound {
                    permit_id: "p".into(),
                    tenant: "t".into(),
                },
                Code::NotFound,
                "HELD_NOT_FOUND",
            ),
            (
                GatewayError::AlreadyDecided {
                    permit_id: "p".into(),
                    state: "APPROVED".into(),
                },
                Code::FailedPrecondition,
                "ALREADY_DECIDED",
            ),
            (
                GatewayError::HubDidNotTakeAnswer {
                    message: "down".into(),
                },
                Code::Unavailable,
                "HUB_UNREACHABLE",
            ),
            (
                GatewayError::Corrupt("secret path".into()),
                Code::Internal,
                "INTERNAL",
            ),
        ];
        for (e, code, why) in cases {
            let s = e.into_status();
            assert_eq!(s.code(), code, "{s:?}");
            assert_eq!(reason(&s), why, "{s:?}");
            let d = s.get_error_details();
            assert_eq!(d.error_info().map(|i| i.domain.as_str()), Some(DOMAIN));
            assert_eq!(d.retry_info().is_some(), code == Code::Unavailable, "{s:?}");
        }
    }

    #[test]
    fn field_errors_name_the_field_and_internal_errors_hide_their_text() {
        let s = GatewayError::invalid("provider", "not in the directory").into_status();
        let br = s.get_details_bad_request().expect("bad request details");
        assert_eq!(br.field_violations[0].field, "provider");
        let s = GatewayError::Corrupt("/var/lib/renkei/db".into()).into_status();
        assert!(!s.message().contains("/var/lib"), "{}", s.message());
    }

    #[test]
    fn operator_failures_keep_their_codes_and_name_their_cause() {
        use renkei_ops::OpsError as O;
        let cases = [
            (O::BadCredentials, Code::Unauthenticated, "BAD_CREDENTIALS"),
            (
                O::SessionExpired { idle_secs: 900 },
                Code::Unauthenticated,
                "SESSION_EXPIRED",
            ),
            (
                O::LockedOut {
                    user: "a".into(),
                    failures: 5,
                    just_now: true,
                },
                Code::PermissionDenied,
                "LOCKED_OUT",
            ),
            (
                O::PasswordChangeRequired,
                Code::FailedPrecondition,
                "PASSWORD_CHANGE_REQUIRED",
            ),
            (
                O::UnknownUser {
                    user: "a".into(),
                    tenant: "t".into(),
                },
                Code::NotFound,
                "UNKNOWN_USER",
            ),
            (
                O::WeakPassword { min_len: 12 },
                Code::InvalidArgument,
                "WEAK_PASSWORD",
            ),
            (O::Corrupt("/var/lib/x".into()), Code::Internal, "INTERNAL"),
        ];
        for (e, code, why) in cases {
            let s = GatewayError::Ops(e).into_status();
            assert_eq!(s.code(), code, "{s:?}");
            assert_eq!(reason(&s), why, "{s:?}");
            assert!(!s.message().contains("/var/lib"), "{}", s.message());
        }
        let s = GatewayError::Ops(O::WeakPassword { min_len: 12 }).into_status();
        let br = s.get_details_bad_request().expect("bad request details");
        assert_eq!(br.field_violations[0].field, "new_password");
    }

    #[test]
    fn messages_are_bounded() {
        let s = GatewayError::NoSymbol {
            uan: "9".repeat(10_000),
        }
        .into_status();
        assert!(s.message().chars().count() < 2_000, "{}", s.message().len());
    }
}
