//! `renkei ops records` and `renkei ops stats` (records reviewers and administrators).
//!
//! Filters go to the gateway as typed, so it is the gateway that says which one is wrong.
//! An export pages through every record the filters select and writes it to a temporary
//! file first, renamed into place once complete: a failed export leaves no half file.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use renkei_proto::v1::reports_client::ReportsClient;
use renkei_proto::v1::{
    ExchangeRecord, GetStatisticsRequest, QueryRecordsRequest, StatisticsGrouping, StatisticsRow,
};
use renkei_records::{direction_name, outcome_name};
use serde_json::{Value, json};

use super::output::when;
use super::{Ctx, Output, rpc};

#[derive(Debug, Args)]
pub(crate) struct RecordsArgs {
    /// The person's unified address number (団体内統合宛名番号).
    #[arg(long)]
    person: Option<String>,
    /// Start of the period: a day (YYYY-MM-DD, Japan time) or an RFC 3339 timestamp.
    #[arg(long)]
    from: Option<String>,
    /// End of the period: a day (included whole) or an RFC 3339 timestamp (excluded).
    #[arg(long)]
    to: Option<String>,
    /// The agency on the other side (6-digit agency code).
    #[arg(long)]
    counterparty: Option<String>,
    /// The procedure (事務), e.g. vaccination.
    #[arg(long)]
    procedure: Option<String>,
    /// Outcomes, repeated or comma-separated: provided, no_data, refused, held,
    /// not_provided, expired, failed, pending, relayed, purged.
    #[arg(long, value_delimiter = ',')]
    outcome: Vec<String>,
    /// inquiry (this municipality asked), provision (it answered) or system.
    #[arg(long)]
    direction: Option<String>,
    /// At most this many records printed; --csv exports every one.
    #[arg(long, default_value_t = 200)]
    limit: usize,
    /// Records per call to the gateway (at most 1000).
    #[arg(long, default_value_t = 500)]
    page_size: u32,
    /// Export every matching record to this CSV file (with a header row).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum By {
    Procedure,
    Day,
    /// One row per day and procedure.
    DayProcedure,
}

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// First day counted (YYYY-MM-DD, Japan time).
    #[arg(long)]
    from: Option<String>,
    /// Last day counted (included).
    #[arg(long)]
    to: Option<String>,
    #[arg(long, value_enum, default_value_t = By::DayProcedure)]
    by: By,
}

const CSV_HEADER: [&str; 17] = [
    "sequence",
    "recorded_at",
    "direction",
    "counterparty",
    "inquirer",
    "provider",
    "procedure",
    "item",
    "inquiry_id",
    "permit_id",
    "outcome",
    "reason",
    "unified_address_number",
    "operator",
    "envelope_sha256",
    "sealed_answer_sha256",
    "note",
];

/// RFC 3339 in Japan time.
fn stamp(ms: i64) -> String {
    when(ms).replacen(' ', "T", 1)
}

/// One CSV row. Records hold no payload and no My Number, and so does the row: it is
/// made of the record's own fields, nothing else.
fn csv_row(r: &ExchangeRecord) -> [String; 17] {
    [
        r.sequence.to_string(),
        stamp(r.recorded_at_ms),
        direction_name(r.direction).into(),
        r.counterparty.clone(),
        r.inquirer.clone(),
        r.provider.clone(),
        r.procedure.clone(),
        r.item.to_string(),
        r.inquiry_id.clone(),
        r.permit_id.clone(),
        outcome_name(r.outcome).into(),
        r.reason.clone(),
        r.unified_address_number.clone(),
        r.operator.clone(),
        r.envelope_sha256.clone(),
        r.sealed_answer_sha256.clone(),
        r.note.clone(),
    ]
}

fn record_json(r: &ExchangeRecord) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in CSV_HEADER.iter().zip(csv_row(r)) {
        m.insert((*k).into(), Value::String(v));
    }
    m.insert("sequence".into(), json!(r.sequence));
    m.insert("item".into(), json!(r.item));
    Value::Object(m)
}

fn request(a: &RecordsArgs, page_token: String) -> QueryRecordsRequest {
    QueryRecordsRequest {
        unified_address_number: a.person.clone().unwrap_or_default(),
        from: a.from.clone().unwrap_or_default(),
        to: a.to.clone().unwrap_or_default(),
        counterparty: a.counterparty.clone().unwrap_or_default(),
        procedure: a.procedure.clone().unwrap_or_default(),
        outcomes: a.outcome.clone(),
        direction: a.direction.clone().unwrap_or_default(),
        page_size: a.page_size,
        page_token,
    }
}

/// Calls `each` with every page until the gateway says there is no more, or `each` says stop.
async fn pages(
    ctx: &Ctx,
    a: &RecordsArgs,
    mut each: impl FnMut(Vec<ExchangeRecord>) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let mut client = ReportsClient::new(ctx.channel()?);
    let mut token = String::new();
    loop {
        let page = client
            .query_records(ctx.authed(request(a, token))?)
            .await
            .map_err(rpc("querying the records"))?
            .into_inner();
        if !each(page.records)? || page.next_page_token.is_empty() {
            return Ok(());
        }
        token = page.next_page_token;
    }
}

