//! 監査ログ: the gateway's audit log (administrators and records reviewers). The person
//! filter is a POST field, never part of the URL. The period is two days in Japan, both
//! included, as `renkei ops records --from/--to` reads them.

use axum::response::{IntoResponse, Response};
use maud::html;
use renkei_proto::v1::operators_client::OperatorsClient;
use renkei_proto::v1::{AuditEntry, QueryAuditRequest};

use renkei_core::dose::{DateForms, parse_date};
use renkei_core::jst;

use super::{csrf_field, page, when};
use crate::gateway::authed;
use crate::web::{self, Ctx, Fields};

async fn render(ctx: &Ctx, f: &Fields) -> Response {
    let token = match web::need_login(ctx) {
        Ok(l) => l.token.clone(),
        Err(r) => return r,
    };
    let t = ctx.lang.t();
    let limit = f.get("limit").parse().unwrap_or(200u32).clamp(1, 1000);
    let from = day(f.get("from"));
    let to = day(f.get("to"));
    let bad_from = from.is_err();
    // A period that ends before it starts is refused like `ops records` refuses it,
    // rather than showing an empty log as if nothing had happened.
    let backwards = matches!((&from, &to), (Ok(Some(a)), Ok(Some(b))) if b < a);
    let bad_to = to.is_err() || backwards;
    let to_error = if backwards { t.bad_range } else { t.bad_day };
    let since_ms = from.ok().flatten().map_or(0, jst::day_start_ms);
    // The gateway's upper bound is exclusive: the day after `to` starts it.
    let until_ms = to
        .ok()
        .flatten()
        .and_then(time::Date::next_day)
        .map_or(0, jst::day_start_ms);
    let req = QueryAuditRequest {
        operator: f.get("operator").to_owned(),
        action: f.get("action").to_owned(),
        target: f.get("target").to_owned(),
        since_ms,
        until_ms,
        limit,
    };
    let mut entries: Vec<AuditEntry> = if bad_from || bad_to {
        Vec::new()
    } else {
        match OperatorsClient::new(ctx.app.gateway.channel())
            .query_audit(authed(&token, req))
            .await
        {
            Ok(r) => r.into_inner().entries,
            Err(s) => return web::gateway_failure(ctx, &s),
        }
    };
    // Newest first: that is what an auditor looks at.
    entries.sort_by_key(|e| std::cmp::Reverse(e.sequence));
    let body = html! {
        form.card.filters method="post" action="/audit" {
            (csrf_field(ctx))
            div.grid {
                div { label for="a-operator" { (t.operator) }
                    input id="a-operator" name="operator" type="text" value=(f.get("operator")); }
                div { label for="a-action" { (t.action) }
                    input id="a-action" name="action" type="text" placeholder="held.approve" value=(f.get("action")); }
                div { label for="a-target" { (t.target) }
                    input id="a-target" name="target" type="text" inputmode="numeric" autocomplete="off" value=(f.get("target")); }
                div { label for="a-from" { (t.audit_from) }
                    input id="a-from" name="from" type="date" value=(f.get("from"))
                        aria-invalid=[bad_from.then_some("true")]
                        aria-describedby=[bad_from.then_some("a-from-error")];
                    @if bad_from { span.field-error id="a-from-error" { (t.bad_day) } } }
                div { label for="a-to" { (t.audit_to) }
                    input id="a-to" name="to" type="date" value=(f.get("to"))
                        aria-invalid=[bad_to.then_some("true")]
                        aria-describedby=[bad_to.then_some("a-to-error")];
                    @if bad_to { span.field-error id="a-to-error" { (to_error) } } }
                div { label for="a-limit" { (t.limit) }
                    input id="a-limit" name="limit" type="number" min="1" max="1000" value=(limit); }
            }
            button type="submit" { (t.search) }
        }
        @if entries.is_empty() { p.empty { (t.none_found) } } @else {
            table id="audit" {
                thead { tr {
                    th scope="col" { (t.sequence) } th scope="col" { (t.at) } th scope="col" { (t.operator) }
                    th scope="col" { (t.terminal) } th scope="col" { (t.action) } th scope="col" { (t.procedure) }
                    th scope="col" { (t.target) } th scope="col" { (t.outcome) } th scope="col" { (t.detail) }
                } }
                tbody { @for e in &entries { tr {
                    td { (e.sequence) } td { (when(e.at_ms)) } td { (e.operator) } td { (e.terminal) }
                    td data-f="action" { (e.action) } td { (e.procedure) } td { (e.target) }
                    td data-f="outcome" { (e.outcome) } td { (e.detail) }
                } } }
            }
        }
    };
    page(ctx, t.audit_title, body).into_response()
}

/// A day typed in a date field: empty is no bound, anything else must be `YYYY-MM-DD`.
fn day(s: &str) -> Result<Option<time::Date>, ()> {
    if s.is_empty() {
        return Ok(None);
    }
    parse_date(s, DateForms::Iso).map(Some).ok_or(())
}

pub(super) async fn page_(ctx: Ctx) -> Response {
    render(&ctx, &Fields::default()).await
}

pub(super) async fn search(ctx: Ctx) -> Response {
    let f = ctx.fields.clone();
    render(&ctx, &f).await
}
