//! 職員管理: operator accounts and their rights (administrators; the gateway decides).

use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use renkei_proto::v1::operators_client::OperatorsClient;
use renkei_proto::v1::{
    AddUserRequest, DisableUserRequest, Grant, ListUsersRequest, OperatorRole, ResetPasswordRequest,
};

use super::{csrf_field, grant_name, page, role_name, when};
use crate::gateway::authed;
use crate::web::{self, Ctx};

const ROLES: [(&str, OperatorRole); 4] = [
    ("inquirer", OperatorRole::Inquirer),
    ("records-reviewer", OperatorRole::RecordsReviewer),
    ("flag-manager", OperatorRole::FlagManager),
    ("administrator", OperatorRole::Administrator),
];

async fn render(ctx: &Ctx, token: &str, notice: Option<Markup>) -> Response {
    let t = ctx.lang.t();
    let accounts = match OperatorsClient::new(ctx.app.gateway.channel())
        .list_users(authed(token, ListUsersRequest {}))
        .await
    {
        Ok(r) => r.into_inner().accounts,
        Err(s) => return web::gateway_failure(ctx, &s),
    };
    let body = html! {
        @if let Some(n) = notice { (n) }
        table id="users" {
            thead { tr {
                th scope="col" { (t.user_id) } th scope="col" { (t.display_name) }
                th scope="col" { (t.roles) } th scope="col" { (t.status) }
                th scope="col" { (t.started) }
                th scope="col" { span.visually-hidden { (t.disable) " / " (t.reset_password) } }
            } }
            tbody { @for a in &accounts { tr data-user=(a.user) {
                td { (a.user) } td { (a.display_name) }
                td { @for (i, g) in a.grants.iter().enumerate() { @if i > 0 { "、" } (grant_name(ctx.lang, g)) } }
                td data-f="status" {
                    @if a.disabled { (t.disabled) } @else if a.locked { (t.locked) } @else { (t.active) }
                    @if a.must_change_password { " (" (t.otp_pending) ")" }
                }
                td { (when(a.created_at_ms)) }
                td {
                    @if !a.disabled {
                        form.inline method="post" action="/users/reset" {
                            (csrf_field(ctx))
                            input type="hidden" name="user" value=(a.user);
                            button type="submit" aria-label={ (t.reset_password) " " (a.user) } { (t.reset_password) }
                        }
                        form.inline method="post" action="/users/disable" {
                            (csrf_field(ctx))
                            input type="hidden" name="user" value=(a.user);
                            button.danger type="submit" aria-label={ (t.disable) " " (a.user) } { (t.disable) }
                        }
                    }
                }
            } } }
        }
        form.card method="post" action="/users/add" {
            h2 { (t.add_user) }
            (csrf_field(ctx))
            label for="new-user" { (t.user_id) }
            input id="new-user" name="user" type="text" required maxlength="64" autocomplete="off";
            label for="new-name" { (t.display_name) }
            input id="new-name" name="display_name" type="text" maxlength="100" autocomplete="off";
            fieldset {
                legend { (t.roles) }
                @for (code, r) in ROLES {
                    span.check {
                        input id={ "r-" (code) } type="checkbox" name="role" value=(code);
                        label for={ "r-" (code) } { (role_name(ctx.lang, r as i32)) }
                    }
                }
            }
            label for="approver-of" { (t.approver_procedure) }
            input id="approver-of" name="approver" type="text" placeholder="vaccination" maxlength="64";
            button type="submit" { (t.add_user) }
        }
    };
    page(ctx, t.users_title, body).into_response()
}

fn token(ctx: &Ctx) -> Result<String, Response> {
    web::need_login(ctx).map(|l| l.token.clone())
}

fn otp_notice(ctx: &Ctx, user: &str, otp: &str) -> Markup {
    let t = ctx.lang.t();
    html! {
        div.notice role="status" {
            p { (user) " — " (t.one_time_password_is) ": " code id="otp" { (otp) } }
        }
    }
}

pub(super) async fn list(ctx: Ctx) -> Response {
    match token(&ctx) {
        Ok(tok) => render(&ctx, &tok, None).await,
        Err(r) => r,
    }
}

pub(super) async fn add(ctx: Ctx) -> Response {
    let tok = match token(&ctx) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let f = &ctx.fields;
    let mut grants: Vec<Grant> = f
        .all("role")
        .iter()
        .filter_map(|c| ROLES.iter().find(|(code, _)| code == c))
        .map(|(_, r)| Grant {
            role: *r as i32,
            procedure: String::new(),
        })
        .collect();
    for p in f
        .get("approver")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        grants.push(Grant {
            role: OperatorRole::Approver as i32,
            procedure: p.to_owned(),
        });
    }
    let user = f.get("user").to_owned();
    let result = OperatorsClient::new(ctx.app.gateway.channel())
        .add_user(authed(
            &tok,
            AddUserRequest {
                user: user.clone(),
                display_name: f.get("display_name").to_owned(),
                grants,
            },
        ))
        .await;
    match result {
        Ok(r) => {
            let otp = r.into_inner().one_time_password;
            render(&ctx, &tok, Some(otp_notice(&ctx, &user, &otp))).await
        }
        Err(s) => web::gateway_failure(&ctx, &s),
    }
}

pub(super) async fn disable(ctx: Ctx) -> Response {
    let tok = match token(&ctx) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let result = OperatorsClient::new(ctx.app.gateway.channel())
        .disable_user(authed(
            &tok,
            DisableUserRequest {
                user: ctx.fields.get("user").to_owned(),
            },
        ))
        .await;
    match result {
        Ok(_) => render(&ctx, &tok, None).await,
        Err(s) => web::gateway_failure(&ctx, &s),
    }
}

pub(super) async fn reset(ctx: Ctx) -> Response {
    let tok = match token(&ctx) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let user = ctx.fields.get("user").to_owned();
    let result = OperatorsClient::new(ctx.app.gateway.channel())
        .reset_password(authed(&tok, ResetPasswordRequest { user: user.clone() }))
        .await;
    match result {
        Ok(r) => {
            let otp = r.into_inner().one_time_password;
            render(&ctx, &tok, Some(otp_notice(&ctx, &user, &otp))).await
        }
        Err(s) => web::gateway_failure(&ctx, &s),
    }
}
