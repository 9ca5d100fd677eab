//! 情報提供等記録: search by person, period, counterparty, procedure and outcome, page by
//! page, and the whole selection as CSV. Filters travel in POST bodies (the person's
//! number must not appear in a URL), and so does the page token.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use renkei_proto::v1::reports_client::ReportsClient;
use renkei_proto::v1::{ExchangeRecord, QueryRecordsRequest};
use renkei_records::{direction_name, outcome_name};

use super::{csrf_field, page, when};
use crate::csv_out;
use crate::gateway::authed;
use crate::web::{self, Ctx, Fields};

const OUTCOMES: [&str; 10] = [
    "provided",
    "no_data",
    "refused",
    "held",
    "not_provided",
    "expired",
    "failed",
    "pending",
    "relayed",
    "purged",
];
const DIRECTIONS: [&str; 3] = ["inquiry", "provision", "system"];
/// Rows per page unless the operator asks for another number (1 to [`MAX_PAGE_SIZE`]).
const PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 500;
/// The CSV is built in memory; past this many records the operator narrows the filters.
const MAX_EXPORT: usize = 200_000;

fn request(f: &Fields, page_size: u32, page_token: String) -> QueryRecordsRequest {
    QueryRecordsRequest {
        unified_address_number: f.get("person").to_owned(),
        from: f.get("from").to_owned(),
        to: f.get("to").to_owned(),
        counterparty: f.get("counterparty").to_owned(),
        procedure: f.get("procedure").to_owned(),
        outcomes: f.all("outcome"),
        direction: f.get("direction").to_owned(),
        page_size,
        page_token,
    }
}

fn page_size(f: &Fields) -> u32 {
    f.get("page_size")
        .parse()
        .unwrap_or(PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE)
}

/// The current filters again, as hidden fields (for the next page and the CSV).
fn hidden_filters(f: &Fields) -> Markup {
    html! {
        @for name in ["person", "from", "to", "counterparty", "procedure", "direction", "page_size"] {
            input type="hidden" name=(name) value=(f.get(name));
        }
        @for o in f.all("outcome") { input type="hidden" name="outcome" value=(o); }
    }
}

fn filter_form(ctx: &Ctx, f: &Fields) -> Markup {
    let t = ctx.lang.t();
    let chosen = f.all("outcome");
    html! {
        form.card.filters id="records-filter" method="post" action="/records" {
            (csrf_field(ctx))
            div.grid {
                div { label for="person" { (t.person) }
                    input id="person" name="person" type="text" inputmode="numeric" maxlength="15" autocomplete="off" value=(f.get("person")); }
                div { label for="from" { (t.period_from) }
                    input id="from" name="from" type="date" value=(f.get("from")); }
                div { label for="to" { (t.period_to) }
                    input id="to" name="to" type="date" value=(f.get("to")); }
                div { label for="counterparty" { (t.counterparty) }
                    input id="counterparty" name="counterparty" type="text" inputmode="numeric" maxlength="6" value=(f.get("counterparty")); }
                div { label for="procedure" { (t.procedure) }
                    input id="procedure" name="procedure" type="text" value=(f.get("procedure")); }
                div { label for="direction" { (t.direction) }
                    select id="direction" name="direction" {
                        option value="" { (t.any) }
                        @for d in DIRECTIONS { option value=(d) selected[f.get("direction") == d] { (d) } }
                    } }
                div { label for="page_size" { (t.page_size) }
                    input id="page_size" name="page_size" type="number" min="1" max=(MAX_PAGE_SIZE) value=(page_size(f)); }
            }
            fieldset {
                legend { (t.outcome) }
                @for o in OUTCOMES {
                    span.check {
                        input id={ "o-" (o) } type="checkbox" name="outcome" value=(o) checked[chosen.iter().any(|c| c == o)];
                        label for={ "o-" (o) } { (o) }
                    }
                }
            }
            button type="submit" { (t.search) }
        }
    }
}

fn results(ctx: &Ctx, f: &Fields, records: &[ExchangeRecord], next: &str) -> Markup {
    let t = ctx.lang.t();
    html! {
        form.inline method="post" action="/records/csv" id="csv-form" {
            (csrf_field(ctx))
            (hidden_filters(f))
            button id="download" type="submit" { (t.download_csv) }
        }
        @if records.is_empty() { p.empty { (t.none_found) } } @else {
            table id="records" {
                thead { tr {
                    th scope="col" { (t.sequence) } th scope="col" { (t.recorded_at) }
                    th scope="col" { (t.direction) } th scope="col" { (t.counterparty) }
                    th scope="col" { (t.procedure) } th scope="col" { (t.item) }
                    th scope="col" { (t.outcome) } th scope="col" { (t.person) }
                    th scope="col" { (t.operator) } th scope="col" { (t.reason) }
                } }
                tbody { @for r in records { tr {
                    td { (r.sequence) } td { (when(r.recorded_at_ms)) }
                    td { (direction_name(r.direction)) } td { (r.counterparty) }
                    td { (r.procedure) } td { (r.item) } td { (outcome_name(r.outcome)) }
                    td { (r.unified_address_number) } td { (r.operator) } td { (r.reason) }
                } } }
            }
        }
        @if !next.is_empty() {
            form.inline method="post" action="/records" {
                (csrf_field(ctx))
                (hidden_filters(f))
                input type="hidden" name="page_token" value=(next);
                button id="next-page" type="submit" { (t.next_page) }
            }
        }
    }
}

pub(super) async fn form(ctx: Ctx) -> Response {
    if let Err(r) = web::need_login(&ctx) {
        return r;
    }
    let t = ctx.lang.t();
    let body = html! { p { (t.records_intro) } (filter_form(&ctx, &Fields::default())) };
    page(&ctx, t.records_title, body).into_response()
}

pub(super) async fn search(ctx: Ctx) -> Response {
    let token = match web::need_login(&ctx) {
        Ok(l) => l.token.clone(),
        Err(r) => return r,
    };
    let t = ctx.lang.t();
    let f = &ctx.fields;
    let req = request(f, page_size(f), f.get("page_token").to_owned());
    let page_ = match ReportsClient::new(ctx.app.gateway.channel())
        .query_records(authed(&token, req))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) => return web::gateway_failure(&ctx, &s),
    };
    let body = html! {
        p { (t.records_intro) }
        (filter_form(&ctx, f))
        (results(&ctx, f, &page_.records, &page_.next_page_token))
    };
    page(&ctx, t.records_title, body).into_response()
}

pub(super) async fn csv(ctx: Ctx) -> Response {
    let token = match web::need_login(&ctx) {
        Ok(l) => l.token.clone(),
        Err(r) => return r,
    };
    let mut client = ReportsClient::new(ctx.app.gateway.channel());
    let mut all = Vec::new();
    let mut next = String::new();
    loop {
        let req = request(&ctx.fields, 1000, next);
        let p = match client.query_records(authed(&token, req)).await {
            Ok(r) => r.into_inner(),
            Err(s) => return web::gateway_failure(&ctx, &s),
        };
        all.extend(p.records);
        if p.next_page_token.is_empty() || all.len() >= MAX_EXPORT {
            break;
        }
        next = p.next_page_token;
    }
    match csv_out::write(&all) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"records.csv\"",
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "writing the records CSV failed");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
