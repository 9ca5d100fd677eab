//! 保留中の照会: held inquiries, never with their payload; the three confirmations and
//! the decision.

use axum::extract::Path;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use renkei_core::dose::{self, DoseField};
use renkei_proto::v1::auto_response_block_client::AutoResponseBlockClient;
use renkei_proto::v1::{
    Confirmations, Content, DecideRequest, Decision, Dose, FlagReason, GetHeldRequest, HeldInquiry,
    HeldState, HoldCause, ListHeldRequest, VaccinationHistory, content,
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

/// Rows of the manual answer editor: enough for a child's series of one vaccine at a
/// time; an operator with more doses answers what the inquirer asked about.
const DOSE_ROWS: usize = 4;

/// The fields of one dose row as typed, kept to show them again beside their errors.
#[derive(Debug, Clone, Default)]
struct DoseRow {
    vaccine: String,
    dose_number: String,
    date: String,
    date_unknown: bool,
    lot: String,
    maker: String,
    institution: String,
    outside_city: bool,
    remarks: String,
}

impl DoseRow {
    fn read(f: &web::Fields, i: usize) -> DoseRow {
        let g = |name: &str| f.get(&format!("d{i}_{name}")).to_owned();
        DoseRow {
            vaccine: g("vaccine"),
            dose_number: g("dose_number"),
            date: g("date"),
            date_unknown: f.checked(&format!("d{i}_date_unknown")),
            lot: g("lot"),
            maker: g("maker"),
            institution: g("institution"),
            outside_city: f.checked(&format!("d{i}_outside_city")),
            remarks: g("remarks"),
        }
    }

    fn is_blank(&self) -> bool {
        [
            &self.vaccine,
            &self.dose_number,
            &self.date,
            &self.lot,
            &self.maker,
            &self.institution,
            &self.remarks,
        ]
        .iter()
        .all(|v| v.is_empty())
            && !self.date_unknown
            && !self.outside_city
    }
}

/// The manual answer as typed: its rows, and per row the field at fault with the reason.
#[derive(Debug, Clone, Default)]
struct Manual {
    rows: Vec<DoseRow>,
    errors: Vec<(usize, DoseField, String)>,
}

impl Manual {
    fn read(f: &web::Fields) -> Manual {
        Manual {
            rows: (0..DOSE_ROWS).map(|i| DoseRow::read(f, i)).collect(),
            errors: Vec::new(),
        }
    }

    fn error(&self, row: usize, field: DoseField) -> Option<&str> {
        self.errors
            .iter()
            .find(|(r, f, _)| *r == row && *f == field)
            .map(|(_, _, m)| m.as_str())
    }

    /// The one dose check of `renkei_core::dose` (the gateway runs the same on the
    /// answer), row by row, so that every field at fault is shown at once rather than the
    /// gateway's first. `None` when every row is blank.
    fn check(&mut self, lang: Lang, today: time::Date) -> Option<Content> {
        let t = lang.t();
        let words = dose::DoseWords {
            date_unknown: t.dose_date_unknown,
            unknown_date_hint: t.dose_unknown_hint,
        };
        let rules = dose::DoseRules {
            today,
            birth: None,
            date_forms: dose::DateForms::Iso,
        };
        let mut doses = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, r) in self.rows.iter().enumerate() {
            if r.is_blank() {
                continue;
            }
            let number = r.dose_number.parse::<u32>();
            let input = dose::DoseInput {
                vaccine: &r.vaccine,
                dose_number: dose::DoseNumber::Text(&r.dose_number),
                date: &r.date,
                date_unknown: r.date_unknown,
                lot: &r.lot,
                maker: &r.maker,
                institution: &r.institution,
                remarks: &r.remarks,
            };
            match dose::check_dose(&input, &rules) {
                Err(p) => {
                    let msg = dose_message(lang, &p, &words);
                    self.errors.push((i, p.field, msg));
                }
                Ok(_) => {
                    let n = number.unwrap_or_default();
                    let id = dose::DoseIdentity::of(&r.vaccine, n, &r.date, r.date_unknown);
                    if !seen.insert(id) {
                        self.errors
                            .push((i, DoseField::Vaccine, t.dose_duplicate.to_owned()));
                        continue;
                    }
                    doses.push(Dose {
                        vaccine_code: r.vaccine.clone(),
                        dose_number: n,
                        date: if r.date_unknown {
                            String::new()
                        } else {
                            r.date.clone()
                        },
                        date_unknown: r.date_unknown,
                        lot: r.lot.clone(),
                        maker: r.maker.clone(),
                        institution_code: r.institution.clone(),
                        outside_city: r.outside_city,
                        remarks: r.remarks.clone(),
                    });
                }
            }
        }
        let any = !doses.is_empty();
        any.then_some(Content {
            body: Some(content::Body::Vaccination(VaccinationHistory { doses })),
        })
    }
}

