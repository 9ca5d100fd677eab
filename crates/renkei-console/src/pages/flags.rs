//! 自動応答不可フラグ: list, set, clear, and CSV upload with per-row errors.
//!
//! The person's number is sent in POST bodies only, never in a URL.

use axum::extract::Multipart;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use renkei_proto::v1::auto_response_block_client::AutoResponseBlockClient;
use renkei_proto::v1::{
    BulkSummary, ClearFlagRequest, Flag, FlagReason, ListFlagsRequest, SetFlagRequest,
};

use super::held::flag_reason_name;
use super::{csrf_field, page, when};
use crate::gateway::authed;
use crate::session::same_secret;
use crate::web::{self, Ctx};

/// Largest CSV accepted in one upload.
const MAX_UPLOAD: usize = 8 * 1024 * 1024;

const REASONS: [(&str, FlagReason); 4] = [
    ("support-measure", FlagReason::SupportMeasure),
    ("master-error", FlagReason::MasterError),
    ("sensitive", FlagReason::Sensitive),
    ("other", FlagReason::Other),
];

fn reason(code: &str) -> FlagReason {
    REASONS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(FlagReason::Unspecified, |(_, r)| *r)
}

/// One parsed upload line and where it was in the file.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) line: usize,
    pub(crate) request: SetFlagRequest,
}

/// Parses the upload as `renkei ops flags import` does: a line that cannot be read is
/// still sent (with an unusable field), so the gateway reports it with the others.
pub(crate) fn parse_csv(text: &str) -> Vec<Row> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("unified_address_number") {
            continue;
        }
        let mut cols = line.splitn(4, ',').map(str::trim);
        let uan = cols.next().unwrap_or_default().to_owned();
        let item = cols.next().unwrap_or("0").parse().unwrap_or(u32::MAX);
        let r = reason(cols.next().unwrap_or_default());
        out.push(Row {
            line: i + 1,
            request: SetFlagRequest {
                unified_address_number: uan,
                item,
                reason: r as i32,
                note: cols.next().unwrap_or_default().to_owned(),
            },
        });
    }
    out
}

fn forms(ctx: &Ctx) -> Markup {
    let t = ctx.lang.t();
    html! {
        div.grid {
            form.card id="set-flag" method="post" action="/flags/set" {
                h2 { (t.set_flag) }
                (csrf_field(ctx))
                label for="set-uan" { (t.unified_address_number) }
                input id="set-uan" name="uan" type="text" inputmode="numeric" required maxlength="15" autocomplete="off";
                label for="set-item" { (t.item) " (" (t.item_all_hint) ")" }
                input id="set-item" name="item" type="number" min="0" value="0";
                label for="set-reason" { (t.reason) }
                select id="set-reason" name="reason" {
                    @for (code, r) in REASONS { option value=(code) { (flag_reason_name(ctx.lang, r as i32)) } }
                }
                label for="set-note" { (t.note) }
                input id="set-note" name="note" type="text" maxlength="200";
                button type="submit" { (t.set_flag) }
            }
            form.card method="post" action="/flags/import" enctype="multipart/form-data" {
                h2 { (t.import_title) }
                (csrf_field(ctx))
                p.hint id="import-hint" { (t.import_hint) }
                label for="csv" { (t.csv_file) }
                input id="csv" name="file" type="file" accept=".csv,text/csv" required aria-describedby="import-hint";
                button type="submit" { (t.upload) }
            }
            form.card method="post" action="/flags" {
                h2 { (t.filter_person) }
                (csrf_field(ctx))
                label for="find-uan" { (t.unified_address_number) }
                input id="find-uan" name="uan" type="text" inputmode="numeric" maxlength="15" autocomplete="off";
                button type="submit" { (t.search) }
            }
        }
    }
}

fn table(ctx: &Ctx, flags: &[Flag]) -> Markup {
    let t = ctx.lang.t();
    html! {
        @if flags.is_empty() { p.empty { (t.none_found) } } @else {
            table id="flags" {
                thead { tr {
                    th scope="col" { (t.unified_address_number) } th scope="col" { (t.item) }
                    th scope="col" { (t.reason) } th scope="col" { (t.note) }
                    th scope="col" { (t.set_by) } th scope="col" { (t.set_at) }
                    th scope="col" { span.visually-hidden { (t.clear_flag) } }
                } }
                tbody { @for f in flags { tr {
                    td { (f.unified_address_number) }
                    td { @if f.item == 0 { (t.all_items) } @else { (f.item) } }
                    td { (flag_reason_name(ctx.lang, f.reason)) } td { (f.note) }
                    td { (f.set_by) } td { (when(f.set_at_ms)) }
                    td { form.inline method="post" action="/flags/clear" {
                        (csrf_field(ctx))
                        input type="hidden" name="uan" value=(f.unified_address_number);
                        input type="hidden" name="item" value=(f.item);
                        button.danger type="submit" aria-label={ (t.clear_flag) " " (f.unified_address_number) } { (t.clear_flag) }
                    } }
                } } }
            }
        }
    }
}

async fn show(ctx: &Ctx, token: &str, person: &str, before: Markup) -> Response {
    let t = ctx.lang.t();
    let flags = match AutoResponseBlockClient::new(ctx.app.gateway.channel())
        .list_flags(authed(
            token,
            ListFlagsRequest {
                unified_address_number: person.to_owned(),
            },
        ))
        .await
    {
        Ok(r) => r.into_inner().flags,
        Err(s) => return web::gateway_failure(ctx, &s),
    };
    let body = html! {
        p { (t.flags_intro) }
        (before)
        (forms(ctx))
        (table(ctx, &flags))
    };
    page(ctx, t.flags_title, body).into_response()
}

