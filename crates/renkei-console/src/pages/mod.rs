//! Routes and the page frame. One module per screen; each renders with maud, which
//! escapes every value, so nothing the gateway returns can become markup.

mod audit;
mod flags;
mod held;
mod jobs;
mod login;
mod records;
mod stats;
mod system;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};
use renkei_proto::v1::{Grant, OperatorRole};

use crate::App;
use crate::i18n::Lang;
use crate::web::{self, Ctx};

const CSS: &str = include_str!("../../static/console.css");
const JS: &str = include_str!("../../static/console.js");

pub(crate) fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/static/console.css", get(css))
        .route("/static/console.js", get(js))
        .route("/lang", post(lang))
        .route("/login", get(login::form).post(login::submit))
        .route(
            "/password",
            get(login::password_form).post(login::password_submit),
        )
        .route("/logout", post(login::logout))
        .route("/held", get(held::list))
        .route("/held/{permit}", get(held::detail))
        .route("/held/{permit}/approve", post(held::approve))
        .route("/held/{permit}/refuse", post(held::refuse))
        .route("/flags", get(flags::list).post(flags::search))
        .route("/flags/set", post(flags::set))
        .route("/flags/clear", post(flags::clear))
        .route(web::MULTIPART_PATH, post(flags::import))
        .route("/records", get(records::form).post(records::search))
        .route("/records/csv", post(records::csv))
        .route("/stats", get(stats::show))
        .route("/jobs", get(jobs::list))
        .route("/jobs/events", get(jobs::events))
        .route("/maintenance", get(system::page_).post(system::set))
        .route("/users", get(users::list))
        .route("/users/add", post(users::add))
        .route("/users/disable", post(users::disable))
        .route("/users/reset", post(users::reset))
        .route("/audit", get(audit::page_).post(audit::search))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), web::edge))
        .with_state(app)
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        JS,
    )
        .into_response()
}

async fn not_found(ctx: Ctx) -> Response {
    let t = ctx.lang.t();
    (
        StatusCode::NOT_FOUND,
        page(&ctx, t.not_found, html! { p { (t.not_found) } }),
    )
        .into_response()
}

/// Switches the language and goes back where the operator was (a local path only).
async fn lang(ctx: Ctx) -> Response {
    let to = if ctx.fields.get("lang") == "en" {
        "en"
    } else {
        "ja"
    };
    let back = ctx.fields.get("back");
    let back = if back.starts_with('/') && !back.starts_with("//") && !back.contains('\\') {
        back.to_owned()
    } else {
        "/".to_owned()
    };
    let secure = if ctx.app.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    (
        [(
            header::SET_COOKIE,
            format!(
                "{}={to}; Path=/; SameSite=Strict; Max-Age=31536000{secure}",
                web::LANG_COOKIE
            ),
        )],
        Redirect::to(&back),
    )
        .into_response()
}

async fn home(ctx: Ctx) -> Response {
    let l = match web::need_login(&ctx) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let t = ctx.lang.t();
    let body = html! {
        p { (t.home_intro) }
        h2 { (t.your_rights) }
        ul { @for g in &l.grants { li { (grant_name(ctx.lang, g)) } } }
    };
    page(&ctx, t.nav_home, body).into_response()
}

pub(crate) fn has_role(ctx: &Ctx, roles: &[OperatorRole]) -> bool {
    ctx.login.as_ref().is_some_and(|l| {
        l.grants
            .iter()
            .any(|g| roles.iter().any(|r| *r as i32 == g.role))
    })
}

pub(crate) fn role_name(lang: Lang, role: i32) -> &'static str {
    let t = lang.t();
    match OperatorRole::try_from(role).unwrap_or(OperatorRole::Unspecified) {
        OperatorRole::Inquirer => t.role_inquirer,
        OperatorRole::Approver => t.role_approver,
        OperatorRole::RecordsReviewer => t.role_records_reviewer,
        OperatorRole::FlagManager => t.role_flag_manager,
        OperatorRole::Administrator => t.role_administrator,
        OperatorRole::Unspecified => "?",
    }
}

pub(crate) fn grant_name(lang: Lang, g: &Grant) -> String {
    let r = role_name(lang, g.role);
    if g.procedure.is_empty() {
        r.to_owned()
    } else {
        format!("{r}（{}）", g.procedure)
    }
}

/// A timestamp as operators read it: Japan time, to the second.
pub(crate) fn when(ms: i64) -> String {
    if ms <= 0 {
        return String::new();
    }
    renkei_core::format_ms(ms).chars().take(19).collect()
}