/// A refused dose item in the operator's language. The check's own wording is English
/// (it also serves CSV and FHIR callers); the Japanese screen says the same in Japanese,
/// falling back to the English text for a reason added later.
fn dose_message(lang: Lang, p: &dose::DoseProblem, words: &dose::DoseWords) -> String {
    use dose::DoseReason as R;
    if lang == Lang::En {
        return p.describe(words);
    }
    match &p.reason {
        R::UnknownVaccine { .. } => "一覧からワクチンを選んでください".to_owned(),
        R::DoseNumberOutOfRange { vaccine, .. } => format!(
            "{}（{}）の回数は 1〜{} です",
            vaccine.name_ja, vaccine.code, vaccine.max_doses
        ),
        R::DateGivenButUnknown => "「接種日不明」のときは接種日を空欄にしてください".to_owned(),
        R::NoDate => "接種日を入力するか「接種日不明」にチェックしてください".to_owned(),
        R::NotADate { .. } => "日付は YYYY-MM-DD で入力してください".to_owned(),
        R::InFuture(d) => format!("{d} は未来の日付です"),
        R::Before1900(d) => format!("{d} は1900年より前です"),
        R::BeforeBirth { date, birth } => format!("{date} は生年月日 {birth} より前です"),
        R::InstitutionCode { .. } => "空欄か10桁の数字で入力してください".to_owned(),
        R::ControlCharacters => "制御文字が含まれています".to_owned(),
        R::TooLong { max } => format!("{max} 文字以内で入力してください"),
        _ => p.describe(words),
    }
}

/// One labelled input of a dose row, with its error (if any) right after it and tied to
/// it by `aria-describedby`.
fn dose_input(
    id: &str,
    label: &str,
    kind: &str,
    value: &str,
    error: Option<&str>,
    extra: Option<(&str, &str)>,
) -> Markup {
    let err_id = format!("{id}-error");
    html! {
        div.field {
            label for=(id) { (label) }
            @let (min, max) = extra.unwrap_or_default();
            input id=(id) name=(id) type=(kind) value=(value)
                min=[(!min.is_empty()).then_some(min)] max=[(!max.is_empty()).then_some(max)]
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| err_id.as_str())];
            @if let Some(e) = error { span.field-error id=(err_id) { (e) } }
        }
    }
}

fn manual_editor(lang: Lang, m: &Manual) -> Markup {
    let t = lang.t();
    html! {
        fieldset.manual id="manual" {
            legend { (t.manual_title) }
            p.hint { (t.manual_hint) }
            @for i in 0..DOSE_ROWS {
                @let r = m.rows.get(i).cloned().unwrap_or_default();
                @let id = |f: &str| format!("d{i}_{f}");
                fieldset.dose {
                    legend { (t.dose_row) " " (i + 1) }
                    div.field {
                        @let vid = id("vaccine");
                        @let err = m.error(i, DoseField::Vaccine);
                        label for=(vid) { (t.dose_vaccine) }
                        select id=(vid) name=(vid) aria-invalid=[err.map(|_| "true")]
                            aria-describedby=[err.map(|_| format!("{vid}-error"))] {
                            option value="" { (t.dose_choose) }
                            @for v in renkei_core::vaccines::VACCINES {
                                option value=(v.code) selected[v.code == r.vaccine] {
                                    (v.code) " " (v.name_ja)
                                }
                            }
                        }
                        @if let Some(e) = err { span.field-error id={ (vid) "-error" } { (e) } }
                    }
                    (dose_input(&id("dose_number"), t.dose_number, "number", &r.dose_number,
                        m.error(i, DoseField::DoseNumber), Some(("1", "9"))))
                    (dose_input(&id("date"), t.dose_date, "date", &r.date,
                        m.error(i, DoseField::Date), None))
                    div.check {
                        input id=(id("date_unknown")) name=(id("date_unknown")) type="checkbox" value="1" checked[r.date_unknown];
                        label for=(id("date_unknown")) { (t.dose_date_unknown) }
                    }
                    (dose_input(&id("lot"), t.dose_lot, "text", &r.lot, m.error(i, DoseField::Lot), None))
                    (dose_input(&id("maker"), t.dose_maker, "text", &r.maker, m.error(i, DoseField::Maker), None))
                    (dose_input(&id("institution"), t.dose_institution, "text", &r.institution,
                        m.error(i, DoseField::Institution), None))
                    div.check {
                        input id=(id("outside_city")) name=(id("outside_city")) type="checkbox" value="1" checked[r.outside_city];
                        label for=(id("outside_city")) { (t.dose_outside_city) }
                    }
                    (dose_input(&id("remarks"), t.dose_remarks, "text", &r.remarks,
                        m.error(i, DoseField::Remarks), None))
                }
            }
        }
    }
}

fn detail_page(ctx: &Ctx, h: &HeldInquiry, error: Option<&str>) -> Markup {
    detail_page_with(ctx, h, error, &Manual::default())
}

fn detail_page_with(ctx: &Ctx, h: &HeldInquiry, error: Option<&str>, manual: &Manual) -> Markup {
    let t = ctx.lang.t();
    let waiting = h.state == HeldState::Waiting as i32;
    let no_copy = h.cause == HoldCause::NoCopy as i32;
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
                @if no_copy { (manual_editor(ctx.lang, manual)) }
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
    let mut manual = Manual::read(f);
    let mut manual_content = None;
    if decision == Decision::Approve && manual.rows.iter().any(|r| !r.is_blank()) {
        let h = match get(&ctx, &token, &permit).await {
            Ok(h) => h,
            Err(r) => return r,
        };
        if h.cause == HoldCause::NoCopy as i32 {
            let today = renkei_core::jst::today(ctx.app.clock.as_ref());
            manual_content = manual.check(ctx.lang, today);
            if !manual.errors.is_empty() {
                return (
                    StatusCode::BAD_REQUEST,
                    page(
                        &ctx,
                        t.held_title,
                        detail_page_with(&ctx, &h, Some(t.manual_invalid), &manual),
                    ),
                )
                    .into_response();
            }
        }
    }
    let result = AutoResponseBlockClient::new(ctx.app.gateway.channel())
        .decide(authed(
            &token,
            DecideRequest {
                permit_id: permit.clone(),
                decision: decision as i32,
                confirmations: Some(confirmations),
                manual_content,
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
