//! `renkei ops maintenance on --message "…" | off | status`: gateway-wide maintenance mode
//! (administrators turn it on and off; any operator may ask).

use clap::Subcommand;
use renkei_proto::v1::system_management_client::SystemManagementClient;
use renkei_proto::v1::{GetMaintenanceRequest, MaintenanceState, SetMaintenanceRequest};
use serde_json::json;

use super::output::when;
use super::{Ctx, Output, rpc};

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Refuse new work (inquiries, imports, symbol acquisitions, deliveries from the hub)
    /// with UNAVAILABLE and this message; work in flight finishes.
    ///
    /// Example: renkei ops maintenance on --message "OS patching until 22:00"
    On {
        /// Shown to every refused caller: say why and until when.
        #[arg(long)]
        message: String,
    },
    /// Take work again.
    Off,
    /// Whether maintenance is on, since when, by whom.
    Status,
}

fn output(s: &MaintenanceState) -> Output {
    Output {
        headers: vec!["MAINTENANCE", "SINCE", "SET BY", "MESSAGE"],
        rows: vec![vec![
            if s.on { "on" } else { "off" }.into(),
            when(s.since_ms),
            s.set_by.clone(),
            s.message.clone(),
        ]],
        json: json!({
            "on": s.on,
            "message": s.message,
            "since_ms": s.since_ms,
            "set_by": s.set_by,
        }),
        note: None,
    }
}

pub(crate) async fn run(ctx: &Ctx, cmd: Command) -> anyhow::Result<Output> {
    let mut client = SystemManagementClient::new(ctx.channel()?);
    let state = match cmd {
        Command::On { message } => client
            .set_maintenance(ctx.authed(SetMaintenanceRequest { on: true, message })?)
            .await
            .map_err(rpc("turning maintenance on"))?,
        Command::Off => client
            .set_maintenance(ctx.authed(SetMaintenanceRequest {
                on: false,
                message: String::new(),
            })?)
            .await
            .map_err(rpc("turning maintenance off"))?,
        Command::Status => client
            .get_maintenance(ctx.authed(GetMaintenanceRequest {})?)
            .await
            .map_err(rpc("reading maintenance state"))?,
    };
    Ok(output(&state.into_inner()))
}