pub(crate) fn csrf_field(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

struct NavItem {
    href: &'static str,
    label: &'static str,
    roles: &'static [OperatorRole],
}

fn nav(ctx: &Ctx) -> Markup {
    use OperatorRole as R;
    let t = ctx.lang.t();
    let items = [
        NavItem {
            href: "/",
            label: t.nav_home,
            roles: &[],
        },
        NavItem {
            href: "/held",
            label: t.nav_held,
            roles: &[R::Approver],
        },
        NavItem {
            href: "/flags",
            label: t.nav_flags,
            roles: &[R::FlagManager, R::Administrator],
        },
        NavItem {
            href: "/records",
            label: t.nav_records,
            roles: &[R::RecordsReviewer, R::Administrator],
        },
        NavItem {
            href: "/stats",
            label: t.nav_stats,
            roles: &[R::RecordsReviewer, R::Administrator],
        },
        NavItem {
            href: "/jobs",
            label: t.nav_jobs,
            roles: &[],
        },
        NavItem {
            href: "/maintenance",
            label: t.nav_maintenance,
            roles: &[R::Administrator],
        },
        NavItem {
            href: "/users",
            label: t.nav_users,
            roles: &[R::Administrator],
        },
        NavItem {
            href: "/audit",
            label: t.nav_audit,
            roles: &[R::RecordsReviewer, R::Administrator],
        },
    ];
    html! {
        nav aria-label=(t.app_title) {
            ul {
                @for i in items.iter().filter(|i| i.roles.is_empty() || has_role(ctx, i.roles)) {
                    @let here = ctx.path == i.href || (i.href != "/" && ctx.path.starts_with(i.href));
                    li { a href=(i.href) aria-current=[here.then_some("page")] { (i.label) } }
                }
            }
        }
    }
}

fn lang_switch(ctx: &Ctx) -> Markup {
    let t = ctx.lang.t();
    let other = match ctx.lang {
        Lang::Ja => "en",
        Lang::En => "ja",
    };
    html! {
        form.inline method="post" action="/lang" {
            (csrf_field(ctx))
            input type="hidden" name="lang" value=(other);
            input type="hidden" name="back" value=(ctx.path);
            button.link type="submit" lang=(other) { (t.switch_lang) }
        }
    }
}

/// The page frame: header, menu, a one-shot notice, then `body`.
pub(crate) fn page(ctx: &Ctx, title: &str, body: Markup) -> axum::response::Html<String> {
    let t = ctx.lang.t();
    let flash = ctx.app.sessions.take_flash(&ctx.sid);
    let logged_in = ctx.login.as_ref().filter(|l| !l.must_change_password);
    let markup = html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — " (t.app_title) }
                link rel="stylesheet" href="/static/console.css";
                script src="/static/console.js" defer {}
            }
            body {
                a.skip href="#main" { (t.skip_to_content) }
                header.top {
                    span.brand { (t.app_title) }
                    div.tools {
                        (lang_switch(ctx))
                        @if let Some(l) = &ctx.login {
                            span.who { (t.logged_in_as) ": " (l.user)
                                @if !l.display_name.is_empty() { " (" (l.display_name) ")" } }
                            form.inline method="post" action="/logout" {
                                (csrf_field(ctx))
                                button type="submit" { (t.logout) }
                            }
                        }
                    }
                }
                div.wrap {
                    @if logged_in.is_some() { (nav(ctx)) }
                    main id="main" tabindex="-1" {
                        h1 { (title) }
                        @if let Some(f) = flash { div.notice role="status" { (f) } }
                        (body)
                    }
                }
            }
        }
    };
    axum::response::Html(markup.into_string())
}

/// A minimal page for refusals made before any handler ran (no session context).
pub(crate) fn bare_page(lang: Lang, message: &str) -> String {
    let t = lang.t();
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                title { (t.app_title) }
                link rel="stylesheet" href="/static/console.css";
            }
            body {
                main id="main" {
                    h1 { (t.app_title) }
                    div.notice.error role="alert" { (message) }
                    p { a href="/" { (t.nav_home) } }
                }
            }
        }
    }
    .into_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt as _;

    use crate::{ConsoleOptions, Gateway, router};

    /// A console whose gateway is nowhere: the edge must decide before any call is made.
    fn console(secure: bool) -> axum::Router {
        let channel = tonic::transport::Channel::from_static("http://127.0.0.1:9").connect_lazy();
        router(ConsoleOptions {
            gateway: Gateway::from_channel(channel),
            secure_cookies: secure,
            clock: renkei_core::FakeClock::at(1_700_000_000_000),
        })
    }

    async fn get_login(app: &axum::Router) -> (String, String, axum::http::HeaderMap) {
        let resp = app
            .clone()
            .oneshot(Request::get("/login").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let headers = resp.headers().clone();
        let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
        let csrf = body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        (cookie, csrf, headers)
    }

    fn post(cookie: &str, body: String) -> Request<Body> {
        let sid = cookie.split(';').next().unwrap().to_owned();
        Request::post("/login")
            .header(header::COOKIE, sid)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    }

    #[tokio::test]
    async fn every_page_has_the_strict_policy_and_an_httponly_strict_cookie() {
        let (cookie, csrf, headers) = get_login(&console(false)).await;
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(
            !cookie.contains("Secure"),
            "plain HTTP on loopback: {cookie}"
        );
        assert_eq!(csrf.len(), 64);
        let (cookie, _, _) = get_login(&console(true)).await;
        assert!(cookie.contains("; Secure"), "{cookie}");
    }

    #[tokio::test]
    async fn a_post_without_the_sessions_csrf_token_is_refused_before_the_gateway_is_asked() {
        let app = console(false);
        let (cookie, csrf, _) = get_login(&app).await;
        for body in [
            "user=a&password=b".to_owned(),
            "user=a&password=b&csrf=".to_owned(),
            format!("user=a&password=b&csrf={}", "0".repeat(64)),
        ] {
            let resp = app.clone().oneshot(post(&cookie, body)).await.unwrap();
            assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        }
        // A token from another browser session does not do either.
        let (other_cookie, _, _) = get_login(&app).await;
        let resp = app
            .clone()
            .oneshot(post(
                &other_cookie,
                format!("user=a&password=b&csrf={csrf}"),
            ))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        // With its own token the form reaches the handler (the gateway is down: 401 page).
        let resp = app
            .clone()
            .oneshot(post(&cookie, format!("user=a&password=b&csrf={csrf}")))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn pages_behind_the_login_redirect_to_it() {
        let resp = console(false)
            .oneshot(Request::get("/held").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(resp.headers()[header::LOCATION], "/login");
    }
}
