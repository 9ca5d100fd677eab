//! Operators of one gateway tenant (職員認証・権限管理): accounts with roles, argon2id
//! passwords, short-lived sessions with an idle timeout and one session per account,
//! lockout after repeated failures, and the append-only audit log.
//!
//! Storage is the tenant's own [`OperatorStore`], so an operator of one municipality cannot
//! even be looked up from another's. Tokens are stored only as SHA-256 hashes: a copy of the
//! database does not let anyone resume a session. Time comes from an injected clock, so
//! lockout, idle logout and password expiry are tested without waiting.
#![forbid(unsafe_code)]

mod audit;
mod error;

use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use renkei_core::{ProcedureCode, SharedClock, SystemClock};
use renkei_proto::v1::{Grant, OperatorAccount, OperatorRole};
use renkei_store::TenantStore;
use renkei_store::operators::{OperatorStore, StoredOperator, StoredSession, TokenHash};

pub use audit::{AuditLog, Terminal};
pub use error::{OpsError, OpsErrorKind};

/// Rules for operator accounts; one set per gateway.
#[derive(Clone, Debug)]
pub struct OpsPolicy {
    /// A session with no call for this long ends (一定時間操作が無い場合は自動的にログアウト).
    pub idle_timeout: Duration,
    /// A session ends this long after login, however active.
    pub session_max: Duration,
    /// Consecutive failed logins that lock an account (PIN 5回間違えることにより使用不可).
    pub max_failed_logins: u32,
    /// How long audit entries are kept (at least 5 years by default).
    pub audit_retention: Duration,
    pub min_password_len: usize,
    /// A one-time password (new account, reset) not changed within this long no longer
    /// logs in: an administrator resets it again.
    pub one_time_password_validity: Duration,
}

