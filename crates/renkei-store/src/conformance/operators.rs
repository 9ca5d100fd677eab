//! What every [`OperatorStore`] backend must do. Each function takes a fresh, empty store
//! (two of them, of different tenants of one database, for the isolation test).

use renkei_proto::v1::{AuditEntry, Job, OperatorAccount, QueryAuditRequest};

use crate::operators::{OperatorStore, StoredOperator, StoredSession};

fn account(user: &str) -> StoredOperator {
    StoredOperator {
        account: Some(OperatorAccount {
            user: user.into(),
            ..Default::default()
        }),
        password_hash: format!("hash-of-{user}"),
        failures: 0,
        password_set_ms: 7,
    }
}

fn session(user: &str, terminal: &str, at: i64) -> StoredSession {
    StoredSession {
        user: user.into(),
        terminal: terminal.into(),
        created_ms: at,
        last_seen_ms: at,
    }
}

fn entry(action: &str, operator: &str, at_ms: i64) -> AuditEntry {
    AuditEntry {
        action: action.into(),
        operator: operator.into(),
        at_ms,
        ..Default::default()
    }
}

/// Accounts are stored, replaced and listed in user-id order.
pub async fn accounts_round_trip(s: &dyn OperatorStore) {
    assert!(s.operator("kato").await.unwrap().is_none(), "empty store");
    s.put_operator(&account("kato")).await.unwrap();
    s.put_operator(&account("abe")).await.unwrap();
    let mut k = account("kato");
    k.failures = 3;
    s.put_operator(&k).await.unwrap();
    assert_eq!(s.operator("kato").await.unwrap(), Some(k), "a put replaces");
    let users: Vec<String> = s
        .operators()
        .await
        .unwrap()
        .iter()
        .map(|o| o.user().to_owned())
        .collect();
    assert_eq!(users, ["abe", "kato"], "listed once each, in user-id order");
}

/// One session per operator, found by hash; a new one ends the old, ending removes it.
pub async fn one_session_per_operator(s: &dyn OperatorStore) {
    let (h1, h2) = ([1u8; 32], [2u8; 32]);
    s.put_session(&h1, &session("kato", "t1", 10))
        .await
        .unwrap();
    assert_eq!(s.session(&h1).await.unwrap().unwrap().terminal, "t1");
    assert_eq!(s.session_of("kato").await.unwrap().unwrap().0, h1);
    // Touching the same session keeps it.
    let mut touched = session("kato", "t1", 10);
    touched.last_seen_ms = 20;
    s.put_session(&h1, &touched).await.unwrap();
    assert_eq!(s.session(&h1).await.unwrap(), Some(touched));
    // A second login replaces the first.
    s.put_session(&h2, &session("kato", "t2", 30))
        .await
        .unwrap();
    assert!(
        s.session(&h1).await.unwrap().is_none(),
        "the old session ends"
    );
    assert_eq!(s.session_of("kato").await.unwrap().unwrap().0, h2);
    assert!(s.end_session_of("kato").await.unwrap());
    assert!(s.session(&h2).await.unwrap().is_none());
    assert!(s.session_of("kato").await.unwrap().is_none());
    assert!(!s.end_session_of("kato").await.unwrap(), "nothing left");
}

/// The audit log numbers entries in order, filters, and purges only by age.
pub async fn audit_is_append_only_and_numbered(s: &dyn OperatorStore) {
    let first = s
        .append_audit(vec![
            entry("login", "kato", 100),
            entry("held.list", "kato", 200),
        ])
        .await
        .unwrap();
    let more = s
        .append_audit(vec![entry("login", "abe", 300)])
        .await
        .unwrap();
    let seq: Vec<u64> = first.iter().chain(&more).map(|e| e.sequence).collect();
    assert!(
        seq.windows(2).all(|w| w[1] == w[0] + 1) && seq[0] >= 1,
        "consecutive numbers: {seq:?}"
    );
    let all = s.query_audit(&QueryAuditRequest::default()).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].action, "login", "oldest first");
    let by = |q: QueryAuditRequest| async move {
        s.query_audit(&q)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.at_ms)
            .collect::<Vec<_>>()
    };
    let q = |f: fn(&mut QueryAuditRequest)| {
        let mut q = QueryAuditRequest::default();
        f(&mut q);
        q
    };
    assert_eq!(by(q(|q| q.operator = "kato".into())).await, [100, 200]);
    assert_eq!(by(q(|q| q.action = "held".into())).await, [200], "prefix");
    assert_eq!(by(q(|q| q.since_ms = 200)).await, [200, 300]);
    assert_eq!(
        by(q(|q| q.until_ms = 200)).await,
        [100],
        "until is exclusive"
    );
    assert_eq!(
        by(q(|q| q.limit = 2)).await,
        [200, 300],
        "a limit keeps the newest entries, still oldest first"
    );
    assert_eq!(s.purge_audit_before(250).await.unwrap(), 2);
    assert_eq!(by(QueryAuditRequest::default()).await, [300]);
    let next = s.append_audit(vec![entry("x", "", 400)]).await.unwrap();
    assert!(
        next[0].sequence > more[0].sequence,
        "numbers go on after a purge"
    );
}

/// Job history by number, newest first.
pub async fn jobs_are_kept_by_number(s: &dyn OperatorStore) {
    assert_eq!(s.last_job_number().await.unwrap(), 0, "empty store");
    for n in 1..=3u64 {
        let job = Job {
            job_id: format!("t-{n}"),
            ..Default::default()
        };
        s.put_job(n, &job).await.unwrap();
    }
    assert_eq!(s.last_job_number().await.unwrap(), 3);
    assert_eq!(s.job(2).await.unwrap().unwrap().job_id, "t-2");
    let newest: Vec<u64> = s.jobs(2).await.unwrap().iter().map(|(n, _)| *n).collect();
    assert_eq!(newest, [3, 2]);
    s.remove_job(3).await.unwrap();
    assert!(s.job(3).await.unwrap().is_none());
    assert_eq!(s.jobs(10).await.unwrap().len(), 2);
}

/// Two tenants' stores share nothing.
pub async fn tenants_are_isolated(a: &dyn OperatorStore, b: &dyn OperatorStore) {
    a.put_operator(&account("kato")).await.unwrap();
    a.put_session(&[9u8; 32], &session("kato", "t1", 1))
        .await
        .unwrap();
    a.append_audit(vec![entry("login", "kato", 1)])
        .await
        .unwrap();
    a.put_job(1, &Job::default()).await.unwrap();
    assert!(b.operator("kato").await.unwrap().is_none());
    assert!(b.session(&[9u8; 32]).await.unwrap().is_none());
    assert!(
        b.query_audit(&QueryAuditRequest::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(b.last_job_number().await.unwrap(), 0);
}
