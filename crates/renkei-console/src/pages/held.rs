//! 保留中の照会: held inquiries, never with their payload; the three confirmations and
//! the decision.

use axum::extract::Path;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use renkei_proto::v1::auto_response_block_client::AutoResponseBlockClient;
use renkei_proto::v1::{
    Confirmations, DecideRequest, Decision, FlagReason, GetHeldRequest, HeldInquiry, HeldState,
    HoldCause, ListHeldRequest,
};

use super::{csrf_field, page, when};
use crate::gateway::authed;
use crate::i18n::Lang;
use crate::web::{self, Ctx};

pub(crate) fn query_param<'a>(uri: &'a Uri, name: &str) -> Option<&'a str> {
    uri.query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn state_name(lang: Lang, s: i32) -> &'static str {
    let t = lang.t();
    match HeldState::try_from(s).unwrap_or(HeldState::Unspecified) {
        HeldState::Waiting => t.state_waiting,
        HeldState::Approved => t.state_approved,
        HeldState::Refused => t.state_refused,
        HeldState::Expired => t.state_expired,
        HeldState::Unspecified => "?",
    }
}

pub(crate) fn flag_reason_name(lang: Lang, r: i32) -> &'static str {
    let t = lang.t();
    match FlagReason::try_from(r).unwrap_or(FlagReason::Unspecified) {
        FlagReason::SupportMeasure => t.reason_support_measure,
        FlagReason::MasterError => t.reason_master_error,
        FlagReason::Sensitive => t.reason_sensitive,
        FlagReason::Other => t.reason_other,
        FlagReason::Unspecified => "",
    }
}

fn cause(lang: Lang, h: &HeldInquiry) -> String {
    let t = lang.t();
    match HoldCause::try_from(h.cause).unwrap_or(HoldCause::Unspecified) {
        HoldCause::NoCopy => t.cause_no_copy.to_owned(),
        _ => {
            let r = flag_reason_name(lang, h.flag_reason);
            if r.is_empty() {
                t.cause_flag.to_owned()
            } else {
                format!("{}（{r}）", t.cause_flag)
            }
        }
    }
}

fn inquirer(h: &HeldInquiry) -> String {
    if h.inquirer_name.is_empty() {
        h.inquirer.clone()
    } else {
        format!("{} {}", h.inquirer, h.inquirer_name)
    }
}

pub(super) async fn list(ctx: Ctx, uri: Uri) -> Response {
    let token = match web::need_login(&ctx) {
        Ok(l) => l.token.clone(),
        Err(r) => return r,
    };
    let t = ctx.lang.t();
    let state = match query_param(&uri, "state") {
        Some("approved") => HeldState::Approved,
        Some("refused") => HeldState::Refused,
        Some("expired") => HeldState::Expired,
        _ => HeldState::Waiting,
    };
    let held = match AutoResponseBlockClient::new(ctx.app.gateway.channel())
        .list_held(authed(
            &token,
            ListHeldRequest {
                state: state as i32,
            },
        ))
        .await
    {
        Ok(r) => r.into_inner().held,
        Err(s) => return web::gateway_failure(&ctx, &s),
    };
    let states = [
        ("waiting", HeldState::Waiting),
        ("approved", HeldState::Approved),
        ("refused", HeldState::Refused),
        ("expired", HeldState::Expired),
    ];
    let body = html! {
        p { (t.held_intro) }
        form.filters method="get" action="/held" {
            label for="state" { (t.state) }
            select id="state" name="state" {
                @for (code, s) in states {
                    option value=(code) selected[s == state] { (state_name(ctx.lang, s as i32)) }
                }
            }
            button type="submit" { (t.show) }
        }
        @if held.is_empty() {
            p.empty { (t.none_found) }
        } @else {
            table id="held" {
                thead { tr {
                    th scope="col" { (t.received) } th scope="col" { (t.inquirer) }
                    th scope="col" { (t.procedure) } th scope="col" { (t.item) }
                    th scope="col" { (t.cause) } th scope="col" { (t.expires) }
                    th scope="col" { (t.state) } th scope="col" { (t.permit) }
                } }
                tbody {
                    @for h in &held { tr {
                        td { (when(h.received_at_ms)) } td { (inquirer(h)) }
                        td { (h.procedure) } td { (h.item) } td { (cause(ctx.lang, h)) }
                        td { (when(h.expires_at_ms)) } td { (state_name(ctx.lang, h.state)) }
                        td { a href={ "/held/" (h.permit_id) } { (h.permit_id) } }
                    } }
                }
            }
        }
    };
    page(&ctx, t.held_title, body).into_response()
}

