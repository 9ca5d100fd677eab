//! `renkei ops users add|disable|reset-password|list` (administrators).

use clap::Subcommand;
use renkei_proto::v1::operators_client::OperatorsClient;
use renkei_proto::v1::{
    AddUserRequest, DisableUserRequest, Grant, ListUsersRequest, OperatorAccount, OperatorRole,
    ResetPasswordRequest,
};
use serde_json::{Value, json};

use super::output::when;
use super::{Ctx, Output, rpc};

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Add an operator; prints the one-time password.
    ///
    /// Example: renkei ops users add tanaka --role approver:vaccination --role inquirer
    Add {
        user: String,
        /// inquirer, approver:<procedure>, records-reviewer, flag-manager, administrator.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        #[arg(long, default_value = "")]
        display_name: String,
    },
    Disable {
        user: String,
    },
    /// New one-time password; also lifts a lockout.
    ResetPassword {
        user: String,
    },
    List,
}

fn parse_role(s: &str) -> anyhow::Result<Grant> {
    let (role, procedure) = match s.split_once(':') {
        Some(("approver", p)) => (OperatorRole::Approver, p.to_owned()),
        None => (
            match s {
                "inquirer" => OperatorRole::Inquirer,
                "records-reviewer" => OperatorRole::RecordsReviewer,
                "flag-manager" => OperatorRole::FlagManager,
                "administrator" => OperatorRole::Administrator,
                "approver" => anyhow::bail!("approver needs a procedure: approver:<procedure>"),
                other => anyhow::bail!("unknown role {other:?}"),
            },
            String::new(),
        ),
        Some(_) => anyhow::bail!("unknown role {s:?}"),
    };
    Ok(Grant {
        role: role as i32,
        procedure,
    })
}

fn role_text(g: &Grant) -> String {
    match OperatorRole::try_from(g.role).unwrap_or(OperatorRole::Unspecified) {
        OperatorRole::Inquirer => "inquirer".into(),
        OperatorRole::Approver => format!("approver:{}", g.procedure),
        OperatorRole::RecordsReviewer => "records-reviewer".into(),
        OperatorRole::FlagManager => "flag-manager".into(),
        OperatorRole::Administrator => "administrator".into(),
        OperatorRole::Unspecified => "?".into(),
    }
}

fn table(accounts: &[OperatorAccount], note: Option<String>) -> Output {
    let roles = |a: &OperatorAccount| a.grants.iter().map(role_text).collect::<Vec<_>>();
    Output {
        headers: vec!["USER", "NAME", "ROLES", "STATUS", "CREATED"],
        rows: accounts
            .iter()
            .map(|a| {
                let status = if a.disabled {
                    "disabled"
                } else if a.locked {
                    "locked"
                } else if a.must_change_password {
                    "one-time password"
                } else {
                    "active"
                };
                vec![
                    a.user.clone(),
                    a.display_name.clone(),
                    roles(a).join(" "),
                    status.into(),
                    when(a.created_at_ms),
                ]
            })
            .collect(),
        json: Value::Array(
            accounts
                .iter()
                .map(|a| {
                    json!({ "user": a.user, "display_name": a.display_name, "roles": roles(a),
                        "disabled": a.disabled, "locked": a.locked,
                        "must_change_password": a.must_change_password,
                        "created_at": when(a.created_at_ms) })
                })
                .collect(),
        ),
        note,
    }
}

pub(crate) async fn run(ctx: &Ctx, cmd: Command) -> anyhow::Result<Output> {
    let mut client = OperatorsClient::new(ctx.channel()?);
    match cmd {
        Command::Add {
            user,
            roles,
            display_name,
        } => {
            let grants = roles
                .iter()
                .map(|r| parse_role(r))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let r = client
                .add_user(ctx.authed(AddUserRequest {
                    user,
                    display_name,
                    grants,
                })?)
                .await
                .map_err(rpc("adding the operator"))?
                .into_inner();
            let account = r.account.unwrap_or_default();
            let mut out = table(
                std::slice::from_ref(&account),
                Some(format!(
                    "one-time password (to be changed at first login): {}",
                    r.one_time_password
                )),
            );
            out.json = json!({ "user": account.user, "one_time_password": r.one_time_password });
            Ok(out)
        }
        Command::Disable { user } => {
            let a = client
                .disable_user(ctx.authed(DisableUserRequest { user })?)
                .await
                .map_err(rpc("disabling the operator"))?
                .into_inner();
            Ok(table(&[a], None))
        }
        Command::ResetPassword { user } => {
            let otp = client
                .reset_password(ctx.authed(ResetPasswordRequest { user: user.clone() })?)
                .await
                .map_err(rpc("resetting the password"))?
                .into_inner()
                .one_time_password;
            Ok(Output::message(
                format!("new one-time password for {user}: {otp}"),
                json!({ "user": user, "one_time_password": otp }),
            ))
        }
        Command::List => {
            let accounts = client
                .list_users(ctx.authed(ListUsersRequest {})?)
                .await
                .map_err(rpc("listing operators"))?
                .into_inner()
                .accounts;
            Ok(table(&accounts, None))
        }
    }
}
