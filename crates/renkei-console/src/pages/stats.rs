//! 統計: counts by day and by procedure, as SVG charts and tables.

use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use renkei_proto::v1::reports_client::ReportsClient;
use renkei_proto::v1::{GetStatisticsRequest, StatisticsGrouping, StatisticsRow};

use super::held::query_param;
use super::page;
use crate::gateway::authed;
use crate::svg;
use crate::web::{self, Ctx};

/// A day filter as typed into the form: digits and dashes only, else ignored.
fn day(v: Option<&str>) -> String {
    v.filter(|d| d.len() == 10 && d.chars().all(|c| c.is_ascii_digit() || c == '-'))
        .unwrap_or_default()
        .to_owned()
}

fn values(r: &StatisticsRow) -> [u64; 4] {
    [
        r.inquiries + r.inquiries_pending,
        r.provisions,
        r.refusals,
        r.holds,
    ]
}

fn table(ctx: &Ctx, id: &str, first: &str, rows: &[(String, [u64; 4])]) -> Markup {
    let t = ctx.lang.t();
    html! {
        table id=(id) {
            thead { tr {
                th scope="col" { (first) } th scope="col" { (t.inquiries) } th scope="col" { (t.provisions) }
                th scope="col" { (t.refusals) } th scope="col" { (t.holds) }
            } }
            tbody { @for (k, v) in rows { tr {
                th scope="row" { (k) } @for n in v { td.num { (n) } }
            } } }
        }
    }
}

async fn render(ctx: &Ctx, uri: &Uri) -> Response {
    let token = match web::need_login(ctx) {
        Ok(l) => l.token.clone(),
        Err(r) => return r,
    };
    let t = ctx.lang.t();
    let (from, to) = (day(query_param(uri, "from")), day(query_param(uri, "to")));
    let fetch = |g: StatisticsGrouping| {
        let mut client = ReportsClient::new(ctx.app.gateway.channel());
        let req = authed(
            &token,
            GetStatisticsRequest {
                from: from.clone(),
                to: to.clone(),
                group_by: g as i32,
            },
        );
        async move {
            client
                .get_statistics(req)
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let by_day = match fetch(StatisticsGrouping::Day).await {
        Ok(r) => r,
        Err(s) => return web::gateway_failure(ctx, &s),
    };
    let by_proc = match fetch(StatisticsGrouping::Procedure).await {
        Ok(r) => r,
        Err(s) => return web::gateway_failure(ctx, &s),
    };
    let days: Vec<(String, [u64; 4])> = by_day
        .rows
        .iter()
        .map(|r| (r.day.clone(), values(r)))
        .collect();
    let procs: Vec<(String, [u64; 4])> = by_proc
        .rows
        .iter()
        .map(|r| (r.procedure.clone(), values(r)))
        .collect();
    let series = [t.inquiries, t.provisions, t.refusals, t.holds];
    let total = by_day.total.as_ref().map(values).unwrap_or_default();
    let body = html! {
        form.filters method="get" action="/stats" {
            label for="from" { (t.period_from) }
            input id="from" name="from" type="date" value=(from);
            label for="to" { (t.period_to) }
            input id="to" name="to" type="date" value=(to);
            button type="submit" { (t.show) }
        }
        p id="stats-total" { (t.total) ": " (t.inquiries) " " (total[0]) " / " (t.provisions) " " (total[1])
            " / " (t.refusals) " " (total[2]) " / " (t.holds) " " (total[3]) }
        h2 { (t.by_day) }
        @if days.is_empty() { p.empty { (t.none_found) } } @else {
            (svg::grouped_bars("chart-day", &format!("{} {}", t.by_day, t.chart_of), &series, &days))
            (table(ctx, "stats-day", t.day, &days))
        }
        h2 { (t.by_procedure) }
        @if procs.is_empty() { p.empty { (t.none_found) } } @else {
            (svg::grouped_bars("chart-procedure", &format!("{} {}", t.by_procedure, t.chart_of), &series, &procs))
            (table(ctx, "stats-procedure", t.procedure, &procs))
        }
    };
    page(ctx, t.stats_title, body).into_response()
}

pub(super) async fn show(ctx: Ctx, uri: Uri) -> Response {
    render(&ctx, &uri).await
}
