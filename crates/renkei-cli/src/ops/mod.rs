//! `renkei ops`: the operator terminal (中間サーバー接続端末) on the command line.
//!
//! Every command prints a readable table, or JSON with `--json`. The session token from
//! `renkei ops login` is kept in a file only its owner can read (mode 0600), and sent as
//! `authorization: Bearer …` with each call; the terminal's identity is its certificate.
//!
//! # Adding a command group
//! 1. Write `ops/<group>.rs` with a `#[derive(clap::Subcommand)] pub(crate) enum Command` and
//!    `pub(crate) async fn run(ctx: &Ctx, cmd: Command) -> anyhow::Result<Output>`.
//! 2. Add `mod <group>;`, one variant to [`OpsCommand`] and one arm to [`run`].
//!
//! [`Ctx`] gives the channel to the gateway (`ctx.channel()`), requests carrying the session
//! (`ctx.authed(msg)`), and [`Output`] renders tables and JSON the same way for every group.

mod audit;
mod flags;
mod held;
mod jobs;
mod maintenance;
mod output;
mod reports;
mod session;
mod users;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use renkei_transport::{ClientOptions, Credentials};
use tonic::transport::Channel;

pub(crate) use output::Output;

#[derive(Debug, Args)]
pub(crate) struct OpsArgs {
    #[command(flatten)]
    conn: Conn,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: OpsCommand,
}

/// Where the gateway is and who this terminal is.
#[derive(Debug, Args)]
pub(crate) struct Conn {
    /// The gateway's local side ("host:port").
    #[arg(
        long,
        env = "RENKEI_GATEWAY",
        default_value = "127.0.0.1:7401",
        global = true
    )]
    gateway: String,
    /// TLS server name of the gateway.
    #[arg(
        long,
        env = "RENKEI_GATEWAY_NAME",
        default_value = "gateway.renkei.local",
        global = true
    )]
    server_name: String,
    /// CA certificate.
    #[arg(
        long,
        env = "RENKEI_CA",
        default_value = "certs-dev/ca.pem",
        global = true
    )]
    ca: PathBuf,
    /// This terminal's certificate (urn:renkei:terminal:<agency>:<name>) and key.
    #[arg(long, env = "RENKEI_TERMINAL_CERT", global = true)]
    cert: Option<PathBuf>,
    #[arg(long, env = "RENKEI_TERMINAL_KEY", global = true)]
    key: Option<PathBuf>,
    /// Where the session token is kept (mode 0600).
    #[arg(long, env = "RENKEI_SESSION_FILE", global = true)]
    session_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum OpsCommand {
    /// Log in; the password is read from standard input.
    ///
    /// Example: echo "$PW" | renkei ops login --user tanaka
    Login(session::LoginArgs),
    /// End the session.
    Logout,
    /// Change the password (current and new password on two lines of standard input).
    Passwd,
    /// Create a tenant's first administrator directly in the gateway's storage (on the
    /// gateway host, gateway stopped). Prints the one-time password.
    ///
    /// Example: renkei ops bootstrap-admin --config deploy/gateway.toml --tenant 141003 --user admin
    BootstrapAdmin(session::BootstrapArgs),
    /// Held inquiries (自動応答不可): list, show, approve, refuse.
    #[command(subcommand)]
    Held(held::Command),
    /// Auto-response-block flags: set, clear, list, import.
    #[command(subcommand)]
    Flags(flags::Command),
    /// Operator accounts (administrators): add, disable, reset-password, list.
    #[command(subcommand)]
    Users(users::Command),
    /// The audit log (administrators and records reviewers).
    Audit(audit::AuditArgs),
    /// 情報提供等記録 filtered by person, period, counterparty, procedure and outcome;
    /// `--csv FILE` exports every match (records reviewers and administrators).
    ///
    /// Example: renkei ops records --from 2026-04-01 --to 2026-04-30 --outcome refused,held --csv april.csv
    Records(reports::RecordsArgs),
    /// Statistics: inquiries, provisions, refusals and holds by day and procedure.
    ///
    /// Example: renkei ops stats --from 2026-04-01 --to 2026-04-30 --by procedure
    Stats(reports::StatsArgs),
    /// Batch jobs (imports, flag loads, purges) with their progress; `jobs show ID`.
    ///
    /// Example: renkei ops jobs --kind import-copies --state running
    Jobs(jobs::JobsArgs),
    /// Maintenance mode of the whole gateway: on --message "…", off, status.
    #[command(subcommand)]
    Maintenance(maintenance::Command),
}

/// What every command needs: where the gateway is, who this terminal is, the session.
#[derive(Debug)]
pub(crate) struct Ctx {
    args: Conn,
}

impl Ctx {
    pub(crate) fn channel(&self) -> anyhow::Result<Channel> {
        let (Some(cert), Some(key)) = (&self.args.cert, &self.args.key) else {
            anyhow::bail!(
                "no terminal certificate: pass --cert and --key (or RENKEI_TERMINAL_CERT and RENKEI_TERMINAL_KEY)"
            );
        };
        let creds = Credentials::load(&self.args.ca, cert, key)
            .context("loading the terminal certificate")?;
        Ok(renkei_transport::channel(
            &self.args.gateway,
            &self.args.server_name,
            &creds,
            &ClientOptions::default(),
        )?)
    }

    pub(crate) fn session_path(&self) -> anyhow::Result<PathBuf> {
        session::path(self.args.session_file.as_deref())
    }

    /// A request carrying the saved session token.
    pub(crate) fn authed<T>(&self, msg: T) -> anyhow::Result<tonic::Request<T>> {
        let token = session::read(&self.session_path()?)?;
        let mut req = tonic::Request::new(msg);
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}")
                .parse()
                .context("the saved session token is not valid header text; log in again")?,
        );
        Ok(req)
    }
}

/// A failed call, with the gateway's own words.
pub(crate) fn rpc(what: &str) -> impl FnOnce(tonic::Status) -> anyhow::Error + '_ {
    move |s| anyhow::anyhow!("{what}: {} ({:?})", s.message(), s.code())
}

pub(crate) async fn run(args: OpsArgs) -> anyhow::Result<bool> {
    let ctx = Ctx { args: args.conn };
    let out = match args.command {
        OpsCommand::Login(a) => session::login(&ctx, a).await?,
        OpsCommand::Logout => session::logout(&ctx).await?,
        OpsCommand::Passwd => session::passwd(&ctx).await?,
        OpsCommand::BootstrapAdmin(a) => session::bootstrap(a).await?,
        OpsCommand::Held(c) => held::run(&ctx, c).await?,
        OpsCommand::Flags(c) => flags::run(&ctx, c).await?,
        OpsCommand::Users(c) => users::run(&ctx, c).await?,
        OpsCommand::Audit(a) => audit::run(&ctx, a).await?,
        OpsCommand::Records(a) => reports::records(&ctx, a).await?,
        OpsCommand::Stats(a) => reports::stats(&ctx, a).await?,
        OpsCommand::Jobs(a) => jobs::run(&ctx, a).await?,
        OpsCommand::Maintenance(c) => maintenance::run(&ctx, c).await?,
    };
    out.print(args.json)?;
    Ok(true)
}
