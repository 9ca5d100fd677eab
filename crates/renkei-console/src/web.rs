//! The HTTP edge: security headers, the browser session, CSRF, and how gateway refusals
//! become pages. Every request passes [`edge`] first; no handler sees a POST whose CSRF
//! token was not checked here (the one multipart form checks its own, see `flags`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::App;
use crate::i18n::Lang;
use crate::session::{Login, same_secret};

pub(crate) const SESSION_COOKIE: &str = "rk_session";
pub(crate) const LANG_COOKIE: &str = "lang";
/// The only path that accepts multipart bodies (it checks the CSRF field itself).
pub(crate) const MULTIPART_PATH: &str = "/flags/import";

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Form fields of a urlencoded POST, already CSRF-checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields(pub(crate) Vec<(String, String)>);

impl Fields {
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .unwrap_or_default()
    }

    /// A field exactly as typed (passwords: spaces are part of them).
    pub(crate) fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    pub(crate) fn checked(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }
}

/// What every handler knows about the request.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) app: Arc<App>,
    pub(crate) sid: String,
    pub(crate) csrf: String,
    pub(crate) login: Option<Login>,
    pub(crate) lang: Lang,
    pub(crate) path: String,
    pub(crate) fields: Fields,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Ctx, StatusCode> {
        parts
            .extensions
            .get::<Ctx>()
            .cloned()
            .ok_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(crate) fn session_cookie(app: &App, id: &str) -> String {
    let secure = if app.secure_cookies { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

fn security_headers(h: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
}

fn is_form(headers: &HeaderMap, kind: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(kind))
}

/// Refuses a POST whose CSRF token is missing or wrong: 403 and a page saying so.
pub(crate) fn csrf_refused(lang: Lang) -> Response {
    let t = lang.t();
    let mut r = (
        StatusCode::FORBIDDEN,
        axum::response::Html(crate::pages::bare_page(lang, t.csrf_refused)),
    )
        .into_response();
    security_headers(r.headers_mut());
    r
}

/// The outermost layer of every request.
pub(crate) async fn edge(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let now = app.clock.now_ms();
    let lang = Lang::from_cookie(cookie(req.headers(), LANG_COOKIE));
    let found = cookie(req.headers(), SESSION_COOKIE).and_then(|id| app.sessions.find(id, now));
    let (session, opened) = match found {
        Some(f) => {
            if let Some(token) = f.idle_token {
                // Idle here means idle at the gateway too (same timeout); say why the
                // operator is asked to log in again.
                app.sessions
                    .set_flash(&f.session.id, lang.t().session_ended.to_owned());
                logout_quietly(&app, token);
            }
            (f.session, false)
        }
        None => match app.sessions.open(now) {
            Some(s) => (s, true),
            None => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        },
    };
    // Paths only: queries are never logged (they carry nothing personal, but stay out).
    tracing::debug!(method = %req.method(), path = req.uri().path(), "request");
    let path = req.uri().path().to_owned();
    let mut ctx = Ctx {
        app: app.clone(),
        sid: session.id.clone(),
        csrf: session.csrf.clone(),
        login: session.login.clone(),
        lang,
        path: path.clone(),
        fields: Fields::default(),
    };
    let req = if req.method() == Method::POST {
        if is_form(req.headers(), "application/x-www-form-urlencoded") {
            let (parts, body) = req.into_parts();
            let probe = Request::from_parts(parts.clone(), body);
            let fields = match axum::Form::<Vec<(String, String)>>::from_request(probe, &()).await {
                Ok(axum::Form(f)) => Fields(f),
                Err(_) => return csrf_refused(lang),
            };
            if !same_secret(fields.get("csrf"), &session.csrf) {
                tracing::warn!(path = %path, "POST refused: no valid CSRF token");
                return csrf_refused(lang);
            }
            ctx.fields = fields;
            Request::from_parts(parts, Body::empty())
        } else if is_form(req.headers(), "multipart/form-data") && path == MULTIPART_PATH {
            req
        } else {
            return csrf_refused(lang);
        }
    } else {
        req
    };
    let mut req = req;
    req.extensions_mut().insert(ctx);
    let mut resp = next.run(req).await;
    if opened && let Ok(v) = HeaderValue::from_str(&session_cookie(&app, &session.id)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    security_headers(resp.headers_mut());
    resp
}

/// Ends a gateway session in the background (idle here, so idle there too; this only
/// makes it certain).
pub(crate) fn logout_quietly(app: &App, token: String) {
    let gw = app.gateway.clone();
    tokio::spawn(async move {
        let mut c = renkei_proto::v1::operators_client::OperatorsClient::new(gw.channel());
        let _ = c
            .logout(crate::gateway::authed(
                &token,
                renkei_proto::v1::LogoutRequest {},
            ))
            .await;
    });
}

/// A page that needs a login: the login (or a redirect to the login page, or to the
/// forced password change).
pub(crate) fn need_login(ctx: &Ctx) -> Result<&Login, Response> {
    match &ctx.login {
        None => Err(Redirect::to("/login").into_response()),
        Some(l) if l.must_change_password && ctx.path != "/password" => {
            Err(Redirect::to("/password").into_response())
        }
        Some(l) => Ok(l),
    }
}

/// A gateway refusal as a page. An ended session sends the operator back to the login
/// page; a missing right says so; anything else shows the gateway's own words.
pub(crate) fn gateway_failure(ctx: &Ctx, status: &tonic::Status) -> Response {
    let t = ctx.lang.t();
    match status.code() {
        tonic::Code::Unauthenticated => {
            ctx.app.sessions.set_login(&ctx.sid, None);
            ctx.app
                .sessions
                .set_flash(&ctx.sid, t.session_ended.to_owned());
            Redirect::to("/login").into_response()
        }
        code => {
            let http = match code {
                tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
                tonic::Code::NotFound => StatusCode::NOT_FOUND,
                tonic::Code::InvalidArgument
                | tonic::Code::FailedPrecondition
                | tonic::Code::AlreadyExists => StatusCode::BAD_REQUEST,
                tonic::Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_GATEWAY,
            };
            let title = if code == tonic::Code::PermissionDenied {
                t.no_right
            } else {
                t.gateway_refused
            };
            let body = maud::html! {
                div.notice.error role="alert" {
                    p { strong { (title) } }
                    p { (status.message()) }
                }
            };
            (http, crate::pages::page(ctx, t.gateway_refused, body)).into_response()
        }
    }
}
