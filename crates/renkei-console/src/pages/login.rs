//! Login (with the forced change of a one-time password) and logout.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use renkei_proto::v1::operators_client::OperatorsClient;
use renkei_proto::v1::{ChangePasswordRequest, LoginRequest, LogoutRequest};

use super::{csrf_field, page};
use crate::gateway::authed;
use crate::session::Login;
use crate::web::{self, Ctx};

fn login_page(ctx: &Ctx, error: Option<&str>) -> Markup {
    let t = ctx.lang.t();
    html! {
        @if let Some(e) = error { div.notice.error role="alert" id="login-error" { (e) } }
        form.card method="post" action="/login" {
            (csrf_field(ctx))
            label for="user" { (t.user_id) }
            input id="user" name="user" type="text" autocomplete="username" required autofocus;
            label for="password" { (t.password) }
            input id="password" name="password" type="password" autocomplete="current-password" required;
            button type="submit" { (t.login) }
        }
    }
}

pub(super) async fn form(ctx: Ctx) -> Response {
    if ctx.login.is_some() {
        return Redirect::to("/").into_response();
    }
    page(&ctx, ctx.lang.t().login_title, login_page(&ctx, None)).into_response()
}

pub(super) async fn submit(ctx: Ctx) -> Response {
    let t = ctx.lang.t();
    let (user, password) = (ctx.fields.get("user"), ctx.fields.raw("password"));
    let result = OperatorsClient::new(ctx.app.gateway.channel())
        .login(LoginRequest {
            user: user.to_owned(),
            password: password.to_owned(),
        })
        .await;
    let resp = match result {
        Ok(r) => r.into_inner(),
        Err(s) => {
            // A wrong user, a wrong password, a locked or a disabled account read the
            // same, so the page never tells whether a user id exists.
            let msg = match s.code() {
                tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => {
                    t.login_failed.to_owned()
                }
                _ => format!("{}: {}", t.gateway_refused, s.message()),
            };
            tracing::info!(code = ?s.code(), "login refused by the gateway");
            return (
                StatusCode::UNAUTHORIZED,
                page(&ctx, t.login_title, login_page(&ctx, Some(&msg))),
            )
                .into_response();
        }
    };
    let account = resp.account.unwrap_or_default();
    let login = Login {
        token: resp.token,
        user: user.to_owned(),
        display_name: account.display_name,
        grants: account.grants,
        must_change_password: resp.must_change_password,
        idle_timeout_ms: i64::try_from(resp.idle_timeout_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX),
    };
    let must_change = login.must_change_password;
    let Some(s) = ctx.app.sessions.set_login(&ctx.sid, Some(login)) else {
        return Redirect::to("/login").into_response();
    };
    let next = if must_change { "/password" } else { "/" };
    (
        [(header::SET_COOKIE, web::session_cookie(&ctx.app, &s.id))],
        Redirect::to(next),
    )
        .into_response()
}

fn password_page(ctx: &Ctx, error: Option<&str>) -> Markup {
    let t = ctx.lang.t();
    let forced = ctx.login.as_ref().is_some_and(|l| l.must_change_password);
    html! {
        @if forced { div.notice role="status" { (t.must_change_password) } }
        @if let Some(e) = error { div.notice.error role="alert" { (e) } }
        form.card method="post" action="/password" {
            (csrf_field(ctx))
            label for="current" { (t.current_password) }
            input id="current" name="current" type="password" autocomplete="current-password" required;
            label for="new" { (t.new_password) }
            input id="new" name="new" type="password" autocomplete="new-password" required;
            label for="new2" { (t.new_password_again) }
            input id="new2" name="new2" type="password" autocomplete="new-password" required;
            button type="submit" { (t.change_password) }
        }
    }
}

pub(super) async fn password_form(ctx: Ctx) -> Response {
    if let Err(r) = web::need_login(&ctx) {
        return r;
    }
    page(
        &ctx,
        ctx.lang.t().change_password_title,
        password_page(&ctx, None),
    )
    .into_response()
}

pub(super) async fn password_submit(ctx: Ctx) -> Response {
    let t = ctx.lang.t();
    let token = match web::need_login(&ctx) {
        Ok(l) => l.token.clone(),
        Err(r) => return r,
    };
    let f = &ctx.fields;
    if f.raw("new") != f.raw("new2") {
        return (
            StatusCode::BAD_REQUEST,
            page(
                &ctx,
                t.change_password_title,
                password_page(&ctx, Some(t.passwords_differ)),
            ),
        )
            .into_response();
    }
    let result = OperatorsClient::new(ctx.app.gateway.channel())
        .change_password(authed(
            &token,
            ChangePasswordRequest {
                current_password: f.raw("current").to_owned(),
                new_password: f.raw("new").to_owned(),
            },
        ))
        .await;
    match result {
        Ok(_) => {
            ctx.app
                .sessions
                .update_login(&ctx.sid, |l| l.must_change_password = false);
            ctx.app
                .sessions
                .set_flash(&ctx.sid, t.password_changed.to_owned());
            Redirect::to("/").into_response()
        }
        Err(s) if s.code() == tonic::Code::Unauthenticated => web::gateway_failure(&ctx, &s),
        Err(s) => (
            StatusCode::BAD_REQUEST,
            page(
                &ctx,
                t.change_password_title,
                password_page(&ctx, Some(s.message())),
            ),
        )
            .into_response(),
    }
}

pub(super) async fn logout(ctx: Ctx) -> Response {
    let t = ctx.lang.t();
    if let Some(l) = &ctx.login {
        let _ = OperatorsClient::new(ctx.app.gateway.channel())
            .logout(authed(&l.token, LogoutRequest {}))
            .await;
    }
    ctx.app.sessions.set_login(&ctx.sid, None);
    ctx.app
        .sessions
        .set_flash(&ctx.sid, t.logged_out.to_owned());
    Redirect::to("/login").into_response()
}
