/// Why an operator call failed, named by what happened. The gateway's edge module turns
/// these into gRPC statuses; this crate knows nothing of the wire, so a second front end
/// (a CLI on the host, a test) sees the same causes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    // Logging in. A wrong user and a wrong password are one cause on purpose: telling
    // them apart would let anyone probe which user ids exist.
    #[error("the user or the password is wrong")]
    BadCredentials,
    #[error("operator {user} is disabled")]
    Disabled { user: String },
    /// Locked after `failures` consecutive failed logins; `just_now` when this login
    /// was the one that locked it.
    #[error("{}", locked_message(user, *failures, *just_now))]
    LockedOut {
        user: String,
        failures: u32,
        just_now: bool,
    },
    /// One session per operator (docs/operations.md).
    #[error(
        "operator {user} is already logged in at terminal {terminal} since {since}; one session \
         per operator: log out there first (or wait {idle_secs} s of inactivity)"
    )]
    AlreadyLoggedIn {
        user: String,
        terminal: String,
        since: String,
        idle_secs: u64,
    },

    /// A one-time password left unchanged past its validity.
    #[error(
        "the one-time password of operator {user} expired (valid {validity_hours} h); an \
         administrator must reset the password"
    )]
    OneTimePasswordExpired { user: String, validity_hours: u64 },

    // Sessions.
    #[error("no session token: log in first")]
    NoSession,
    #[error("the session has ended or never existed: log in again")]
    SessionEnded,
    #[error("the session ended after {idle_secs} s without activity: log in again")]
    SessionExpired { idle_secs: u64 },
    #[error("the session reached its maximum length: log in again")]
    SessionTooOld,
    #[error("this session was opened at another terminal")]
    OtherTerminal,
    #[error("the operator no longer exists")]
    OperatorGone,
    #[error("operator {user} is disabled or locked")]
    AccountUnusable { user: String },
    /// A token of another municipality's operator, presented here.
    #[error(
        "this session belongs to another municipality's operator; operators act only within \
         their own municipality ({tenant} here)"
    )]
    ForeignSession { tenant: String },

    // Authorisation.
    #[error("the password is a one-time password: change it first (ChangePassword)")]
    PasswordChangeRequired,
    #[error("operator {user} of {tenant} lacks the right {right}")]
    MissingRight {
        user: String,
        tenant: String,
        right: String,
    },
    #[error(
        "operator {user} may not read the audit log: administrators and records reviewers only"
    )]
    NotAuditReader { user: String },
    #[error("operator {user} holds no approval right (情報提供の許可権限) for any procedure")]
    NoApprovalRight { user: String },
    #[error("operator {user} may approve only {approvable:?}, not procedure {procedure:?}")]
    NotApproverOf {
        user: String,
        procedure: String,
        approvable: Vec<String>,
    },
    /// A back-office certificate on an operator call: systems may only manage flags.
    #[error("a back-office system may only manage flags; operator calls come from a terminal")]
    SystemNotOperator,

    // Accounts.
    #[error("no operator {user} in {tenant}")]
    UnknownUser { user: String, tenant: String },
    #[error("operator {user} already exists in {tenant}")]
    UserExists { user: String, tenant: String },
    #[error(
        "{tenant} already has an administrator ({admin}); add further accounts with `renkei ops users add`"
    )]
    AdminExists { tenant: String, admin: String },
    #[error("user: must be 1-64 characters of a-z, 0-9, '.', '_' and '-'")]
    BadUserId,
    #[error("{field}: {message}")]
    BadGrant { field: String, message: String },
    #[error("display_name: is longer than 100 characters")]
    DisplayNameTooLong,
    #[error("current_password: is wrong")]
    WrongCurrentPassword,
    #[error("new_password: must be {min_len} to 1024 characters long")]
    WeakPassword { min_len: usize },
    #[error("new_password: must differ from the current password")]
    PasswordUnchanged,

    // Internals: the caller is told only that they happened.
    #[error("storage: {0}")]
    Store(#[from] renkei_store::StoreError),
    #[error("stored operator data is unreadable: {0}")]
    Corrupt(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("randomness: {0}")]
    Crypto(#[from] renkei_crypto::CryptoError),
}

fn locked_message(user: &str, failures: u32, just_now: bool) -> String {
    if just_now {
        format!(
            "the password is wrong; operator {user} is now locked after {failures} failed logins"
        )
    } else {
        format!(
            "operator {user} is locked after {failures} failed logins; an administrator must reset the password"
        )
    }
}

impl From<renkei_store::SledError> for OpsError {
    fn from(e: renkei_store::SledError) -> Self {
        OpsError::Store(renkei_store::StoreError::from(e))
    }
}

/// How a front end should class a failure; the gateway's edge maps each class to a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpsErrorKind {
    /// Who is calling is not established (no, wrong or ended session, bad credentials).
    Unauthenticated,
    /// The caller is known but may not do this.
    Denied,
    /// A request field is wrong; [`OpsError::field`] names it.
    Invalid,
    NotFound,
    AlreadyExists,
    /// The account is not in a state for this call.
    Refused,
    /// Storage, hashing or randomness failed: not the caller's concern.
    Internal,
}

