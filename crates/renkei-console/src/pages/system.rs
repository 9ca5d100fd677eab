//! メンテナンス: the gateway's maintenance switch (administrators; the gateway decides).

use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use renkei_proto::v1::system_management_client::SystemManagementClient;
use renkei_proto::v1::{GetMaintenanceRequest, MaintenanceState, SetMaintenanceRequest};

use super::{csrf_field, page, when};
use crate::gateway::authed;
use crate::web::{self, Ctx};

fn render(ctx: &Ctx, m: &MaintenanceState, notice: Option<Markup>) -> Response {
    let t = ctx.lang.t();
    let body = html! {
        @if let Some(n) = notice { (n) }
        div.notice.state-box role="status" id="maintenance-state" data-on=(m.on) {
            p { strong { @if m.on { (t.maintenance_on) } @else { (t.maintenance_off) } } }
            @if !m.message.is_empty() { p { (t.maintenance_message) ": " (m.message) } }
            @if m.since_ms > 0 { p { (t.since) ": " (when(m.since_ms)) " — " (m.set_by) } }
        }
        form.card method="post" action="/maintenance" {
            (csrf_field(ctx))
            @if m.on {
                input type="hidden" name="on" value="0";
                button id="maintenance-toggle" type="submit" { (t.turn_off) }
            } @else {
                input type="hidden" name="on" value="1";
                label for="message" { (t.maintenance_message) }
                input id="message" name="message" type="text" required maxlength="200";
                button.danger id="maintenance-toggle" type="submit" { (t.turn_on) }
            }
        }
    };
    page(ctx, t.maintenance_title, body).into_response()
}

pub(super) async fn page_(ctx: Ctx) -> Response {
    let token = match web::need_login(&ctx) {
        Ok(l) => l.token.clone(),
        Err(r) => return r,
    };
    match SystemManagementClient::new(ctx.app.gateway.channel())
        .get_maintenance(authed(&token, GetMaintenanceRequest {}))
        .await
    {
        Ok(r) => render(&ctx, &r.into_inner(), None),
        Err(s) => web::gateway_failure(&ctx, &s),
    }
}

pub(super) async fn set(ctx: Ctx) -> Response {
    let token = match web::need_login(&ctx) {
        Ok(l) => l.token.clone(),
        Err(r) => return r,
    };
    let req = SetMaintenanceRequest {
        on: ctx.fields.get("on") == "1",
        message: ctx.fields.get("message").to_owned(),
    };
    match SystemManagementClient::new(ctx.app.gateway.channel())
        .set_maintenance(authed(&token, req))
        .await
    {
        Ok(r) => render(&ctx, &r.into_inner(), None),
        Err(s) => web::gateway_failure(&ctx, &s),
    }
}