async fn export(ctx: &Ctx, a: &RecordsArgs, path: &Path) -> anyhow::Result<Output> {
    let partial = path.with_extension("csv.partial");
    let mut w = csv::Writer::from_path(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    w.write_record(CSV_HEADER)?;
    let mut n = 0u64;
    let written = pages(ctx, a, |records| {
        for r in &records {
            w.write_record(csv_row(r))?;
            n += 1;
        }
        Ok(true)
    })
    .await;
    let finished = written.and_then(|()| Ok(w.flush()?));
    if let Err(e) = finished {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    drop(w);
    std::fs::rename(&partial, path)
        .with_context(|| format!("moving the export into place at {}", path.display()))?;
    Ok(Output::message(
        format!("exported {n} records to {}", path.display()),
        json!({ "exported": n, "file": path.display().to_string() }),
    ))
}

pub(crate) async fn records(ctx: &Ctx, a: RecordsArgs) -> anyhow::Result<Output> {
    if let Some(path) = &a.csv {
        return export(ctx, &a, path).await;
    }
    let mut found = Vec::new();
    let mut more = false;
    pages(ctx, &a, |records| {
        for r in records {
            if found.len() == a.limit {
                more = true;
                return Ok(false);
            }
            found.push(r);
        }
        Ok(true)
    })
    .await?;
    Ok(Output {
        headers: vec![
            "SEQ",
            "TIME",
            "DIRECTION",
            "COUNTERPARTY",
            "PROCEDURE",
            "ITEM",
            "PERSON",
            "OUTCOME",
            "OPERATOR",
            "REASON",
        ],
        rows: found
            .iter()
            .map(|r| {
                vec![
                    r.sequence.to_string(),
                    when(r.recorded_at_ms),
                    direction_name(r.direction).into(),
                    r.counterparty.clone(),
                    r.procedure.clone(),
                    r.item.to_string(),
                    r.unified_address_number.clone(),
                    outcome_name(r.outcome).into(),
                    r.operator.clone(),
                    r.reason.clone(),
                ]
            })
            .collect(),
        json: Value::Array(found.iter().map(record_json).collect()),
        note: more.then(|| {
            format!(
                "(the first {} records; narrow the filters, raise --limit, or export all with --csv FILE)",
                a.limit
            )
        }),
    })
}

fn row_json(r: &StatisticsRow) -> Value {
    json!({
        "day": r.day, "procedure": r.procedure, "inquiries": r.inquiries,
        "inquiries_pending": r.inquiries_pending, "provisions": r.provisions,
        "refusals": r.refusals, "holds": r.holds, "not_provided": r.not_provided,
        "expired": r.expired,
        "cells": r.cells.iter().map(|c| json!({
            "direction": c.direction, "outcome": c.outcome, "count": c.count
        })).collect::<Vec<_>>(),
    })
}

pub(crate) async fn stats(ctx: &Ctx, a: StatsArgs) -> anyhow::Result<Output> {
    let group_by = match a.by {
        By::Procedure => StatisticsGrouping::Procedure,
        By::Day => StatisticsGrouping::Day,
        By::DayProcedure => StatisticsGrouping::DayAndProcedure,
    };
    let resp = ReportsClient::new(ctx.channel()?)
        .get_statistics(ctx.authed(GetStatisticsRequest {
            from: a.from.unwrap_or_default(),
            to: a.to.unwrap_or_default(),
            group_by: group_by as i32,
        })?)
        .await
        .map_err(rpc("reading the statistics"))?
        .into_inner();
    let total = resp.total.unwrap_or_default();
    let mut headers = Vec::new();
    if !matches!(a.by, By::Procedure) {
        headers.push("DAY");
    }
    if !matches!(a.by, By::Day) {
        headers.push("PROCEDURE");
    }
    let keys = headers.len();
    headers.extend([
        "INQUIRIES",
        "PENDING",
        "PROVISIONS",
        "REFUSALS",
        "HOLDS",
        "NOT-PROVIDED",
        "EXPIRED",
    ]);
    let line = |r: &StatisticsRow, label: Option<&str>| {
        let mut cells = Vec::new();
        match label {
            Some(l) => {
                cells.push(l.to_owned());
                cells.extend(std::iter::repeat_n(String::new(), keys - 1));
            }
            None => {
                if !matches!(a.by, By::Procedure) {
                    cells.push(r.day.clone());
                }
                if !matches!(a.by, By::Day) {
                    cells.push(r.procedure.clone());
                }
            }
        }
        cells.extend(
            [
                r.inquiries,
                r.inquiries_pending,
                r.provisions,
                r.refusals,
                r.holds,
                r.not_provided,
                r.expired,
            ]
            .map(|n| n.to_string()),
        );
        cells
    };
    let mut rows: Vec<Vec<String>> = resp.rows.iter().map(|r| line(r, None)).collect();
    rows.push(line(&total, Some("TOTAL")));
    Ok(Output {
        headers,
        rows,
        json: json!({
            "rows": resp.rows.iter().map(row_json).collect::<Vec<_>>(),
            "total": row_json(&total),
        }),
        note: Some(
            "Counts of records: an exchange held or pending and settled later counts once as \
             held/pending and once as settled."
                .into(),
        ),
    })
}