impl OpsError {
    pub fn kind(&self) -> OpsErrorKind {
        use OpsError as E;
        use OpsErrorKind as K;
        match self {
            E::BadCredentials
            | E::NoSession
            | E::SessionEnded
            | E::SessionExpired { .. }
            | E::SessionTooOld
            | E::OtherTerminal
            | E::OperatorGone
            | E::AccountUnusable { .. } => K::Unauthenticated,
            E::Disabled { .. }
            | E::LockedOut { .. }
            | E::ForeignSession { .. }
            | E::MissingRight { .. }
            | E::NotAuditReader { .. }
            | E::NoApprovalRight { .. }
            | E::NotApproverOf { .. }
            | E::SystemNotOperator => K::Denied,
            E::BadUserId
            | E::BadGrant { .. }
            | E::DisplayNameTooLong
            | E::WrongCurrentPassword
            | E::WeakPassword { .. }
            | E::PasswordUnchanged => K::Invalid,
            E::UnknownUser { .. } => K::NotFound,
            E::UserExists { .. } | E::AdminExists { .. } => K::AlreadyExists,
            E::AlreadyLoggedIn { .. }
            | E::PasswordChangeRequired
            | E::OneTimePasswordExpired { .. } => K::Refused,
            E::Store(_) | E::Corrupt(_) | E::Hash(_) | E::Crypto(_) => K::Internal,
        }
    }

    /// Stable reason string for clients to branch on (the gateway puts it in ErrorInfo).
    pub fn reason(&self) -> &'static str {
        use OpsError as E;
        match self {
            E::BadCredentials => "BAD_CREDENTIALS",
            E::Disabled { .. } => "OPERATOR_DISABLED",
            E::LockedOut { .. } => "LOCKED_OUT",
            E::AlreadyLoggedIn { .. } => "ALREADY_LOGGED_IN",
            E::OneTimePasswordExpired { .. } => "ONE_TIME_PASSWORD_EXPIRED",
            E::NoSession => "NO_SESSION",
            E::SessionEnded => "SESSION_ENDED",
            E::SessionExpired { .. } => "SESSION_EXPIRED",
            E::SessionTooOld => "SESSION_TOO_OLD",
            E::OtherTerminal => "OTHER_TERMINAL",
            E::OperatorGone => "OPERATOR_GONE",
            E::AccountUnusable { .. } => "ACCOUNT_UNUSABLE",
            E::ForeignSession { .. } => "FOREIGN_SESSION",
            E::PasswordChangeRequired => "PASSWORD_CHANGE_REQUIRED",
            E::MissingRight { .. } => "MISSING_RIGHT",
            E::NotAuditReader { .. } => "NOT_AUDIT_READER",
            E::NoApprovalRight { .. } => "NO_APPROVAL_RIGHT",
            E::NotApproverOf { .. } => "NOT_APPROVER_OF",
            E::SystemNotOperator => "SYSTEM_NOT_OPERATOR",
            E::UnknownUser { .. } => "UNKNOWN_USER",
            E::UserExists { .. } => "USER_EXISTS",
            E::AdminExists { .. } => "ADMIN_EXISTS",
            E::BadUserId => "BAD_USER_ID",
            E::BadGrant { .. } => "BAD_GRANT",
            E::DisplayNameTooLong => "DISPLAY_NAME_TOO_LONG",
            E::WrongCurrentPassword => "WRONG_CURRENT_PASSWORD",
            E::WeakPassword { .. } => "WEAK_PASSWORD",
            E::PasswordUnchanged => "PASSWORD_UNCHANGED",
            E::Store(_) | E::Corrupt(_) | E::Hash(_) | E::Crypto(_) => "INTERNAL",
        }
    }

    /// The request field at fault, with what is wrong with it, for a field error.
    pub fn field(&self) -> Option<(String, String)> {
        use OpsError as E;
        let f = |field: &str, m: &str| Some((field.to_owned(), m.to_owned()));
        match self {
            E::BadUserId => f(
                "user",
                "must be 1-64 characters of a-z, 0-9, '.', '_' and '-'",
            ),
            E::BadGrant { field, message } => Some((field.clone(), message.clone())),
            E::DisplayNameTooLong => f("display_name", "is longer than 100 characters"),
            E::WrongCurrentPassword => f("current_password", "is wrong"),
            E::WeakPassword { min_len } => Some((
                "new_password".into(),
                format!("must be {min_len} to 1024 characters long"),
            )),
            E::PasswordUnchanged => f("new_password", "must differ from the current password"),
            _ => None,
        }
    }

    /// Short word for the audit log's outcome column.
    pub fn audit_outcome(&self) -> &'static str {
        match self.kind() {
            OpsErrorKind::Unauthenticated => "unauthenticated",
            OpsErrorKind::Denied => "denied",
            OpsErrorKind::Invalid => "invalid",
            OpsErrorKind::NotFound => "not-found",
            OpsErrorKind::AlreadyExists => "exists",
            OpsErrorKind::Refused => "refused",
            OpsErrorKind::Internal => "failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_name_their_field_and_others_do_not() {
        for e in [
            OpsError::BadUserId,
            OpsError::DisplayNameTooLong,
            OpsError::WrongCurrentPassword,
            OpsError::WeakPassword { min_len: 12 },
            OpsError::PasswordUnchanged,
        ] {
            assert_eq!(e.kind(), OpsErrorKind::Invalid, "{e}");
            let (field, message) = e.field().unwrap();
            assert_eq!(e.to_string(), format!("{field}: {message}"));
        }
        assert!(OpsError::BadCredentials.field().is_none());
        assert!(OpsError::Corrupt("x".into()).field().is_none());
    }

    #[test]
    fn lockout_says_whether_this_login_locked_it() {
        let e = |just_now| OpsError::LockedOut {
            user: "a".into(),
            failures: 5,
            just_now,
        };
        assert!(e(true).to_string().contains("now locked after 5"));
        assert!(e(false).to_string().contains("must reset the password"));
        assert_eq!(e(true).audit_outcome(), "denied");
    }
}
