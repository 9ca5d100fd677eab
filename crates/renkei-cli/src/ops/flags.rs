//! `renkei ops flags set|clear|list|import`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use renkei_proto::v1::auto_response_block_client::AutoResponseBlockClient;
use renkei_proto::v1::{ClearFlagRequest, Flag, FlagReason, ListFlagsRequest, SetFlagRequest};
use serde_json::{Value, json};

use super::output::when;
use super::{Ctx, Output, rpc};

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Block automatic answers for a person (all items) or one item.
    ///
    /// Example: renkei ops flags set 1410031000001 --reason support-measure
    Set {
        unified_address_number: String,
        /// Item number; 0 (default) blocks every item.
        #[arg(long, default_value_t = 0)]
        item: u32,
        /// support-measure, master-error, sensitive or other.
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Remove a flag.
    Clear {
        unified_address_number: String,
        #[arg(long, default_value_t = 0)]
        item: u32,
    },
    /// Flags of one person, or all.
    List {
        unified_address_number: Option<String>,
    },
    /// Import a CSV file: unified_address_number,item,reason[,note] (header line optional).
    Import { file: PathBuf },
}

fn reason(s: &str) -> anyhow::Result<FlagReason> {
    Ok(match s {
        "support-measure" => FlagReason::SupportMeasure,
        "master-error" => FlagReason::MasterError,
        "sensitive" => FlagReason::Sensitive,
        "other" => FlagReason::Other,
        other => anyhow::bail!(
            "reason {other:?}: expected support-measure, master-error, sensitive or other"
        ),
    })
}

fn reason_name(r: i32) -> &'static str {
    match FlagReason::try_from(r).unwrap_or(FlagReason::Unspecified) {
        FlagReason::SupportMeasure => "support-measure",
        FlagReason::MasterError => "master-error",
        FlagReason::Sensitive => "sensitive",
        FlagReason::Other => "other",
        FlagReason::Unspecified => "?",
    }
}

fn table(flags: &[Flag]) -> Output {
    Output {
        headers: vec!["PERSON", "ITEM", "REASON", "SET BY", "SET AT", "NOTE"],
        rows: flags
            .iter()
            .map(|f| {
                vec![
                    f.unified_address_number.clone(),
                    if f.item == 0 {
                        "all".into()
                    } else {
                        f.item.to_string()
                    },
                    reason_name(f.reason).into(),
                    f.set_by.clone(),
                    when(f.set_at_ms),
                    f.note.clone(),
                ]
            })
            .collect(),
        json: Value::Array(
            flags
                .iter()
                .map(|f| {
                    json!({ "unified_address_number": f.unified_address_number, "item": f.item,
                            "reason": reason_name(f.reason), "set_by": f.set_by,
                            "set_at": when(f.set_at_ms), "note": f.note })
                })
                .collect(),
        ),
        note: None,
    }
}

/// Parses the import file; a line that cannot be read is sent with an empty reason, so the
/// gateway reports it with its position like any other bad record.
fn read_csv(file: &PathBuf) -> anyhow::Result<Vec<SetFlagRequest>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("unified_address_number") {
            continue;
        }
        let mut cols = line.splitn(4, ',').map(str::trim);
        let uan = cols.next().unwrap_or_default().to_owned();
        let item = cols.next().unwrap_or("0").parse().unwrap_or(u32::MAX);
        let reason = cols
            .next()
            .and_then(|r| reason(r).ok())
            .unwrap_or(FlagReason::Unspecified);
        out.push(SetFlagRequest {
            unified_address_number: uan,
            item,
            reason: reason as i32,
            note: cols.next().unwrap_or_default().to_owned(),
        });
    }
    Ok(out)
}

pub(crate) async fn run(ctx: &Ctx, cmd: Command) -> anyhow::Result<Output> {
    let mut client = AutoResponseBlockClient::new(ctx.channel()?);
    match cmd {
        Command::Set {
            unified_address_number,
            item,
            reason: r,
            note,
        } => {
            let f = client
                .set_flag(ctx.authed(SetFlagRequest {
                    unified_address_number,
                    item,
                    reason: reason(&r)? as i32,
                    note,
                })?)
                .await
                .map_err(rpc("setting the flag"))?
                .into_inner();
            Ok(table(&[f]))
        }
        Command::Clear {
            unified_address_number,
            item,
        } => {
            let existed = client
                .clear_flag(ctx.authed(ClearFlagRequest {
                    unified_address_number: unified_address_number.clone(),
                    item,
                })?)
                .await
                .map_err(rpc("clearing the flag"))?
                .into_inner()
                .existed;
            Ok(Output::message(
                if existed {
                    format!("flag on {unified_address_number} (item {item}) cleared")
                } else {
                    format!("there was no flag on {unified_address_number} (item {item})")
                },
                json!({ "existed": existed }),
            ))
        }
        Command::List {
            unified_address_number,
        } => {
            let flags = client
                .list_flags(ctx.authed(ListFlagsRequest {
                    unified_address_number: unified_address_number.unwrap_or_default(),
                })?)
                .await
                .map_err(rpc("listing flags"))?
                .into_inner()
                .flags;
            Ok(table(&flags))
        }
        Command::Import { file } => {
            let rows = read_csv(&file)?;
            let s = client
                .import_flags(ctx.authed(tokio_stream::iter(rows))?)
                .await
                .map_err(rpc("importing flags"))?
                .into_inner();
            Ok(Output {
                headers: vec!["LINE", "PERSON", "FIELD", "REASON"],
                rows: s
                    .errors
                    .iter()
                    .map(|e| {
                        vec![
                            (e.index + 1).to_string(),
                            e.key.clone(),
                            e.field.clone(),
                            e.reason.clone(),
                        ]
                    })
                    .collect(),
                note: Some(format!("{} accepted, {} rejected", s.accepted, s.rejected)),
                json: json!({ "accepted": s.accepted, "rejected": s.rejected,
                    "errors": s.errors.iter().map(|e| json!({ "record": e.index + 1, "key": e.key,
                        "field": e.field, "reason": e.reason })).collect::<Vec<_>>() }),
            })
        }
    }
}
