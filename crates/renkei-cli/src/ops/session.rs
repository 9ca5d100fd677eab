//! Login, logout, password change, the session file, and the first administrator.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use renkei_proto::v1::operators_client::OperatorsClient;
use renkei_proto::v1::{ChangePasswordRequest, LoginRequest, LogoutRequest};
use serde_json::json;

use super::output::when;
use super::{Ctx, Output, rpc};

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    #[arg(long)]
    user: String,
}

#[derive(Debug, Args)]
pub(crate) struct BootstrapArgs {
    /// The gateway's configuration file.
    #[arg(long)]
    config: PathBuf,
    /// Agency code of the tenant, e.g. 141003.
    #[arg(long)]
    tenant: String,
    #[arg(long, default_value = "admin")]
    user: String,
    #[arg(long, default_value = "")]
    display_name: String,
}

/// `--session-file`, else `$HOME/.renkei/session`.
pub(crate) fn path(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_owned());
    }
    let home = std::env::var_os("HOME")
        .context("HOME is not set; pass --session-file or set RENKEI_SESSION_FILE")?;
    Ok(PathBuf::from(home).join(".renkei").join("session"))
}

/// Writes the token so that only the owner can read it: the file is created with mode 0600
/// (and its directory 0700) before anything is written to it.
fn write(path: &Path, user: &str, token: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            if dir.ends_with(".renkei") {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
    }
    let _ = std::fs::remove_file(path);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let file = opts
        .open(path)
        .with_context(|| format!("creating the session file {}", path.display()))?;
    serde_json::to_writer(file, &json!({ "user": user, "token": token }))?;
    Ok(())
}

/// The saved token; refuses a file others could read.
pub(crate) fn read(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "no session ({}): log in first with `renkei ops login --user <id>`",
            path.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "the session file {} is readable by others (mode {:o}); delete it and log in again",
                path.display(),
                mode & 0o777
            );
        }
    }
    let v: serde_json::Value =
        serde_json::from_str(&text).context("the session file is unreadable; log in again")?;
    v["token"]
        .as_str()
        .map(str::to_owned)
        .context("the session file holds no token; log in again")
}

fn stdin_lines(n: usize) -> anyhow::Result<Vec<String>> {
    let stdin = std::io::stdin();
    let mut out = Vec::new();
    for line in stdin.lock().lines().take(n) {
        out.push(line?.trim_end_matches('\r').to_owned());
    }
    if out.len() < n {
        bail!("expected {n} line(s) on standard input");
    }
    Ok(out)
}

/// How passwords are read: without echo from the terminal, or as plain lines when standard
/// input is a pipe (scripts, tests).
#[derive(Debug, PartialEq, Eq)]
enum PasswordReader {
    Hidden,
    Lines,
}

fn password_reader(stdin_is_terminal: bool) -> PasswordReader {
    if stdin_is_terminal {
        PasswordReader::Hidden
    } else {
        PasswordReader::Lines
    }
}

/// One password per prompt. On a terminal each prompt goes to standard error and the
/// answer is read without echo; otherwise `piped` is announced and lines are read.
fn read_passwords(piped: &str, prompts: &[&str]) -> anyhow::Result<Vec<String>> {
    match password_reader(std::io::stdin().is_terminal()) {
        PasswordReader::Lines => {
            eprintln!("{piped}");
            stdin_lines(prompts.len())
        }
        PasswordReader::Hidden => prompts
            .iter()
            .map(|p| {
                eprint!("{p}: ");
                std::io::stderr().flush()?;
                rpassword::read_password().context("reading the password from the terminal")
            })
            .collect(),
    }
}

pub(crate) async fn login(ctx: &Ctx, a: LoginArgs) -> anyhow::Result<Output> {
    let password = read_passwords(
        &format!("password for {} (from standard input):", a.user),
        &[&format!("password for {}", a.user)],
    )?
    .remove(0);
    let resp = OperatorsClient::new(ctx.channel()?)
        .login(LoginRequest {
            user: a.user.clone(),
            password,
        })
        .await
        .map_err(rpc("login failed"))?
        .into_inner();
    let path = ctx.session_path()?;
    write(&path, &a.user, &resp.token)?;
    let mut note = format!(
        "logged in as {}; the session ends after {} s without activity (token in {})",
        a.user,
        resp.idle_timeout_secs,
        path.display()
    );
    if resp.must_change_password {
        note.push_str(
            "\nthe password is a one-time password: change it now with `renkei ops passwd`",
        );
    }
    Ok(Output::message(
        note,
        json!({
            "user": a.user,
            "idle_timeout_secs": resp.idle_timeout_secs,
            "expires_at": when(resp.expires_at_ms),
            "must_change_password": resp.must_change_password,
        }),
    ))
}

pub(crate) async fn logout(ctx: &Ctx) -> anyhow::Result<Output> {
    let req = ctx.authed(LogoutRequest {})?;
    let result = OperatorsClient::new(ctx.channel()?).logout(req).await;
    // The local token goes whatever the gateway said: it is useless either way.
    let _ = std::fs::remove_file(ctx.session_path()?);
    result.map_err(rpc("logout"))?;
    Ok(Output::message("logged out", json!({ "logged_out": true })))
}

pub(crate) async fn passwd(ctx: &Ctx) -> anyhow::Result<Output> {
    let mut lines = read_passwords(
        "current password, then new password (two lines on standard input):",
        &["current password", "new password"],
    )?;
    let new_password = lines.remove(1);
    let current_password = lines.remove(0);
    OperatorsClient::new(ctx.channel()?)
        .change_password(ctx.authed(ChangePasswordRequest {
            current_password,
            new_password,
        })?)
        .await
        .map_err(rpc("password change"))?;
    Ok(Output::message(
        "password changed",
        json!({ "changed": true }),
    ))
}

pub(crate) async fn bootstrap(a: BootstrapArgs) -> anyhow::Result<Output> {
    let config = renkei_gateway::GatewayConfig::load(&a.config)?;
    let gateway = renkei_gateway::Gateway::open(config)
        .context("opening the gateway's storage (is the gateway running? stop it first)")?;
    let otp = gateway
        .bootstrap_admin(&a.tenant, &a.user, &a.display_name)
        .await?;
    Ok(Output::message(
        format!(
            "administrator {} created for {}; one-time password (change it at first login):\n{otp}",
            a.user, a.tenant
        ),
        json!({ "tenant": a.tenant, "user": a.user, "one_time_password": otp }),
    ))
}

#[cfg(test)]
mod tests {
    use super::{PasswordReader, password_reader};

    #[test]
    fn a_terminal_gets_the_hidden_reader_and_a_pipe_the_line_reader() {
        assert_eq!(password_reader(true), PasswordReader::Hidden);
        assert_eq!(password_reader(false), PasswordReader::Lines);
    }
}