impl Default for OpsPolicy {
    fn default() -> Self {
        OpsPolicy {
            idle_timeout: Duration::from_secs(15 * 60),
            session_max: Duration::from_secs(10 * 3600),
            max_failed_logins: 5,
            audit_retention: Duration::from_secs(5 * 366 * 24 * 3600),
            min_password_len: 12,
            one_time_password_validity: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// What an operator may do. Rights come from grants; an administrator manages accounts but
/// does not thereby approve provisions or manage flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Right<'a> {
    Inquire,
    /// Approve held answers of this procedure.
    Approve(&'a str),
    ReviewRecords,
    ManageFlags,
    Administer,
}

/// An authenticated operator for the duration of one call.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user: String,
    pub grants: Vec<Grant>,
    pub must_change_password: bool,
    token_hash: TokenHash,
}

impl Actor {
    pub fn has(&self, right: &Right<'_>) -> bool {
        self.grants.iter().any(|g| {
            let role = OperatorRole::try_from(g.role).unwrap_or(OperatorRole::Unspecified);
            match (right, role) {
                (Right::Inquire, OperatorRole::Inquirer)
                | (Right::ReviewRecords, OperatorRole::RecordsReviewer)
                | (Right::ManageFlags, OperatorRole::FlagManager)
                | (Right::Administer, OperatorRole::Administrator) => true,
                (Right::Approve(p), OperatorRole::Approver) => g.procedure == *p,
                _ => false,
            }
        })
    }

    /// Procedures this operator may approve.
    pub fn approvable(&self) -> Vec<&str> {
        self.grants
            .iter()
            .filter(|g| g.role == OperatorRole::Approver as i32)
            .map(|g| g.procedure.as_str())
            .collect()
    }

    /// The gate after authentication. A one-time password is changed before anything
    /// else is done (only changing it, logging out and asking who one is are let through),
    /// so that a password an administrator has seen never stays in use.
    pub fn authorize(
        &self,
        tenant: &str,
        action: &str,
        right: Option<&Right<'_>>,
    ) -> Result<(), OpsError> {
        if self.must_change_password && !matches!(action, "password.change" | "logout" | "whoami") {
            return Err(OpsError::PasswordChangeRequired);
        }
        match right {
            Some(right) if !self.has(right) => Err(OpsError::MissingRight {
                user: self.user.clone(),
                tenant: tenant.to_owned(),
                right: format!("{right:?}"),
            }),
            _ => Ok(()),
        }
    }

    /// Held inquiries are seen and decided only by approvers, and only for their own
    /// procedures (情報提供の許可権限).
    pub fn require_approver(&self) -> Result<Vec<&str>, OpsError> {
        let procedures = self.approvable();
        if procedures.is_empty() {
            return Err(OpsError::NoApprovalRight {
                user: self.user.clone(),
            });
        }
        Ok(procedures)
    }

    pub fn require_approver_of(&self, procedure: &str) -> Result<(), OpsError> {
        if self.has(&Right::Approve(procedure)) {
            return Ok(());
        }
        Err(OpsError::NotApproverOf {
            user: self.user.clone(),
            procedure: procedure.to_owned(),
            approvable: self.approvable().into_iter().map(str::to_owned).collect(),
        })
    }

    /// The audit log is read by administrators and records reviewers.
    pub fn require_audit_reader(&self) -> Result<(), OpsError> {
        if self.has(&Right::Administer) || self.has(&Right::ReviewRecords) {
            return Ok(());
        }
        Err(OpsError::NotAuditReader {
            user: self.user.clone(),
        })
    }
}

/// Result of a successful login.
#[derive(Clone, Debug)]
pub struct LoggedIn {
    pub token: String,
    pub expires_at_ms: i64,
    pub account: OperatorAccount,
}

/// A fixed argon2id hash that unknown users are checked against, so that a wrong user
/// name costs as much time as a wrong password and names cannot be probed by timing.
const DUMMY_PASSWORD: &str = "renkei-no-such-user";

/// The operator accounts, sessions and audit log of one tenant.
#[derive(Debug)]
pub struct OperatorBook {
    tenant: String,
    store: Arc<dyn OperatorStore>,
    clock: SharedClock,
    policy: OpsPolicy,
    dummy_hash: String,
    /// Serialises logins, so two concurrent logins of one account cannot both win.
    login_lock: tokio::sync::Mutex<()>,
    pub audit: AuditLog,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn hash_password(password: &str) -> Result<String, OpsError> {
    let salt_bytes = renkei_crypto::random_bytes::<16>()?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| OpsError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| OpsError::Hash(e.to_string()))
}

fn verify_password(password: &str, hash: &str) -> Result<bool, OpsError> {
    let parsed = PasswordHash::new(hash).map_err(|e| OpsError::Corrupt(e.to_string()))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// argon2 is deliberately slow; keep it off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, OpsError> + Send + 'static,
) -> Result<T, OpsError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| OpsError::Hash(format!("hashing task failed: {e}")))?
}

/// A one-time password: 20 characters from an alphabet without look-alikes.
fn one_time_password() -> Result<String, OpsError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes = renkei_crypto::random_bytes::<20>()?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// User ids: 1–64 characters of `a-z 0-9 . _ -`, so they are safe in logs and tables.
pub fn check_user_id(user: &str) -> Result<(), OpsError> {
    if user.is_empty()
        || user.len() > 64
        || !user.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
    {
        return Err(OpsError::BadUserId);
    }
    Ok(())
}

