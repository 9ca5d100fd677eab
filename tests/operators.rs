//! Operators end to end (職員認証・権限管理): one-time passwords, lockout, one session per
//! operator, idle logout, tenant isolation, and the audit log behind all of them.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use renkei_e2e::ops::*;
use renkei_e2e::*;
use renkei_proto::v1::operators_client::OperatorsClient;
use renkei_proto::v1::{
    ChangePasswordRequest, ListHeldRequest, ListUsersRequest, LoginRequest, LogoutRequest,
    OperatorRole, QueryAuditRequest, ResetPasswordRequest, WhoAmIRequest,
};
use tonic::Code;

async fn login(
    tc: &TestCluster,
    code: &str,
    user: &str,
    password: &str,
) -> Result<String, tonic::Status> {
    OperatorsClient::new(tc.terminal(code))
        .login(LoginRequest {
            user: user.into(),
            password: password.into(),
        })
        .await
        .map(|r| r.into_inner().token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_administrator_must_change_the_one_time_password() {
    let tc = TestCluster::start().await;
    let otp = tc
        .cluster
        .gateway
        .bootstrap_admin(YOKOHAMA, "admin", "Administrator")
        .await
        .unwrap();
    // Only once: later administrators are added by an administrator, on the record.
    let again = tc
        .cluster
        .gateway
        .bootstrap_admin(YOKOHAMA, "admin2", "")
        .await
        .unwrap_err();
    assert!(
        again.to_string().contains("already has an administrator"),
        "{again}"
    );

    let token = login(&tc, YOKOHAMA, "admin", &otp).await.unwrap();
    let s = Session {
        channel: tc.terminal(YOKOHAMA),
        user: "admin".into(),
        token,
        password: otp.clone(),
    };
    let err = s
        .ops()
        .list_users(s.req(ListUsersRequest {}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("one-time password"));
    let err = s
        .ops()
        .change_password(s.req(ChangePasswordRequest {
            current_password: otp.clone(),
            new_password: "short".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    s.ops()
        .change_password(s.req(ChangePasswordRequest {
            current_password: otp.clone(),
            new_password: "a long enough passphrase".into(),
        }))
        .await
        .unwrap();
    let users = s
        .ops()
        .list_users(s.req(ListUsersRequest {}))
        .await
        .unwrap()
        .into_inner()
        .accounts;
    assert_eq!(users.len(), 1);
    assert!(!users[0].must_change_password);
    assert_eq!(users[0].tenant, YOKOHAMA);
    let audit = s.audit(QueryAuditRequest::default()).await;
    assert_audited(&audit, "system", "user.bootstrap-admin", "ok");
    assert_audited(&audit, "admin", "login", "ok");
    assert_audited(&audit, "admin", "user.list", "refused");
    assert_audited(&audit, "admin", "password.change", "invalid");
    assert_audited(&audit, "admin", "password.change", "ok");
    assert_audited(&audit, "admin", "user.list", "ok");
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_lock_the_account_until_an_administrator_resets_it() {
    let tc = TestCluster::start().await;
    let admin = tc.admin(YOKOHAMA).await;
    let clerk = tc
        .operator(YOKOHAMA, &admin, "clerk", approver("vaccination"))
        .await;
    OperatorsClient::new(clerk.channel.clone())
        .logout(clerk.req(LogoutRequest {}))
        .await
        .unwrap();
    for attempt in 1..=5 {
        let err = login(&tc, YOKOHAMA, "clerk", "wrong password!")
            .await
            .unwrap_err();
        let expected = if attempt < 5 {
            Code::Unauthenticated
        } else {
            Code::PermissionDenied
        };
        assert_eq!(err.code(), expected, "attempt {attempt}: {err:?}");
    }
    // The right password no longer helps.
    let err = login(&tc, YOKOHAMA, "clerk", &clerk.password)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("locked"), "{}", err.message());
    // A wrong user name is answered like a wrong password.
    let err = login(&tc, YOKOHAMA, "nobody", "whatever")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let otp = admin
        .ops()
        .reset_password(admin.req(ResetPasswordRequest {
            user: "clerk".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .one_time_password;
    let again = Session::first_login(tc.terminal(YOKOHAMA), "clerk", &otp).await;
    let me = again
        .ops()
        .who_am_i(again.req(WhoAmIRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(!me.locked);

    let audit = admin
        .audit(QueryAuditRequest {
            operator: "clerk".into(),
            action: "login".into(),
            ..Default::default()
        })
        .await;
    let failures = audit
        .iter()
        .filter(|e| e.outcome == "unauthenticated")
        .count();
    assert_eq!(failures, 4, "{audit:#?}");
    assert_eq!(audit.iter().filter(|e| e.outcome == "denied").count(), 2);
    let all = admin.audit(QueryAuditRequest::default()).await;
    assert_audited(&all, "admin", "user.reset-password", "ok");
    assert_audited(&all, "nobody", "login", "unauthenticated");
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_has_one_session_at_a_time() {
    let tc = TestCluster::start().await;
    let admin = tc.admin(YOKOHAMA).await;
    let err = login(&tc, YOKOHAMA, "admin", &admin.password)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("already logged in"));
    // The first session is untouched by the refused second login.
    admin
        .ops()
        .who_am_i(admin.req(WhoAmIRequest {}))
        .await
        .unwrap();
    admin
        .ops()
        .logout(admin.req(LogoutRequest {}))
        .await
        .unwrap();
    // Logout ends the session...
    let err = admin
        .ops()
        .who_am_i(admin.req(WhoAmIRequest {}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // ...and frees the account for a new one.
    let token = login(&tc, YOKOHAMA, "admin", &admin.password)
        .await
        .unwrap();
    let s = Session { token, ..admin };
    let audit = s.audit(QueryAuditRequest::default()).await;
    assert_audited(&audit, "admin", "login", "refused");
    assert_audited(&audit, "admin", "logout", "ok");
    assert_audited(&audit, "", "whoami", "unauthenticated");
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_ends_by_itself() {
    let tc = TestCluster::start_with(|o| o.operators.idle_timeout_secs = 1).await;
    let admin = tc.admin(YOKOHAMA).await;
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let err = admin
        .ops()
        .who_am_i(admin.req(WhoAmIRequest {}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    assert!(
        err.message().contains("without activity"),
        "{}",
        err.message()
    );
    // The account can log in again at once: the idle session is gone.
    let token = login(&tc, YOKOHAMA, "admin", &admin.password)
        .await
        .unwrap();
    let s = Session { token, ..admin };
    let audit = s.audit(QueryAuditRequest::default()).await;
    assert_audited(&audit, "admin", "logout.automatic", "ok");
    assert_audited(&audit, "admin", "whoami", "unauthenticated");
    tc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_act_only_within_their_own_municipality() {
    let tc = TestCluster::start().await;
    let yokohama = tc.admin(YOKOHAMA).await;
    let approver_y = tc
        .operator(YOKOHAMA, &yokohama, "approver", approver("vaccination"))
        .await;
    let sapporo = tc.admin(SAPPORO).await;

    // A 横浜市 session presented at a 札幌市 terminal.
    let stolen = Session {
        channel: tc.terminal(SAPPORO),
        ..approver_y.clone()
    };
    let err = stolen
        .block()
        .list_held(stolen.req(ListHeldRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    // 横浜市's users do not exist for 札幌市.
    let err = login(&tc, SAPPORO, "approver", &approver_y.password)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let users = sapporo
        .ops()
        .list_users(sapporo.req(ListUsersRequest {}))
        .await
        .unwrap()
        .into_inner()
        .accounts;
    assert_eq!(
        users.iter().map(|u| u.user.as_str()).collect::<Vec<_>>(),
        ["admin"]
    );
    // Nor is 横浜市's audit log visible from 札幌市.
    let audit = sapporo.audit(QueryAuditRequest::default()).await;
    assert!(
        audit
            .iter()
            .all(|e| e.action != "user.add" && !(e.operator == "approver" && e.outcome == "ok")),
        "{audit:#?}"
    );
    assert_audited(&audit, "approver", "login", "unauthenticated");
    assert_audited(&audit, "", "held.list", "denied");
    // A back-office certificate cannot use the operator service at all.
    let err = OperatorsClient::new(tc.backoffice(YOKOHAMA))
        .login(LoginRequest {
            user: "admin".into(),
            password: yokohama.password.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // A records reviewer reads the audit log; an approver does not.
    let reviewer = tc
        .operator(
            YOKOHAMA,
            &yokohama,
            "reviewer",
            vec![grant(OperatorRole::RecordsReviewer, "")],
        )
        .await;
    let seen = reviewer.audit(QueryAuditRequest::default()).await;
    assert_audited(&seen, "approver", "login", "ok");
    let err = approver_y
        .ops()
        .query_audit(approver_y.req(QueryAuditRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let audit = yokohama.audit(QueryAuditRequest::default()).await;
    assert_audited(&audit, "approver", "audit.query", "denied");
    assert_audited(&audit, "reviewer", "audit.query", "ok");
    tc.stop().await;
}

/// Every operator call — allowed, denied, invalid or unauthenticated — leaves exactly one
/// audit entry, in order, with the operator and terminal that made it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operator_call_leaves_exactly_one_audit_entry() {
    use renkei_proto::v1::{
        ClearFlagRequest, DecideRequest, Decision, FlagReason, GetHeldRequest, ListFlagsRequest,
        SetFlagRequest,
    };
    let tc = TestCluster::start().await;
    let admin = tc.admin(YOKOHAMA).await; // bootstrap, login, password.change
    let clerk = tc
        .operator(
            YOKOHAMA,
            &admin,
            "clerk",
            vec![
                grant(OperatorRole::FlagManager, ""),
                grant(OperatorRole::Approver, "vaccination"),
            ],
        )
        .await; // user.add (admin), login, password.change (clerk)
    let before = admin.audit(QueryAuditRequest::default()).await; // audit.query
    let start = before.last().unwrap().sequence + 1;

    let b = clerk.block();
    let o = clerk.ops();
    o.clone()
        .who_am_i(clerk.req(WhoAmIRequest {}))
        .await
        .unwrap();
    o.clone()
        .list_users(clerk.req(ListUsersRequest {}))
        .await
        .unwrap_err();
    b.clone()
        .set_flag(clerk.req(SetFlagRequest {
            unified_address_number: "1410031000001".into(),
            item: 0,
            reason: FlagReason::Sensitive as i32,
            note: String::new(),
        }))
        .await
        .unwrap();
    b.clone()
        .set_flag(clerk.req(SetFlagRequest {
            unified_address_number: "not a number".into(),
            item: 0,
            reason: FlagReason::Sensitive as i32,
            note: String::new(),
        }))
        .await
        .unwrap_err();
    b.clone()
        .list_flags(clerk.req(ListFlagsRequest::default()))
        .await
        .unwrap();
    b.clone()
        .clear_flag(clerk.req(ClearFlagRequest {
            unified_address_number: "1410031000001".into(),
            item: 0,
        }))
        .await
        .unwrap();
    b.clone()
        .list_held(clerk.req(ListHeldRequest::default()))
        .await
        .unwrap();
    b.clone()
        .get_held(clerk.req(GetHeldRequest {
            permit_id: "pmt-none".into(),
        }))
        .await
        .unwrap_err();
    b.clone()
        .decide(clerk.req(DecideRequest {
            permit_id: "pmt-none".into(),
            decision: Decision::Refuse as i32,
            ..Default::default()
        }))
        .await
        .unwrap_err();
    o.clone()
        .query_audit(clerk.req(QueryAuditRequest::default()))
        .await
        .unwrap_err();
    o.clone().logout(clerk.req(LogoutRequest {})).await.unwrap();
    o.clone()
        .who_am_i(clerk.req(WhoAmIRequest {}))
        .await
        .unwrap_err();

    let after = admin
        .audit(QueryAuditRequest {
            since_ms: before.last().unwrap().at_ms,
            ..Default::default()
        })
        .await;
    let got: Vec<(&str, &str, &str)> = after
        .iter()
        .filter(|e| e.sequence >= start)
        .map(|e| (e.operator.as_str(), e.action.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            // The query above is audited after it answered.
            ("admin", "audit.query", "ok"),
            ("clerk", "whoami", "ok"),
            ("clerk", "user.list", "denied"),
            ("clerk", "flag.set", "ok"),
            ("clerk", "flag.set", "invalid"),
            ("clerk", "flag.list", "ok"),
            ("clerk", "flag.clear", "ok"),
            ("clerk", "held.list", "ok"),
            ("clerk", "held.show", "not-found"),
            ("clerk", "held.refuse", "not-found"),
            ("clerk", "audit.query", "denied"),
            ("clerk", "logout", "ok"),
            ("", "whoami", "unauthenticated"),
        ]
    );
    let set = after
        .iter()
        .find(|e| e.action == "flag.set" && e.outcome == "ok")
        .unwrap();
    assert_eq!(set.target, "1410031000001");
    assert_eq!(set.terminal, "t1");
    assert_eq!(set.terminal_cert_sha256.len(), 64);
    assert!(set.peer_address.starts_with("127.0.0.1:"));
    tc.stop().await;
}