fn token(ctx: &Ctx) -> Result<String, Response> {
    web::need_login(ctx).map(|l| l.token.clone())
}

pub(super) async fn list(ctx: Ctx) -> Response {
    match token(&ctx) {
        Ok(tok) => show(&ctx, &tok, "", html! {}).await,
        Err(r) => r,
    }
}

pub(super) async fn search(ctx: Ctx) -> Response {
    match token(&ctx) {
        Ok(tok) => show(&ctx, &tok, ctx.fields.get("uan"), html! {}).await,
        Err(r) => r,
    }
}

fn item_field(ctx: &Ctx) -> u32 {
    let v = ctx.fields.get("item");
    if v.is_empty() {
        0
    } else {
        v.parse().unwrap_or(u32::MAX)
    }
}

pub(super) async fn set(ctx: Ctx) -> Response {
    let tok = match token(&ctx) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let f = &ctx.fields;
    let result = AutoResponseBlockClient::new(ctx.app.gateway.channel())
        .set_flag(authed(
            &tok,
            SetFlagRequest {
                unified_address_number: f.get("uan").to_owned(),
                item: item_field(&ctx),
                reason: reason(f.get("reason")) as i32,
                note: f.get("note").to_owned(),
            },
        ))
        .await;
    match result {
        Ok(_) => {
            let done = html! { div.notice role="status" { (ctx.lang.t().flag_set) } };
            show(&ctx, &tok, "", done).await
        }
        Err(s) => web::gateway_failure(&ctx, &s),
    }
}

pub(super) async fn clear(ctx: Ctx) -> Response {
    let t = ctx.lang.t();
    let tok = match token(&ctx) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let result = AutoResponseBlockClient::new(ctx.app.gateway.channel())
        .clear_flag(authed(
            &tok,
            ClearFlagRequest {
                unified_address_number: ctx.fields.get("uan").to_owned(),
                item: item_field(&ctx),
            },
        ))
        .await;
    match result {
        Ok(r) => {
            let msg = if r.into_inner().existed {
                t.flag_cleared
            } else {
                t.flag_absent
            };
            show(&ctx, &tok, "", html! { div.notice role="status" { (msg) } }).await
        }
        Err(s) => web::gateway_failure(&ctx, &s),
    }
}

fn summary(ctx: &Ctx, rows: &[Row], s: &BulkSummary) -> Markup {
    let t = ctx.lang.t();
    html! {
        section.card aria-labelledby="import-result" {
            h2 id="import-result" { (t.import_result) }
            p id="import-counts" {
                (t.accepted) ": " span id="accepted" { (s.accepted) } " / "
                (t.rejected) ": " span id="rejected" { (s.rejected) }
            }
            @if !s.errors.is_empty() {
                table id="import-errors" {
                    thead { tr {
                        th scope="col" { (t.line) } th scope="col" { (t.unified_address_number) }
                        th scope="col" { (t.field) } th scope="col" { (t.reason) }
                    } }
                    tbody { @for e in &s.errors {
                        @let line = usize::try_from(e.index).ok().and_then(|i| rows.get(i)).map(|r| r.line);
                        tr {
                            td { @if let Some(l) = line { (l) } @else { (e.index + 1) } }
                            td { (e.key) } td { (e.field) } td { (e.reason) }
                        }
                    } }
                }
            }
        }
    }
}

pub(super) async fn import(ctx: Ctx, mut multipart: Multipart) -> Response {
    let mut csrf = String::new();
    let mut file = Vec::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let Ok(bytes) = field.bytes().await else {
                    return web::csrf_refused(ctx.lang);
                };
                match name.as_str() {
                    "csrf" => csrf = String::from_utf8_lossy(&bytes).trim().to_owned(),
                    "file" if bytes.len() <= MAX_UPLOAD => file = bytes.to_vec(),
                    "file" => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return web::csrf_refused(ctx.lang),
        }
    }
    if !same_secret(&csrf, &ctx.csrf) {
        tracing::warn!(path = %ctx.path, "upload refused: no valid CSRF token");
        return web::csrf_refused(ctx.lang);
    }
    let tok = match token(&ctx) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let rows = parse_csv(&String::from_utf8_lossy(&file));
    let requests: Vec<SetFlagRequest> = rows.iter().map(|r| r.request.clone()).collect();
    let result = AutoResponseBlockClient::new(ctx.app.gateway.channel())
        .import_flags(authed(&tok, tokio_stream::iter(requests)))
        .await;
    match result {
        Ok(s) => {
            let s = s.into_inner();
            let before = summary(&ctx, &rows, &s);
            show(&ctx, &tok, "", before).await
        }
        Err(s) => web::gateway_failure(&ctx, &s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_their_line_numbers_and_unreadable_fields_stay_for_the_gateway_to_report() {
        let rows = parse_csv(
            "\u{feff}unified_address_number,item,reason,note\n\n1,0,sensitive,a\n2,x,other\n3,0,nope\n",
        );
        let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert_eq!(rows[0].request.reason, FlagReason::Sensitive as i32);
        assert_eq!(rows[0].request.note, "a");
        assert_eq!(rows[1].request.item, u32::MAX);
        assert_eq!(rows[2].request.reason, FlagReason::Unspecified as i32);
    }
}
