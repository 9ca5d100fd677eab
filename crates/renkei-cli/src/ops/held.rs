//! `renkei ops held list|show|approve|refuse`.

use clap::{Args, Subcommand};
use renkei_proto::v1::auto_response_block_client::AutoResponseBlockClient;
use renkei_proto::v1::{
    Confirmations, DecideRequest, Decision, FlagReason, GetHeldRequest, HeldInquiry, HeldState,
    HoldCause, ListHeldRequest,
};
use serde_json::{Value, json};

use super::output::when;
use super::{Ctx, Output, rpc};

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Held inquiries of the procedures you may approve.
    List {
        /// waiting (default), approved, refused or expired.
        #[arg(long, default_value = "waiting")]
        state: String,
    },
    /// One held inquiry (never the data itself).
    Show { permit_id: String },
    /// Approve after the three confirmations; the answer is sealed and sent through the hub.
    Approve(ApproveArgs),
    /// Refuse: the inquirer receives "not provided".
    Refuse { permit_id: String },
}

#[derive(Debug, Args)]
pub(crate) struct ApproveArgs {
    permit_id: String,
    /// Confirmed: the inquirer and procedure are permitted under 番号法第19条.
    #[arg(long)]
    legal_basis: bool,
    /// Confirmed with the inquirer: the inquiry is necessary.
    #[arg(long)]
    necessity: bool,
    /// The inquirer was told the data needs careful handling.
    #[arg(long)]
    careful_handling: bool,
    /// Whom you contacted, when.
    #[arg(long, default_value = "")]
    note: String,
}

const HEADERS: [&str; 9] = [
    "PERMIT",
    "INQUIRER",
    "PROCEDURE",
    "ITEM",
    "PERSON",
    "CAUSE",
    "RECEIVED",
    "EXPIRES",
    "STATE",
];

fn cause(h: &HeldInquiry) -> String {
    match HoldCause::try_from(h.cause).unwrap_or(HoldCause::Unspecified) {
        HoldCause::NoCopy => "no copy".into(),
        _ => match FlagReason::try_from(h.flag_reason).unwrap_or(FlagReason::Unspecified) {
            FlagReason::SupportMeasure => "flag: support measure".into(),
            FlagReason::MasterError => "flag: master error".into(),
            FlagReason::Sensitive => "flag: sensitive".into(),
            _ => "flag".into(),
        },
    }
}

fn state(s: i32) -> &'static str {
    match HeldState::try_from(s).unwrap_or(HeldState::Unspecified) {
        HeldState::Waiting => "waiting",
        HeldState::Approved => "approved",
        HeldState::Refused => "refused",
        HeldState::Expired => "expired",
        HeldState::Unspecified => "?",
    }
}

fn row(h: &HeldInquiry) -> Vec<String> {
    vec![
        h.permit_id.clone(),
        format!("{} {}", h.inquirer, h.inquirer_name),
        h.procedure.clone(),
        h.item.to_string(),
        h.unified_address_number.clone(),
        cause(h),
        when(h.received_at_ms),
        when(h.expires_at_ms),
        state(h.state).into(),
    ]
}

fn to_json(h: &HeldInquiry) -> Value {
    let c = h.confirmations.clone().unwrap_or_default();
    json!({
        "permit_id": h.permit_id, "inquiry_id": h.inquiry_id,
        "inquirer": h.inquirer, "inquirer_name": h.inquirer_name,
        "procedure": h.procedure, "item": h.item, "legal_basis": h.legal_basis,
        "unified_address_number": h.unified_address_number, "cause": cause(h),
        "received_at": when(h.received_at_ms), "expires_at": when(h.expires_at_ms),
        "state": state(h.state), "decided_by": h.decided_by, "decided_at": when(h.decided_at_ms),
        "confirmations": { "legal_basis": c.legal_basis, "necessity": c.necessity,
                           "careful_handling": c.careful_handling, "note": c.note },
    })
}

fn one(h: HeldInquiry) -> Output {
    Output {
        headers: HEADERS.to_vec(),
        rows: vec![row(&h)],
        note: Some(format!("legal basis: {}", h.legal_basis)),
        json: to_json(&h),
    }
}

pub(crate) async fn run(ctx: &Ctx, cmd: Command) -> anyhow::Result<Output> {
    let mut client = AutoResponseBlockClient::new(ctx.channel()?);
    match cmd {
        Command::List { state } => {
            let s = match state.as_str() {
                "waiting" => HeldState::Waiting,
                "approved" => HeldState::Approved,
                "refused" => HeldState::Refused,
                "expired" => HeldState::Expired,
                other => anyhow::bail!(
                    "--state {other:?}: expected waiting, approved, refused or expired"
                ),
            };
            let held = client
                .list_held(ctx.authed(ListHeldRequest { state: s as i32 })?)
                .await
                .map_err(rpc("listing held inquiries"))?
                .into_inner()
                .held;
            Ok(Output {
                headers: HEADERS.to_vec(),
                rows: held.iter().map(row).collect(),
                json: Value::Array(held.iter().map(to_json).collect()),
                note: None,
            })
        }
        Command::Show { permit_id } => {
            let h = client
                .get_held(ctx.authed(GetHeldRequest { permit_id })?)
                .await
                .map_err(rpc("showing the held inquiry"))?
                .into_inner();
            Ok(one(h))
        }
        Command::Approve(a) => {
            let h = client
                .decide(ctx.authed(DecideRequest {
                    permit_id: a.permit_id,
                    decision: Decision::Approve as i32,
                    confirmations: Some(Confirmations {
                        legal_basis: a.legal_basis,
                        necessity: a.necessity,
                        careful_handling: a.careful_handling,
                        note: a.note,
                    }),
                    manual_content: None,
                })?)
                .await
                .map_err(rpc("approval"))?
                .into_inner();
            Ok(one(h))
        }
        Command::Refuse { permit_id } => {
            let h = client
                .decide(ctx.authed(DecideRequest {
                    permit_id,
                    decision: Decision::Refuse as i32,
                    ..Default::default()
                })?)
                .await
                .map_err(rpc("refusal"))?
                .into_inner();
            Ok(one(h))
        }
    }
}