fn detail_page(ctx: &Ctx, h: &HeldInquiry, error: Option<&str>) -> Markup {
    let t = ctx.lang.t();
    let waiting = h.state == HeldState::Waiting as i32;
    let c = h.confirmations.clone().unwrap_or_default();
    html! {
        @if let Some(e) = error { div.notice.error role="alert" { (e) } }
        dl.facts {
            dt { (t.permit) } dd { (h.permit_id) }
            dt { (t.inquiry) } dd { (h.inquiry_id) }
            dt { (t.inquirer) } dd { (inquirer(h)) }
            dt { (t.procedure) } dd { (h.procedure) }
            dt { (t.item) } dd { (h.item) }
            dt { (t.legal_basis) } dd id="legal-basis" { (h.legal_basis) }
            dt { (t.person) } dd { (h.unified_address_number) }
            dt { (t.cause) } dd { (cause(ctx.lang, h)) }
            dt { (t.received) } dd { (when(h.received_at_ms)) }
            dt { (t.expires) } dd { (when(h.expires_at_ms)) }
            dt { (t.state) } dd id="held-state" { (state_name(ctx.lang, h.state)) }
            @if !h.decided_by.is_empty() {
                dt { (t.decided_by) } dd { (h.decided_by) }
                dt { (t.decided_at) } dd { (when(h.decided_at_ms)) }
                @if !c.note.is_empty() { dt { (t.confirm_note) } dd { (c.note) } }
            }
        }
        @if waiting {
            form.card id="approve-form" method="post" action={ "/held/" (h.permit_id) "/approve" } {
                (csrf_field(ctx))
                fieldset {
                    legend { (t.confirmations) }
                    div.check {
                        input id="c-legal" type="checkbox" name="legal_basis" value="1" required;
                        label for="c-legal" { (t.confirm_legal_basis) }
                    }
                    div.check {
                        input id="c-necessity" type="checkbox" name="necessity" value="1" required;
                        label for="c-necessity" { (t.confirm_necessity) }
                    }
                    div.check {
                        input id="c-careful" type="checkbox" name="careful_handling" value="1" required;
                        label for="c-careful" { (t.confirm_careful_handling) }
                    }
                }
                label for="approve-note" { (t.confirm_note) }
                input id="approve-note" name="note" type="text" maxlength="200";
                p.hint id="approve-hint" { (t.confirmations_required) }
                button id="approve" type="submit" data-needs-all="approve-form" aria-describedby="approve-hint" { (t.approve) }
            }
            form.card method="post" action={ "/held/" (h.permit_id) "/refuse" } {
                (csrf_field(ctx))
                label for="refuse-note" { (t.refuse_note) }
                input id="refuse-note" name="note" type="text" maxlength="200";
                button.danger id="refuse" type="submit" { (t.refuse) }
            }
        }
        p { a href="/held" { (t.back_to_list) } }
    }
}

async fn get(ctx: &Ctx, token: &str, permit: &str) -> Result<HeldInquiry, Response> {
    AutoResponseBlockClient::new(ctx.app.gateway.channel())
        .get_held(authed(
            token,
            GetHeldRequest {
                permit_id: permit.to_owned(),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| web::gateway_failure(ctx, &s))
}

pub(super) async fn detail(ctx: Ctx, Path(permit): Path<String>) -> Response {
    let token = match web::need_login(&ctx) {
        Ok(l) => l.token.clone(),
        Err(r) => return r,
    };
    match get(&ctx, &token, &permit).await {
        Ok(h) => page(&ctx, ctx.lang.t().held_title, detail_page(&ctx, &h, None)).into_response(),
        Err(r) => r,
    }
}

async fn decide(ctx: Ctx, permit: String, decision: Decision) -> Response {
    let t = ctx.lang.t();
    let token = match web::need_login(&ctx) {
        Ok(l) => l.token.clone(),
        Err(r) => return r,
    };
    let f = &ctx.fields;
    let confirmations = Confirmations {
        legal_basis: f.checked("legal_basis"),
        necessity: f.checked("necessity"),
        careful_handling: f.checked("careful_handling"),
        note: f.get("note").to_owned(),
    };
    if decision == Decision::Approve
        && !(confirmations.legal_basis && confirmations.necessity && confirmations.careful_handling)
    {
        // The browser will not send the form without the three ticks; a hand-made
        // request is told the same, and the gateway would refuse it too.
        return match get(&ctx, &token, &permit).await {
            Ok(h) => (
                StatusCode::BAD_REQUEST,
                page(
                    &ctx,
                    t.held_title,
                    detail_page(&ctx, &h, Some(t.confirmations_required)),
                ),
            )
                .into_response(),
            Err(r) => r,
        };
    }
    let result = AutoResponseBlockClient::new(ctx.app.gateway.channel())
        .decide(authed(
            &token,
            DecideRequest {
                permit_id: permit.clone(),
                decision: decision as i32,
                confirmations: Some(confirmations),
                manual_content: None,
            },
        ))
        .await;
    match result {
        Ok(_) => {
            let msg = if decision == Decision::Approve {
                t.approved
            } else {
                t.refused
            };
            ctx.app.sessions.set_flash(&ctx.sid, msg.to_owned());
            Redirect::to("/held").into_response()
        }
        Err(s) => web::gateway_failure(&ctx, &s),
    }
}

pub(super) async fn approve(ctx: Ctx, Path(permit): Path<String>) -> Response {
    decide(ctx, permit, Decision::Approve).await
}

pub(super) async fn refuse(ctx: Ctx, Path(permit): Path<String>) -> Response {
    decide(ctx, permit, Decision::Refuse).await
}
