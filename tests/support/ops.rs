//! Operator helpers for the end-to-end tests: terminal channels, sessions with a bearer
//! token, and the usual accounts (administrator, approver, flag manager).

use renkei_proto::v1::auto_response_block_client::AutoResponseBlockClient;
use renkei_proto::v1::operators_client::OperatorsClient;
use renkei_proto::v1::{
    AddUserRequest, AuditEntry, ChangePasswordRequest, FlagReason, Grant, LoginRequest,
    OperatorRole, QueryAuditRequest, SetFlagRequest,
};
use renkei_transport::ClientOptions;
use tonic::transport::Channel;

use crate::TestCluster;

pub const NEW_PASSWORD_SUFFIX: &str = "-correct horse battery";

impl TestCluster {
    /// A channel to the gateway's local side from a tenant's operator terminal.
    pub fn terminal(&self, code: &str) -> Channel {
        let creds = self
            .cluster
            .credentials(&format!("terminal-{code}"))
            .unwrap();
        renkei_transport::channel(
            &self.cluster.gateway_local_addr.to_string(),
            renkei_testkit::cluster::GATEWAY_SERVER_NAME,
            &creds,
            &ClientOptions::default(),
        )
        .unwrap()
    }

    /// Bootstraps the tenant's administrator `admin`, logs in, changes the one-time password.
    pub async fn admin(&self, code: &str) -> Session {
        let otp = self
            .cluster
            .gateway
            .bootstrap_admin(code, "admin", "Administrator")
            .await
            .unwrap();
        Session::first_login(self.terminal(code), "admin", &otp).await
    }

    /// Adds an operator with `grants` (as `admin`), logs them in, changes the password.
    pub async fn operator(
        &self,
        code: &str,
        admin: &Session,
        user: &str,
        grants: Vec<Grant>,
    ) -> Session {
        let otp = admin.add_user(user, grants).await;
        Session::first_login(self.terminal(code), user, &otp).await
    }

    /// Sets a flag as the tenant's address system (a back-office certificate).
    pub async fn flag_as_backoffice(&self, code: &str, uan: &str, item: u32) {
        AutoResponseBlockClient::new(self.backoffice(code))
            .set_flag(SetFlagRequest {
                unified_address_number: uan.into(),
                item,
                reason: FlagReason::SupportMeasure as i32,
                note: "支援措置".into(),
            })
            .await
            .unwrap();
    }
}

pub fn grant(role: OperatorRole, procedure: &str) -> Grant {
    Grant {
        role: role as i32,
        procedure: procedure.into(),
    }
}

pub fn approver(procedure: &str) -> Vec<Grant> {
    vec![grant(OperatorRole::Approver, procedure)]
}

/// A logged-in operator at a terminal.
#[derive(Clone)]
pub struct Session {
    pub channel: Channel,
    pub user: String,
    pub token: String,
    pub password: String,
}

impl Session {
    pub async fn first_login(channel: Channel, user: &str, otp: &str) -> Session {
        let token = OperatorsClient::new(channel.clone())
            .login(LoginRequest {
                user: user.into(),
                password: otp.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .token;
        let s = Session {
            channel,
            user: user.into(),
            token,
            password: otp.into(),
        };
        let password = format!("{user}{NEW_PASSWORD_SUFFIX}");
        s.ops()
            .change_password(s.req(ChangePasswordRequest {
                current_password: otp.into(),
                new_password: password.clone(),
            }))
            .await
            .unwrap();
        Session { password, ..s }
    }

    /// A request carrying this session's token.
    pub fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.token).parse().unwrap(),
        );
        r
    }

    pub fn ops(&self) -> OperatorsClient<Channel> {
        OperatorsClient::new(self.channel.clone())
    }

    pub fn block(&self) -> AutoResponseBlockClient<Channel> {
        AutoResponseBlockClient::new(self.channel.clone())
    }

    pub async fn add_user(&self, user: &str, grants: Vec<Grant>) -> String {
        self.ops()
            .add_user(self.req(AddUserRequest {
                user: user.into(),
                display_name: String::new(),
                grants,
            }))
            .await
            .unwrap()
            .into_inner()
            .one_time_password
    }

    pub async fn audit(&self, q: QueryAuditRequest) -> Vec<AuditEntry> {
        self.ops()
            .query_audit(self.req(q))
            .await
            .unwrap()
            .into_inner()
            .entries
    }
}

/// Asserts that the audit log has an entry with this operator, action and outcome.
pub fn assert_audited(entries: &[AuditEntry], operator: &str, action: &str, outcome: &str) {
    assert!(
        entries
            .iter()
            .any(|e| e.operator == operator && e.action == action && e.outcome == outcome),
        "no audit entry ({operator}, {action}, {outcome}) in {:#?}",
        entries
            .iter()
            .map(|e| (&e.operator, &e.action, &e.outcome))
            .collect::<Vec<_>>()
    );
}