fn check_grants(grants: &[Grant]) -> Result<(), OpsError> {
    if grants.is_empty() {
        return Err(OpsError::BadGrant {
            field: "grants".into(),
            message: "an account needs at least one role".into(),
        });
    }
    for (i, g) in grants.iter().enumerate() {
        let field = format!("grants[{i}]");
        match OperatorRole::try_from(g.role) {
            Ok(OperatorRole::Approver) => {
                ProcedureCode::parse(&g.procedure).map_err(|e| OpsError::BadGrant {
                    field: format!("{field}.procedure"),
                    message: format!("an approver grant names its procedure: {e}"),
                })?;
            }
            Ok(OperatorRole::Unspecified) | Err(_) => {
                return Err(OpsError::BadGrant {
                    field: format!("{field}.role"),
                    message: "is not a known role".into(),
                });
            }
            Ok(_) if !g.procedure.is_empty() => {
                return Err(OpsError::BadGrant {
                    field: format!("{field}.procedure"),
                    message: "only approver grants name a procedure".into(),
                });
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

impl OperatorBook {
    /// Production wiring: the tenant's sled store and the system clock.
    pub fn open(
        tenant: &str,
        db: &TenantStore,
        policy: OpsPolicy,
    ) -> Result<OperatorBook, OpsError> {
        let store: Arc<dyn OperatorStore> = Arc::new(db.operators()?);
        OperatorBook::open_with(tenant, store, policy, SystemClock::shared())
    }

    pub fn open_with(
        tenant: &str,
        store: Arc<dyn OperatorStore>,
        policy: OpsPolicy,
        clock: SharedClock,
    ) -> Result<OperatorBook, OpsError> {
        Ok(OperatorBook {
            tenant: tenant.to_owned(),
            audit: AuditLog::new(store.clone(), clock.clone(), policy.audit_retention),
            store,
            clock,
            dummy_hash: hash_password(DUMMY_PASSWORD)?,
            policy,
            login_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub fn policy(&self) -> &OpsPolicy {
        &self.policy
    }

    fn account_of(stored: &StoredOperator) -> OperatorAccount {
        stored.account.clone().unwrap_or_default()
    }

    /// Creates the tenant's first administrator, from the command line on the gateway
    /// host. Refused once an active administrator exists: after that, administrators
    /// create accounts through the API, where it is audited against a person.
    pub async fn bootstrap_admin(
        &self,
        user: &str,
        display_name: &str,
    ) -> Result<String, OpsError> {
        check_user_id(user)?;
        for s in self.store.operators().await? {
            let a = Self::account_of(&s);
            if !a.disabled
                && a.grants
                    .iter()
                    .any(|g| g.role == OperatorRole::Administrator as i32)
            {
                return Err(OpsError::AdminExists {
                    tenant: self.tenant.clone(),
                    admin: a.user,
                });
            }
        }
        let grants = vec![Grant {
            role: OperatorRole::Administrator as i32,
            procedure: String::new(),
        }];
        let (_, otp) = self.create(user, display_name, grants).await?;
        self.audit
            .append(renkei_proto::v1::AuditEntry {
                operator: "system".into(),
                terminal: "command-line".into(),
                action: "user.bootstrap-admin".into(),
                outcome: "ok".into(),
                detail: user.into(),
                ..Default::default()
            })
            .await?;
        Ok(otp)
    }

    async fn create(
        &self,
        user: &str,
        display_name: &str,
        grants: Vec<Grant>,
    ) -> Result<(OperatorAccount, String), OpsError> {
        check_user_id(user)?;
        check_grants(&grants)?;
        if display_name.chars().count() > 100 {
            return Err(OpsError::DisplayNameTooLong);
        }
        if self.store.operator(user).await?.is_some() {
            return Err(OpsError::UserExists {
                user: user.into(),
                tenant: self.tenant.clone(),
            });
        }
        let otp = one_time_password()?;
        let pw = otp.clone();
        let hash = blocking(move || hash_password(&pw)).await?;
        let now = self.clock.now_ms();
        let account = OperatorAccount {
            user: user.into(),
            display_name: display_name.into(),
            grants,
            disabled: false,
            locked: false,
            must_change_password: true,
            created_at_ms: now,
            tenant: self.tenant.clone(),
        };
        self.store
            .put_operator(&StoredOperator {
                account: Some(account.clone()),
                password_hash: hash,
                failures: 0,
                password_set_ms: now,
            })
            .await?;
        self.store.commit().await?;
        Ok((account, otp))
    }

    /// Adds an account with a one-time password (administrators only: checked by caller).
    pub async fn add_user(
        &self,
        user: &str,
        display_name: &str,
        grants: Vec<Grant>,
    ) -> Result<(OperatorAccount, String), OpsError> {
        self.create(user, display_name, grants).await
    }

    async fn must_load(&self, user: &str) -> Result<StoredOperator, OpsError> {
        check_user_id(user)?;
        self.store
            .operator(user)
            .await?
            .ok_or_else(|| OpsError::UnknownUser {
                user: user.into(),
                tenant: self.tenant.clone(),
            })
    }

    /// Disables an account and ends its session.
    pub async fn disable_user(&self, user: &str) -> Result<OperatorAccount, OpsError> {
        let mut s = self.must_load(user).await?;
        if let Some(a) = s.account.as_mut() {
            a.disabled = true;
        }
        self.store.put_operator(&s).await?;
        self.store.end_session_of(user).await?;
        self.store.commit().await?;
        Ok(Self::account_of(&s))
    }

    /// New one-time password; lifts a lockout and ends the account's session.
    pub async fn reset_password(&self, user: &str) -> Result<String, OpsError> {
        let mut s = self.must_load(user).await?;
        let otp = one_time_password()?;
        let pw = otp.clone();
        s.password_hash = blocking(move || hash_password(&pw)).await?;
        s.password_set_ms = self.clock.now_ms();
        s.failures = 0;
        if let Some(a) = s.account.as_mut() {
            a.locked = false;
            a.must_change_password = true;
        }
        self.store.put_operator(&s).await?;
        self.store.end_session_of(user).await?;
        self.store.commit().await?;
        Ok(otp)
    }

    pub async fn list_users(&self) -> Result<Vec<OperatorAccount>, OpsError> {
        Ok(self
            .store
            .operators()
            .await?
            .iter()
            .map(Self::account_of)
            .collect())
    }

    /// Why a session has ended by now, if it has.
    fn ended(&self, s: &StoredSession, now: i64) -> Option<OpsError> {
        if now - s.last_seen_ms > ms(self.policy.idle_timeout) {
            return Some(OpsError::SessionExpired {
                idle_secs: self.policy.idle_timeout.as_secs(),
            });
        }
        if now - s.created_ms > ms(self.policy.session_max) {
            return Some(OpsError::SessionTooOld);
        }
        None
    }

    /// Checks a password and opens the account's only session.
    ///
    /// A wrong user and a wrong password get the same answer. The account locks after
    /// `max_failed_logins` consecutive failures; a locked or disabled account cannot log
    /// in even with the right password. A second login while a session is live is
    /// refused: the operator logs out first, or waits for the idle timeout.
    pub async fn login(
        &self,
        user: &str,
        password: &str,
        terminal: &Terminal,
    ) -> Result<LoggedIn, OpsError> {
        if check_user_id(user).is_err() || password.is_empty() || password.len() > 1024 {
            return Err(OpsError::BadCredentials);
        }
        let _guard = self.login_lock.lock().await;
        let Some(mut stored) = self.store.operator(user).await? else {
            let dummy = self.dummy_hash.clone();
            let pw = password.to_owned();
            blocking(move || verify_password(&pw, &dummy)).await?;
            return Err(OpsError::BadCredentials);
        };
        let account = Self::account_of(&stored);
        if account.disabled {
            return Err(OpsError::Disabled { user: user.into() });
        }
        if account.locked {
            return Err(OpsError::LockedOut {
                user: user.into(),
                failures: self.policy.max_failed_logins,
                just_now: false,
            });
        }
        let (pw, hash) = (password.to_owned(), stored.password_hash.clone());
        if !blocking(move || verify_password(&pw, &hash)).await? {
            stored.failures += 1;
            let locked = stored.failures >= self.policy.max_failed_logins;
            if let Some(a) = stored.account.as_mut() {
                a.locked = locked;
            }
            self.store.put_operator(&stored).await?;
            self.store.commit().await?;
            return Err(if locked {
                OpsError::LockedOut {
                    user: user.into(),
                    failures: stored.failures,
                    just_now: true,
                }
            } else {
                OpsError::BadCredentials
            });
        }
        let now = self.clock.now_ms();
        // Accounts from before passwords were dated (0) keep their one-time password.
        if account.must_change_password
            && stored.password_set_ms != 0
            && now - stored.password_set_ms > ms(self.policy.one_time_password_validity)
        {
            return Err(OpsError::OneTimePasswordExpired {
                user: user.into(),
                validity_hours: self.policy.one_time_password_validity.as_secs() / 3600,
            });
        }
        if let Some((_, live)) = self.store.session_of(user).await? {
            if self.ended(&live, now).is_none() {
                return Err(OpsError::AlreadyLoggedIn {
                    user: user.into(),
                    terminal: live.terminal,
                    since: renkei_core::format_ms(live.created_ms),
                    idle_secs: self.policy.idle_timeout.as_secs(),
                });
            }
            self.store.end_session_of(user).await?;
        }
        stored.failures = 0;
        self.store.put_operator(&stored).await?;
        let token_bytes = renkei_crypto::random_bytes::<32>()?;
        let token = base64url(&token_bytes);
        let hash = renkei_crypto::sha256(token.as_bytes());
        let session = StoredSession {
            user: user.into(),
            terminal: terminal.name.clone(),
            created_ms: now,
            last_seen_ms: now,
        };
        self.store.put_session(&hash, &session).await?;
        self.store.commit().await?;
        Ok(LoggedIn {
            token,
            expires_at_ms: now + ms(self.policy.session_max),
            account: Self::account_of(&stored),
        })
    }

    /// The operator behind a session token, if the session is live and was opened at this
    /// terminal. An idle or over-age session is ended here; the error says which.
    /// Returns the user of an ended session alongside the error, for the audit log.
    pub async fn authenticate(
        &self,
        token: &str,
        terminal: &Terminal,
    ) -> Result<Actor, (OpsError, Option<String>)> {
        if token.is_empty() || token.len() > 128 {
            return Err((OpsError::NoSession, None));
        }
        let hash = renkei_crypto::sha256(token.as_bytes());
        let Some(s) = self
            .store
            .session(&hash)
            .await
            .map_err(|e| (OpsError::from(e), None))?
        else {
            return Err((OpsError::SessionEnded, None));
        };
        let now = self.clock.now_ms();
        let end = |why: OpsError| async {
            let _ = self.store.end_session_of(&s.user).await;
            let _ = self.store.commit().await;
            Err((why, Some(s.user.clone())))
        };
        if let Some(why) = self.ended(&s, now) {
            return end(why).await;
        }
        if s.terminal != terminal.name {
            return Err((OpsError::OtherTerminal, None));
        }
        let stored = match self.store.operator(&s.user).await {
            Ok(Some(a)) => a,
            Ok(None) => return end(OpsError::OperatorGone).await,
            Err(e) => return Err((e.into(), None)),
        };
        let account = Self::account_of(&stored);
        if account.disabled || account.locked {
            return end(OpsError::AccountUnusable {
                user: s.user.clone(),
            })
            .await;
        }
        let touched = StoredSession {
            last_seen_ms: now,
            ..s.clone()
        };
        self.store
            .put_session(&hash, &touched)
            .await
            .map_err(|e| (OpsError::from(e), None))?;
        Ok(Actor {
            user: s.user.clone(),
            grants: account.grants,
            must_change_password: account.must_change_password,
            token_hash: hash,
        })
    }

    /// Whether a session with this token exists (live or not), to tell an operator who
    /// presents it to another municipality's service why they are refused.
    pub async fn has_session(&self, token: &str) -> Result<bool, OpsError> {
        let hash = renkei_crypto::sha256(token.as_bytes());
        Ok(self.store.session(&hash).await?.is_some())
    }

    pub async fn logout(&self, actor: &Actor) -> Result<(), OpsError> {
        // Only the caller's own session: a later login elsewhere would have replaced it.
        if let Some((hash, _)) = self.store.session_of(&actor.user).await?
            && hash == actor.token_hash
        {
            self.store.end_session_of(&actor.user).await?;
        }
        self.store.commit().await?;
        Ok(())
    }

    pub async fn whoami(&self, actor: &Actor) -> Result<OperatorAccount, OpsError> {
        Ok(Self::account_of(&self.must_load(&actor.user).await?))
    }

    /// Replaces the password after checking the current one; clears the one-time flag.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: &str,
        new: &str,
    ) -> Result<(), OpsError> {
        let mut s = self.must_load(&actor.user).await?;
        let (pw, hash) = (current.to_owned(), s.password_hash.clone());
        if current.len() > 1024 || !blocking(move || verify_password(&pw, &hash)).await? {
            return Err(OpsError::WrongCurrentPassword);
        }
        let n = new.chars().count();
        if n < self.policy.min_password_len || new.len() > 1024 {
            return Err(OpsError::WeakPassword {
                min_len: self.policy.min_password_len,
            });
        }
        if new == current {
            return Err(OpsError::PasswordUnchanged);
        }
        let pw = new.to_owned();
        s.password_hash = blocking(move || hash_password(&pw)).await?;
        s.password_set_ms = self.clock.now_ms();
        if let Some(a) = s.account.as_mut() {
            a.must_change_password = false;
        }
        self.store.put_operator(&s).await?;
        self.store.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use renkei_core::{AgencyCode, Clock as _, FakeClock};
    use renkei_store::{Store, StoreOptions, TreeKind};

    const T0: i64 = 1_800_000_000_000;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        clock: Arc<FakeClock>,
        book: OperatorBook,
    }

    fn fixture(policy: OpsPolicy) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &StoreOptions::default()).unwrap();
        let db = store.tenant(&AgencyCode::parse("141003").unwrap());
        let clock = FakeClock::at(T0);
        let book = OperatorBook::open_with(
            "141003",
            Arc::new(db.operators().unwrap()),
            policy,
            clock.clone(),
        )
        .unwrap();
        Fixture {
            _dir: dir,
            store,
            clock,
            book,
        }
    }

    fn terminal(name: &str) -> Terminal {
        Terminal {
            name: name.into(),
            ..Default::default()
        }
    }

    const PASSPHRASE: &str = "a much longer passphrase";

    /// An administrator who has changed the one-time password, logged out.
    async fn admin(b: &OperatorBook) {
        let otp = b.bootstrap_admin("admin", "Admin").await.unwrap();
        let t = terminal("t1");
        let li = b.login("admin", &otp, &t).await.unwrap();
        let actor = b.authenticate(&li.token, &t).await.unwrap();
        b.change_password(&actor, &otp, PASSPHRASE).await.unwrap();
        b.logout(&actor).await.unwrap();
    }

    #[tokio::test]
    async fn one_time_password_then_change_then_login() {
        let f = fixture(OpsPolicy::default());
        let b = &f.book;
        let otp = b.bootstrap_admin("admin", "Admin").await.unwrap();
        assert!(matches!(
            b.bootstrap_admin("admin2", "").await,
            Err(OpsError::AdminExists { .. })
        ));
        let t = terminal("t1");
        let li = b.login("admin", &otp, &t).await.unwrap();
        assert!(li.account.must_change_password);
        let actor = b.authenticate(&li.token, &t).await.unwrap();
        assert!(actor.must_change_password);
        assert!(actor.has(&Right::Administer));
        assert!(!actor.has(&Right::Approve("vaccination")));
        assert!(matches!(
            actor.authorize("141003", "user.list", Some(&Right::Administer)),
            Err(OpsError::PasswordChangeRequired)
        ));
        assert!(matches!(
            b.change_password(&actor, &otp, "short").await,
            Err(OpsError::WeakPassword { .. })
        ));
        b.change_password(&actor, &otp, PASSPHRASE).await.unwrap();
        b.logout(&actor).await.unwrap();
        assert!(b.authenticate(&li.token, &t).await.is_err());
        assert!(matches!(
            b.login("admin", &otp, &t).await,
            Err(OpsError::BadCredentials)
        ));
        let li = b.login("admin", PASSPHRASE, &t).await.unwrap();
        assert!(!li.account.must_change_password);
        let actor = b.authenticate(&li.token, &t).await.unwrap();
        assert!(
            actor
                .authorize("141003", "user.list", Some(&Right::Administer))
                .is_ok()
        );
        assert!(matches!(
            actor.authorize("141003", "flag.set", Some(&Right::ManageFlags)),
            Err(OpsError::MissingRight { .. })
        ));
    }

    #[tokio::test]
    async fn lockout_after_max_failures_until_reset() {
        let f = fixture(OpsPolicy {
            max_failed_logins: 3,
            ..OpsPolicy::default()
        });
        let b = &f.book;
        admin(b).await;
        let t = terminal("t1");
        for _ in 0..2 {
            assert!(matches!(
                b.login("admin", "wrong password!", &t).await,
                Err(OpsError::BadCredentials)
            ));
        }
        assert!(matches!(
            b.login("admin", "wrong password!", &t).await,
            Err(OpsError::LockedOut {
                just_now: true,
                failures: 3,
                ..
            })
        ));
        // Locked: the right password does not help, however long one waits.
        f.clock.advance(Duration::from_secs(30 * 24 * 3600));
        assert!(matches!(
            b.login("admin", PASSPHRASE, &t).await,
            Err(OpsError::LockedOut {
                just_now: false,
                ..
            })
        ));
        let otp = b.reset_password("admin").await.unwrap();
        b.login("admin", &otp, &t).await.unwrap();
    }

    #[tokio::test]
    async fn a_success_resets_the_failure_count() {
        let f = fixture(OpsPolicy {
            max_failed_logins: 2,
            ..OpsPolicy::default()
        });
        let b = &f.book;
        admin(b).await;
        let t = terminal("t1");
        assert!(b.login("admin", "wrong password!", &t).await.is_err());
        let li = b.login("admin", PASSPHRASE, &t).await.unwrap();
        b.logout(&b.authenticate(&li.token, &t).await.unwrap())
            .await
            .unwrap();
        assert!(matches!(
            b.login("admin", "wrong password!", &t).await,
            Err(OpsError::BadCredentials)
        ));
    }

    #[tokio::test]
    async fn idle_sessions_end_and_a_new_login_is_then_allowed() {
        let idle = Duration::from_secs(15 * 60);
        let f = fixture(OpsPolicy {
            idle_timeout: idle,
            ..OpsPolicy::default()
        });
        let b = &f.book;
        admin(b).await;
        let t = terminal("t1");
        let li = b.login("admin", PASSPHRASE, &t).await.unwrap();
        // Activity keeps the session: each call is within the timeout of the last.
        for _ in 0..3 {
            f.clock.advance(idle - Duration::from_secs(1));
            b.authenticate(&li.token, &t).await.unwrap();
        }
        assert!(matches!(
            b.login("admin", PASSPHRASE, &terminal("t2")).await,
            Err(OpsError::AlreadyLoggedIn { .. })
        ));
        f.clock.advance(idle + Duration::from_millis(1));
        let (e, user) = b.authenticate(&li.token, &t).await.unwrap_err();
        assert!(matches!(e, OpsError::SessionExpired { .. }), "{e}");
        assert_eq!(user.as_deref(), Some("admin"), "named for the audit log");
        assert!(matches!(
            b.authenticate(&li.token, &t).await,
            Err((OpsError::SessionEnded, None))
        ));
        b.login("admin", PASSPHRASE, &terminal("t2")).await.unwrap();
    }

    #[tokio::test]
    async fn sessions_end_at_their_maximum_length_however_active() {
        let f = fixture(OpsPolicy {
            idle_timeout: Duration::from_secs(600),
            session_max: Duration::from_secs(3600),
            ..OpsPolicy::default()
        });
        let b = &f.book;
        admin(b).await;
        let t = terminal("t1");
        let li = b.login("admin", PASSPHRASE, &t).await.unwrap();
        assert_eq!(li.expires_at_ms, T0 + 3_600_000);
        // Touched every 500 s up to 3,500 s: never idle for long.
        for _ in 0..7 {
            f.clock.advance(Duration::from_secs(500));
            b.authenticate(&li.token, &t).await.unwrap();
        }
        assert_eq!(f.clock.now_ms(), T0 + 3_500_000);
        f.clock.set(T0 + 3_600_001);
        assert!(matches!(
            b.authenticate(&li.token, &t).await,
            Err((OpsError::SessionTooOld, Some(_)))
        ));
    }

    #[tokio::test]
    async fn one_time_passwords_expire_unless_changed() {
        let validity = Duration::from_secs(72 * 3600);
        let f = fixture(OpsPolicy {
            one_time_password_validity: validity,
            ..OpsPolicy::default()
        });
        let b = &f.book;
        let t = terminal("t1");
        let otp = b.bootstrap_admin("admin", "").await.unwrap();
        f.clock.advance(validity + Duration::from_millis(1));
        assert!(matches!(
            b.login("admin", &otp, &t).await,
            Err(OpsError::OneTimePasswordExpired { .. })
        ));
        // A reset starts a new validity period.
        let otp = b.reset_password("admin").await.unwrap();
        f.clock.advance(validity - Duration::from_secs(1));
        let li = b.login("admin", &otp, &t).await.unwrap();
        let actor = b.authenticate(&li.token, &t).await.unwrap();
        b.change_password(&actor, &otp, PASSPHRASE).await.unwrap();
        b.logout(&actor).await.unwrap();
        // A chosen password does not expire.
        f.clock.advance(validity * 10);
        b.login("admin", PASSPHRASE, &t).await.unwrap();
    }

    #[tokio::test]
    async fn tokens_are_stored_only_as_hashes() {
        let f = fixture(OpsPolicy::default());
        let b = &f.book;
        let otp = b.bootstrap_admin("admin", "").await.unwrap();
        let li = b.login("admin", &otp, &terminal("t1")).await.unwrap();
        let db = f.store.tenant(&AgencyCode::parse("141003").unwrap());
        for (kind, secret) in [(TreeKind::Sessions, &li.token), (TreeKind::Operators, &otp)] {
            let tree = db.tree(kind).unwrap();
            assert!(!tree.is_empty(), "{kind:?} holds something");
            for item in tree.iter() {
                let (k, v) = item.unwrap();
                let hay = [k.as_ref(), v.as_ref()].concat();
                assert!(
                    !hay.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "a secret is stored in clear in {kind:?}"
                );
            }
        }
    }

    #[test]
    fn grants_are_checked() {
        let g = |role: OperatorRole, p: &str| Grant {
            role: role as i32,
            procedure: p.into(),
        };
        assert!(check_grants(&[g(OperatorRole::Approver, "vaccination")]).is_ok());
        assert!(check_grants(&[g(OperatorRole::Approver, "")]).is_err());
        assert!(check_grants(&[g(OperatorRole::Inquirer, "vaccination")]).is_err());
        assert!(check_grants(&[g(OperatorRole::Unspecified, "")]).is_err());
        assert!(check_grants(&[]).is_err());
    }

    #[test]
    fn base64url_encodes_like_the_rfc() {
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }
}
