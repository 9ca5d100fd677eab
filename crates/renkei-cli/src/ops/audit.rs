//! `renkei ops audit` (administrators and records reviewers).

use clap::Args;
use renkei_proto::v1::QueryAuditRequest;
use renkei_proto::v1::operators_client::OperatorsClient;
use serde_json::{Value, json};

use super::output::when;
use super::{Ctx, Output, rpc};

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    #[arg(long, default_value = "")]
    operator: String,
    /// An action or its prefix, e.g. "held." or "login".
    #[arg(long, default_value = "")]
    action: String,
    /// Unified address number of the person concerned.
    #[arg(long, default_value = "")]
    target: String,
    #[arg(long, default_value_t = 200)]
    limit: u32,
}

pub(crate) async fn run(ctx: &Ctx, a: AuditArgs) -> anyhow::Result<Output> {
    let entries = OperatorsClient::new(ctx.channel()?)
        .query_audit(ctx.authed(QueryAuditRequest {
            operator: a.operator,
            action: a.action,
            target: a.target,
            limit: a.limit,
            ..Default::default()
        })?)
        .await
        .map_err(rpc("reading the audit log"))?
        .into_inner()
        .entries;
    Ok(Output {
        headers: vec![
            "SEQ",
            "TIME",
            "OPERATOR",
            "TERMINAL",
            "PEER",
            "ACTION",
            "PERSON",
            "PROCEDURE",
            "OUTCOME",
            "DETAIL",
        ],
        rows: entries
            .iter()
            .map(|e| {
                vec![
                    e.sequence.to_string(),
                    when(e.at_ms),
                    e.operator.clone(),
                    e.terminal.clone(),
                    e.peer_address.clone(),
                    e.action.clone(),
                    e.target.clone(),
                    e.procedure.clone(),
                    e.outcome.clone(),
                    e.detail.clone(),
                ]
            })
            .collect(),
        json: Value::Array(
            entries
                .iter()
                .map(|e| {
                    json!({ "sequence": e.sequence, "at": when(e.at_ms), "operator": e.operator,
                        "terminal": e.terminal, "terminal_cert_sha256": e.terminal_cert_sha256,
                        "peer_address": e.peer_address, "action": e.action, "target": e.target,
                        "procedure": e.procedure, "outcome": e.outcome, "detail": e.detail })
                })
                .collect(),
        ),
        note: None,
    })
}
