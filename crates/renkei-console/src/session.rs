//! Browser sessions: an opaque cookie value mapped to the gateway's session token.
//!
//! The token itself never reaches the browser, so a script (there is none but ours) or a
//! copied cookie jar elsewhere cannot replay it against the gateway; the gateway still
//! binds it to this terminal's certificate. Each browser session also has its CSRF token.
//! The console forgets a login after the gateway's own idle timeout, so the page and the
//! gateway end the session together.

use std::collections::HashMap;
use std::sync::Mutex;

use renkei_proto::v1::Grant;
use ring::rand::SecureRandom as _;

/// Browser sessions kept at most; the longest idle one makes room for a new one.
const MAX_SESSIONS: usize = 4096;

/// An operator logged in through this browser session.
#[derive(Debug, Clone)]
pub(crate) struct Login {
    pub(crate) token: String,
    pub(crate) user: String,
    pub(crate) display_name: String,
    pub(crate) grants: Vec<Grant>,
    pub(crate) must_change_password: bool,
    pub(crate) idle_timeout_ms: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) csrf: String,
    pub(crate) login: Option<Login>,
    pub(crate) last_seen_ms: i64,
    /// A one-shot notice shown on the next page (after a redirect).
    pub(crate) flash: Option<String>,
}

/// What looking a session up found.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) session: Session,
    /// The gateway token of a login that went idle here, to be logged out there.
    pub(crate) idle_token: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
}

/// 32 random bytes, hex: unguessable, and carrying nothing.
pub(crate) fn random_token() -> String {
    let mut b = [0u8; 32];
    // SystemRandom fails only when the OS has no randomness; a fixed value would be
    // worse than refusing, so fall back to a value no other session can share.
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        tracing::error!("no randomness from the operating system");
        return String::new();
    }
    hex::encode(b)
}

/// Compares secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new anonymous session (before login: the login form needs a CSRF token too).
    pub(crate) fn open(&self, now_ms: i64) -> Option<Session> {
        let (id, csrf) = (random_token(), random_token());
        if id.is_empty() || csrf.is_empty() {
            return None;
        }
        let s = Session {
            id: id.clone(),
            csrf,
            login: None,
            last_seen_ms: now_ms,
            flash: None,
        };
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            let oldest = map
                .values()
                .min_by_key(|s| (s.login.is_some(), s.last_seen_ms))
                .map(|s| s.id.clone());
            if let Some(o) = oldest {
                map.remove(&o);
            }
        }
        map.insert(id, s.clone());
        Some(s)
    }

    /// The session behind a cookie value, touched; a login idle longer than the
    /// gateway's timeout is dropped (and its token handed back for logout).
    pub(crate) fn find(&self, id: &str, now_ms: i64) -> Option<Found> {
        let mut map = self.lock();
        let s = map.get_mut(id)?;
        let mut idle_token = None;
        if let Some(l) = &s.login
            && now_ms - s.last_seen_ms > l.idle_timeout_ms
        {
            idle_token = Some(l.token.clone());
            s.login = None;
        }
        s.last_seen_ms = now_ms;
        Some(Found {
            session: s.clone(),
            idle_token,
        })
    }

    /// Sets or clears the login. A new login also gets a new session id and CSRF token,
    /// so a value planted before login (session fixation) is useless after it.
    pub(crate) fn set_login(&self, id: &str, login: Option<Login>) -> Option<Session> {
        let mut map = self.lock();
        let mut s = map.remove(id)?;
        if login.is_some() {
            s.id = random_token();
            s.csrf = random_token();
        }
        s.login = login;
        map.insert(s.id.clone(), s.clone());
        Some(s)
    }

    /// The gateway token of a login still within its idle time, without counting this
    /// look as activity (a live page refreshing itself is not the operator at work).
    pub(crate) fn live_token(&self, id: &str, now_ms: i64) -> Option<String> {
        let map = self.lock();
        let s = map.get(id)?;
        let l = s.login.as_ref()?;
        (now_ms - s.last_seen_ms <= l.idle_timeout_ms && !l.must_change_password)
            .then(|| l.token.clone())
    }

    pub(crate) fn update_login(&self, id: &str, f: impl FnOnce(&mut Login)) {
        if let Some(l) = self.lock().get_mut(id).and_then(|s| s.login.as_mut()) {
            f(l);
        }
    }

    pub(crate) fn set_flash(&self, id: &str, text: String) {
        if let Some(s) = self.lock().get_mut(id) {
            s.flash = Some(text);
        }
    }

    pub(crate) fn take_flash(&self, id: &str) -> Option<String> {
        self.lock().get_mut(id).and_then(|s| s.flash.take())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use renkei_core::{Clock as _, FakeClock};
    use std::time::Duration;

    fn login(idle_secs: i64) -> Login {
        Login {
            token: "gateway-token".into(),
            user: "tanaka".into(),
            display_name: String::new(),
            grants: vec![],
            must_change_password: false,
            idle_timeout_ms: idle_secs * 1000,
        }
    }

    #[test]
    fn a_login_idle_past_the_gateways_timeout_is_forgotten_and_its_token_handed_back() {
        let clock = FakeClock::at(1_000_000);
        let s = Sessions::default();
        let anon = s.open(clock.now_ms()).unwrap();
        let logged = s.set_login(&anon.id, Some(login(60))).unwrap();
        clock.advance(Duration::from_secs(59));
        let f = s.find(&logged.id, clock.now_ms()).unwrap();
        assert!(f.session.login.is_some() && f.idle_token.is_none());
        clock.advance(Duration::from_secs(61));
        let f = s.find(&logged.id, clock.now_ms()).unwrap();
        assert!(f.session.login.is_none());
        assert_eq!(f.idle_token.as_deref(), Some("gateway-token"));
    }

    #[test]
    fn a_live_page_does_not_count_as_activity() {
        let clock = FakeClock::at(0);
        let s = Sessions::default();
        let anon = s.open(clock.now_ms()).unwrap();
        let logged = s.set_login(&anon.id, Some(login(60))).unwrap();
        for _ in 0..5 {
            clock.advance(Duration::from_secs(10));
            assert!(s.live_token(&logged.id, clock.now_ms()).is_some());
        }
        clock.advance(Duration::from_secs(11));
        assert!(s.live_token(&logged.id, clock.now_ms()).is_none());
    }

    #[test]
    fn activity_keeps_a_login_alive() {
        let clock = FakeClock::at(0);
        let s = Sessions::default();
        let anon = s.open(clock.now_ms()).unwrap();
        let logged = s.set_login(&anon.id, Some(login(60))).unwrap();
        for _ in 0..5 {
            clock.advance(Duration::from_secs(50));
            let f = s.find(&logged.id, clock.now_ms()).unwrap();
            assert!(f.session.login.is_some());
        }
    }

    #[test]
    fn logging_in_changes_the_session_id_and_the_csrf_token() {
        let s = Sessions::default();
        let anon = s.open(0).unwrap();
        let logged = s.set_login(&anon.id, Some(login(60))).unwrap();
        assert_ne!(anon.id, logged.id);
        assert_ne!(anon.csrf, logged.csrf);
        assert!(
            s.find(&anon.id, 0).is_none(),
            "the pre-login id must be dead"
        );
    }

    #[test]
    fn secrets_compare_equal_only_when_identical_and_never_when_empty() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", ""));
    }

    #[test]
    fn the_store_is_bounded() {
        let s = Sessions::default();
        for i in 0..(MAX_SESSIONS + 10) {
            s.open(i as i64).unwrap();
        }
        assert_eq!(s.lock().len(), MAX_SESSIONS);
    }
}
