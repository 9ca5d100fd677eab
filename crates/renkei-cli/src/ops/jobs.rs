//! `renkei ops jobs [--kind K] [--state S]` and `renkei ops jobs show ID`: batch jobs
//! (imports, flag loads, retention purges) of the terminal's municipality.

use clap::{Args, Subcommand};
use renkei_proto::v1::system_management_client::SystemManagementClient;
use renkei_proto::v1::{GetJobRequest, Job, JobKind, JobState, ListJobsRequest};
use serde_json::{Value, json};

use super::output::when;
use super::{Ctx, Output, rpc};

#[derive(Debug, Args)]
pub(crate) struct JobsArgs {
    /// Only this kind: import-copies, import-flags, retention-purge, register-address-numbers,
    /// acquire-symbols.
    #[arg(long)]
    kind: Option<String>,
    /// Only this state: running, succeeded, failed, cancelled, interrupted.
    #[arg(long)]
    state: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// One job, with its progress.
    Show { job_id: String },
}

const KINDS: [(&str, JobKind); 5] = [
    ("import-copies", JobKind::ImportCopies),
    ("import-flags", JobKind::ImportFlags),
    ("retention-purge", JobKind::RetentionPurge),
    ("register-address-numbers", JobKind::RegisterAddressNumbers),
    ("acquire-symbols", JobKind::AcquireSymbols),
];

const STATES: [(&str, JobState); 5] = [
    ("running", JobState::Running),
    ("succeeded", JobState::Succeeded),
    ("failed", JobState::Failed),
    ("cancelled", JobState::Cancelled),
    ("interrupted", JobState::Interrupted),
];

fn parse<T: Copy>(what: &str, table: &[(&str, T)], given: &str) -> anyhow::Result<T> {
    table
        .iter()
        .find(|(name, _)| *name == given)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "unknown {what} {given:?}; one of: {}",
                table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )
        })
}

fn name<T: Copy + PartialEq>(table: &[(&'static str, T)], value: Option<T>) -> &'static str {
    value
        .and_then(|v| table.iter().find(|(_, t)| *t == v).map(|(n, _)| *n))
        .unwrap_or("?")
}

fn kind_name(k: i32) -> &'static str {
    name(&KINDS, JobKind::try_from(k).ok())
}

fn state_name(s: i32) -> &'static str {
    name(&STATES, JobState::try_from(s).ok())
}

fn progress(j: &Job) -> String {
    if j.total > 0 {
        format!("{}/{}", j.processed, j.total)
    } else {
        j.processed.to_string()
    }
}

fn to_json(j: &Job) -> Value {
    json!({
        "job_id": j.job_id,
        "tenant": j.tenant,
        "kind": kind_name(j.kind),
        "state": state_name(j.state),
        "started_at_ms": j.started_at_ms,
        "finished_at_ms": j.finished_at_ms,
        "processed": j.processed,
        "rejected": j.rejected,
        "total": j.total,
        "started_by": j.started_by,
        "error": j.error,
    })
}

const HEADERS: [&str; 8] = [
    "JOB",
    "KIND",
    "STATE",
    "STARTED",
    "FINISHED",
    "PROCESSED",
    "REJECTED",
    "BY",
];

fn row(j: &Job) -> Vec<String> {
    vec![
        j.job_id.clone(),
        kind_name(j.kind).into(),
        state_name(j.state).into(),
        when(j.started_at_ms),
        when(j.finished_at_ms),
        progress(j),
        j.rejected.to_string(),
        j.started_by.clone(),
    ]
}

pub(crate) async fn run(ctx: &Ctx, args: JobsArgs) -> anyhow::Result<Output> {
    let mut client = SystemManagementClient::new(ctx.channel()?);
    if let Some(Command::Show { job_id }) = args.command {
        let j = client
            .get_job(ctx.authed(GetJobRequest { job_id })?)
            .await
            .map_err(rpc("showing the job"))?
            .into_inner();
        return Ok(Output {
            headers: HEADERS.to_vec(),
            rows: vec![row(&j)],
            json: to_json(&j),
            note: (!j.error.is_empty()).then(|| format!("error: {}", j.error)),
        });
    }
    let kind = match &args.kind {
        Some(k) => parse("kind", &KINDS, k)? as i32,
        None => 0,
    };
    let state = match &args.state {
        Some(s) => parse("state", &STATES, s)? as i32,
        None => 0,
    };
    let jobs = client
        .list_jobs(ctx.authed(ListJobsRequest {
            kind,
            state,
            limit: args.limit,
        })?)
        .await
        .map_err(rpc("listing jobs"))?
        .into_inner()
        .jobs;
    Ok(Output {
        headers: HEADERS.to_vec(),
        rows: jobs.iter().map(row).collect(),
        json: Value::Array(jobs.iter().map(to_json).collect()),
        note: None,
    })
}
