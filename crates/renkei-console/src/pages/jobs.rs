//! バッチ: batch jobs, with live progress through server-sent events.
//!
//! The event stream polls the gateway once a second and stops when the operator's login
//! goes idle, so a page left open does not keep a session alive.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use maud::html;
use renkei_proto::v1::system_management_client::SystemManagementClient;
use renkei_proto::v1::{Job, JobKind, JobState, ListJobsRequest};
use serde_json::json;

use super::{page, when};
use crate::gateway::authed;
use crate::web::{self, Ctx};

fn kind(k: i32) -> &'static str {
    match JobKind::try_from(k).unwrap_or(JobKind::Unspecified) {
        JobKind::ImportCopies => "import-copies",
        JobKind::ImportFlags => "import-flags",
        JobKind::RetentionPurge => "retention-purge",
        JobKind::RegisterAddressNumbers => "register-address-numbers",
        JobKind::AcquireSymbols => "acquire-symbols",
        JobKind::Unspecified => "?",
    }
}

fn state(s: i32) -> &'static str {
    match JobState::try_from(s).unwrap_or(JobState::Unspecified) {
        JobState::Running => "running",
        JobState::Succeeded => "succeeded",
        JobState::Failed => "failed",
        JobState::Cancelled => "cancelled",
        JobState::Interrupted => "interrupted",
        JobState::Unspecified => "?",
    }
}

fn progress_text(j: &Job) -> String {
    if j.total > 0 {
        format!("{} / {}", j.processed, j.total)
    } else {
        j.processed.to_string()
    }
}

fn percent(j: &Job) -> u64 {
    // A stream does not announce its length: a finished job of unknown size is complete.
    if j.total == 0 {
        return if j.finished_at_ms > 0 { 100 } else { 0 };
    }
    j.processed
        .saturating_mul(100)
        .checked_div(j.total)
        .unwrap_or(0)
        .min(100)
}

fn as_json(j: &Job) -> serde_json::Value {
    json!({
        "id": j.job_id,
        "state": state(j.state),
        "progress": progress_text(j),
        "rejected": j.rejected,
        "percent": percent(j),
        "finished": when(j.finished_at_ms),
    })
}

pub(super) async fn list(ctx: Ctx) -> Response {
    let token = match web::need_login(&ctx) {
        Ok(l) => l.token.clone(),
        Err(r) => return r,
    };
    let t = ctx.lang.t();
    let jobs = match SystemManagementClient::new(ctx.app.gateway.channel())
        .list_jobs(authed(&token, ListJobsRequest::default()))
        .await
    {
        Ok(r) => r.into_inner().jobs,
        Err(s) => return web::gateway_failure(&ctx, &s),
    };
    let body = html! {
        p { (t.jobs_intro) }
        @if jobs.is_empty() { p.empty { (t.none_found) } } @else {
            table id="jobs" data-live="/jobs/events" {
                thead { tr {
                    th scope="col" { (t.job) } th scope="col" { (t.kind) } th scope="col" { (t.state) }
                    th scope="col" { (t.progress) } th scope="col" { (t.rejected) }
                    th scope="col" { (t.started) } th scope="col" { (t.finished) }
                    th scope="col" { (t.started_by) } th scope="col" { (t.detail) }
                } }
                tbody { @for j in &jobs { tr data-job=(j.job_id) {
                    td { (j.job_id) } td { (kind(j.kind)) }
                    td data-f="state" { (state(j.state)) }
                    td {
                        progress max="100" value=(percent(j))
                            aria-label=(t.progress) data-f="percent" {}
                        " " span data-f="progress" { (progress_text(j)) }
                    }
                    td data-f="rejected" { (j.rejected) }
                    td { (when(j.started_at_ms)) } td data-f="finished" { (when(j.finished_at_ms)) }
                    td { (j.started_by) } td { (j.error) }
                } } }
            }
        }
    };
    page(&ctx, t.jobs_title, body).into_response()
}

pub(super) async fn events(ctx: Ctx) -> Response {
    if let Err(r) = web::need_login(&ctx) {
        return r;
    }
    Sse::new(stream(ctx))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn stream(ctx: Ctx) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(Some(ctx), |ctx| async move {
        let ctx = ctx?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = ctx.app.clock.now_ms();
        let Some(token) = ctx.app.sessions.live_token(&ctx.sid, now) else {
            return Some((Ok(Event::default().event("ended").data("idle")), None));
        };
        let listed = SystemManagementClient::new(ctx.app.gateway.channel())
            .list_jobs(authed(&token, ListJobsRequest::default()))
            .await;
        match listed {
            Ok(r) => {
                let jobs: Vec<_> = r.into_inner().jobs.iter().map(as_json).collect();
                let ev = Event::default()
                    .event("jobs")
                    .data(serde_json::Value::Array(jobs).to_string());
                Some((Ok(ev), Some(ctx)))
            }
            Err(s) => {
                tracing::debug!(code = ?s.code(), "job events stopped");
                Some((Ok(Event::default().event("ended").data("refused")), None))
            }
        }
    })
}
