//! Operators of one gateway tenant (職員認証・権限管理): accounts with roles, argon2id
//! passwords, short-lived sessions with an idle timeout and one session per account,
//! lockout after repeated failures, and the append-only audit log.
//!
//! Storage is the tenant's own trees, so an operator of one municipality cannot even be
//! looked up from another's. Tokens are stored only as SHA-256 hashes: a copy of the
//! database does not let anyone resume a session.
#![forbid(unsafe_code)]

mod audit;
mod error;

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use prost::Message as _;
use renkei_core::{ProcedureCode, now_ms};
use renkei_proto::v1::{Grant, OperatorAccount, OperatorRole};
use renkei_store::{TenantStore, Tree, TreeKind};

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
}

impl Default for OpsPolicy {
    fn default() -> Self {
        OpsPolicy {
            idle_timeout: Duration::from_secs(15 * 60),
            session_max: Duration::from_secs(10 * 3600),
            max_failed_logins: 5,
            audit_retention: Duration::from_secs(5 * 366 * 24 * 3600),
            min_password_len: 12,
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
    token_hash: [u8; 32],
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

#[derive(Clone, PartialEq, prost::Message)]
struct StoredAccount {
    #[prost(message, optional, tag = "1")]
    account: Option<OperatorAccount>,
    #[prost(string, tag = "2")]
    password_hash: String,
    #[prost(uint32, tag = "3")]
    failures: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StoredSession {
    #[prost(string, tag = "1")]
    user: String,
    #[prost(string, tag = "2")]
    terminal: String,
    #[prost(int64, tag = "3")]
    created_ms: i64,
    #[prost(int64, tag = "4")]
    last_seen_ms: i64,
}

const SESSION_PREFIX: &[u8] = b"s/";
const USER_PREFIX: &[u8] = b"u/";

/// A fixed argon2id hash that unknown users are checked against, so that a wrong user
/// name costs as much time as a wrong password and names cannot be probed by timing.
const DUMMY_PASSWORD: &str = "renkei-no-such-user";

/// The operator accounts, sessions and audit log of one tenant.
#[derive(Debug)]
pub struct OperatorBook {
    tenant: String,
    accounts: Tree,
    sessions: Tree,
    db: TenantStore,
    policy: OpsPolicy,
    dummy_hash: String,
    /// Serialises logins, so two concurrent logins of one account cannot both win.
    login_lock: tokio::sync::Mutex<()>,
    pub audit: AuditLog,
}

fn session_key(hash: &[u8; 32]) -> Vec<u8> {
    [SESSION_PREFIX, hash.as_slice()].concat()
}

fn user_key(user: &str) -> Vec<u8> {
    [USER_PREFIX, user.as_bytes()].concat()
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
    pub fn open(
        tenant: &str,
        db: &TenantStore,
        policy: OpsPolicy,
    ) -> Result<OperatorBook, OpsError> {
        let audit = AuditLog::open(
            db.tree(TreeKind::Audit)?,
            db.clone(),
            policy.audit_retention,
        )?;
        Ok(OperatorBook {
            tenant: tenant.to_owned(),
            accounts: db.tree(TreeKind::Operators)?,
            sessions: db.tree(TreeKind::Sessions)?,
            db: db.clone(),
            dummy_hash: hash_password(DUMMY_PASSWORD)?,
            policy,
            login_lock: tokio::sync::Mutex::new(()),
            audit,
        })
    }

    pub fn policy(&self) -> &OpsPolicy {
        &self.policy
    }

    fn load(&self, user: &str) -> Result<Option<StoredAccount>, OpsError> {
        self.accounts
            .get(user.as_bytes())?
            .map(|v| {
                StoredAccount::decode(v.as_ref()).map_err(|e| OpsError::Corrupt(e.to_string()))
            })
            .transpose()
    }

    fn save(&self, stored: &StoredAccount) -> Result<(), OpsError> {
        let user = stored
            .account
            .as_ref()
            .map(|a| a.user.clone())
            .unwrap_or_default();
        self.accounts
            .insert(user.as_bytes(), stored.encode_to_vec())?;
        Ok(())
    }

    fn account_of(stored: &StoredAccount) -> OperatorAccount {
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
        for item in self.accounts.iter() {
            let (_, v) = item?;
            let s =
                StoredAccount::decode(v.as_ref()).map_err(|e| OpsError::Corrupt(e.to_string()))?;
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
        if self.load(user)?.is_some() {
            return Err(OpsError::UserExists {
                user: user.into(),
                tenant: self.tenant.clone(),
            });
        }
        let otp = one_time_password()?;
        let pw = otp.clone();
        let hash = blocking(move || hash_password(&pw)).await?;
        let account = OperatorAccount {
            user: user.into(),
            display_name: display_name.into(),
            grants,
            disabled: false,
            locked: false,
            must_change_password: true,
            created_at_ms: now_ms(),
            tenant: self.tenant.clone(),
        };
        self.save(&StoredAccount {
            account: Some(account.clone()),
            password_hash: hash,
            failures: 0,
        })?;
        self.db.commit().await?;
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

    fn must_load(&self, user: &str) -> Result<StoredAccount, OpsError> {
        check_user_id(user)?;
        self.load(user)?.ok_or_else(|| OpsError::UnknownUser {
            user: user.into(),
            tenant: self.tenant.clone(),
        })
    }

    /// Disables an account and ends its session.
    pub async fn disable_user(&self, user: &str) -> Result<OperatorAccount, OpsError> {
        let mut s = self.must_load(user)?;
        if let Some(a) = s.account.as_mut() {
            a.disabled = true;
        }
        self.save(&s)?;
        self.end_sessions_of(user)?;
        self.db.commit().await?;
        Ok(Self::account_of(&s))
    }

    /// New one-time password; lifts a lockout and ends the account's session.
    pub async fn reset_password(&self, user: &str) -> Result<String, OpsError> {
        let mut s = self.must_load(user)?;
        let otp = one_time_password()?;
        let pw = otp.clone();
        s.password_hash = blocking(move || hash_password(&pw)).await?;
        s.failures = 0;
        if let Some(a) = s.account.as_mut() {
            a.locked = false;
            a.must_change_password = true;
        }
        self.save(&s)?;
        self.end_sessions_of(user)?;
        self.db.commit().await?;
        Ok(otp)
    }

    pub fn list_users(&self) -> Result<Vec<OperatorAccount>, OpsError> {
        let mut out = Vec::new();
        for item in self.accounts.iter() {
            let (_, v) = item?;
            let s =
                StoredAccount::decode(v.as_ref()).map_err(|e| OpsError::Corrupt(e.to_string()))?;
            out.push(Self::account_of(&s));
        }
        Ok(out)
    }

    fn end_sessions_of(&self, user: &str) -> Result<(), OpsError> {
        if let Some(h) = self.sessions.remove(user_key(user))? {
            self.sessions
                .remove([SESSION_PREFIX, h.as_ref()].concat())?;
        }
        Ok(())
    }

    fn live_session(&self, hash: &[u8], now: i64) -> Result<Option<StoredSession>, OpsError> {
        let Some(v) = self.sessions.get([SESSION_PREFIX, hash].concat())? else {
            return Ok(None);
        };
        let s = StoredSession::decode(v.as_ref()).map_err(|e| OpsError::Corrupt(e.to_string()))?;
        let idle = now - s.last_seen_ms > self.policy.idle_timeout.as_millis() as i64;
        let old = now - s.created_ms > self.policy.session_max.as_millis() as i64;
        Ok((!idle && !old).then_some(s))
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
        let Some(mut stored) = self.load(user)? else {
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
            self.save(&stored)?;
            self.db.commit().await?;
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
        let now = now_ms();
        if let Some(h) = self.sessions.get(user_key(user))? {
            if let Some(live) = self.live_session(&h, now)? {
                return Err(OpsError::AlreadyLoggedIn {
                    user: user.into(),
                    terminal: live.terminal,
                    since: renkei_core::format_ms(live.created_ms),
                    idle_secs: self.policy.idle_timeout.as_secs(),
                });
            }
            self.end_sessions_of(user)?;
        }
        stored.failures = 0;
        self.save(&stored)?;
        let token_bytes = renkei_crypto::random_bytes::<32>()?;
        let token = base64url(&token_bytes);
        let hash = renkei_crypto::sha256(token.as_bytes());
        let session = StoredSession {
            user: user.into(),
            terminal: terminal.name.clone(),
            created_ms: now,
            last_seen_ms: now,
        };
        self.sessions
            .insert(session_key(&hash), session.encode_to_vec())?;
        self.sessions.insert(user_key(user), hash.as_slice())?;
        self.db.commit().await?;
        Ok(LoggedIn {
            token,
            expires_at_ms: now + self.policy.session_max.as_millis() as i64,
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
        let key = session_key(&hash);
        let raw = self
            .sessions
            .get(&key)
            .map_err(|e| (OpsError::from(e), None))?;
        let Some(raw) = raw else {
            return Err((OpsError::SessionEnded, None));
        };
        let s = StoredSession::decode(raw.as_ref())
            .map_err(|e| (OpsError::Corrupt(e.to_string()), None))?;
        let now = now_ms();
        let ended = |why: OpsError| async {
            let _ = self.end_sessions_of(&s.user);
            let _ = self.db.commit().await;
            Err((why, Some(s.user.clone())))
        };
        if now - s.last_seen_ms > self.policy.idle_timeout.as_millis() as i64 {
            return ended(OpsError::SessionExpired {
                idle_secs: self.policy.idle_timeout.as_secs(),
            })
            .await;
        }
        if now - s.created_ms > self.policy.session_max.as_millis() as i64 {
            return ended(OpsError::SessionTooOld).await;
        }
        if s.terminal != terminal.name {
            return Err((OpsError::OtherTerminal, None));
        }
        let stored = match self.load(&s.user) {
            Ok(Some(a)) => a,
            Ok(None) => return ended(OpsError::OperatorGone).await,
            Err(e) => return Err((e, None)),
        };
        let account = Self::account_of(&stored);
        if account.disabled || account.locked {
            return ended(OpsError::AccountUnusable {
                user: s.user.clone(),
            })
            .await;
        }
        let touched = StoredSession {
            last_seen_ms: now,
            ..s.clone()
        };
        self.sessions
            .insert(&key, touched.encode_to_vec())
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
    pub fn has_session(&self, token: &str) -> Result<bool, OpsError> {
        let hash = renkei_crypto::sha256(token.as_bytes());
        Ok(self.sessions.contains_key(session_key(&hash))?)
    }

    pub async fn logout(&self, actor: &Actor) -> Result<(), OpsError> {
        self.sessions.remove(session_key(&actor.token_hash))?;
        self.sessions.remove(user_key(&actor.user))?;
        self.db.commit().await?;
        Ok(())
    }

    pub fn whoami(&self, actor: &Actor) -> Result<OperatorAccount, OpsError> {
        Ok(Self::account_of(&self.must_load(&actor.user)?))
    }

    /// Replaces the password after checking the current one; clears the one-time flag.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: &str,
        new: &str,
    ) -> Result<(), OpsError> {
        let mut s = self.must_load(&actor.user)?;
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
        if let Some(a) = s.account.as_mut() {
            a.must_change_password = false;
        }
        self.save(&s)?;
        self.db.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_core::AgencyCode;
    use renkei_store::{Store, StoreOptions};

    fn book(dir: &std::path::Path, policy: OpsPolicy) -> OperatorBook {
        let store = Store::open(&dir.join("db"), &StoreOptions::default()).unwrap();
        let code = AgencyCode::parse("141003").unwrap();
        OperatorBook::open("141003", &store.tenant(&code), policy).unwrap()
    }

    fn terminal(name: &str) -> Terminal {
        Terminal {
            name: name.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn one_time_password_then_change_then_login() {
        let dir = tempfile::tempdir().unwrap();
        let b = book(dir.path(), OpsPolicy::default());
        let otp = b.bootstrap_admin("admin", "Admin").await.unwrap();
        assert!(b.bootstrap_admin("admin2", "").await.is_err());
        let t = terminal("t1");
        let li = b.login("admin", &otp, &t).await.unwrap();
        assert!(li.account.must_change_password);
        let actor = b.authenticate(&li.token, &t).await.unwrap();
        assert!(actor.must_change_password);
        assert!(actor.has(&Right::Administer));
        assert!(!actor.has(&Right::Approve("vaccination")));
        assert!(matches!(
            b.change_password(&actor, &otp, "short").await,
            Err(OpsError::WeakPassword { .. })
        ));
        b.change_password(&actor, &otp, "a much longer passphrase")
            .await
            .unwrap();
        b.logout(&actor).await.unwrap();
        assert!(b.authenticate(&li.token, &t).await.is_err());
        assert!(b.login("admin", &otp, &t).await.is_err());
        let li = b
            .login("admin", "a much longer passphrase", &t)
            .await
            .unwrap();
        assert!(!li.account.must_change_password);
    }

    #[tokio::test]
    async fn tokens_are_stored_only_as_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let b = book(dir.path(), OpsPolicy::default());
        let otp = b.bootstrap_admin("admin", "").await.unwrap();
        let li = b.login("admin", &otp, &terminal("t1")).await.unwrap();
        for item in b.sessions.iter() {
            let (k, v) = item.unwrap();
            let hay = [k.as_ref(), v.as_ref()].concat();
            assert!(
                !hay.windows(li.token.len())
                    .any(|w| w == li.token.as_bytes()),
                "a session token is stored in clear"
            );
        }
        for item in b.accounts.iter() {
            let (_, v) = item.unwrap();
            assert!(!v.windows(otp.len()).any(|w| w == otp.as_bytes()));
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
