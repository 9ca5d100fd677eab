//! Throwaway PostgreSQL clusters for tests, from the operating system's PostgreSQL 15
//! binaries (`postgresql-15`): `initdb` in a temporary directory, owned by the unprivileged
//! `postgres` user when the tests run as root (as CI does; the server refuses root), on a
//! free loopback port, with `fsync=on` so durability is what production gets.
//!
//! [`PgCluster::start`] returns `Ok(None)` when the binaries are missing, so a developer
//! without them sees a skip, and `Err` instead when `RENKEI_REQUIRE_POSTGRES=1` is set, so
//! CI never passes by skipping. A cluster stops on drop (`pg_ctl stop -m fast`, then a kill),
//! and a watchdog process stops it and removes its directory when the test process exits
//! without dropping it (a `static` shared by a test binary's tests).

use std::io;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where the Debian/Ubuntu packages put the binaries.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// Set to `1` to make a missing PostgreSQL a failure instead of a skip.
pub const REQUIRE_ENV: &str = "RENKEI_REQUIRE_POSTGRES";

/// Why a cluster could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgClusterError {
    #[error(
        "PostgreSQL 15 binaries not found in {PG_BIN} and {REQUIRE_ENV}=1: install postgresql-15"
    )]
    Missing,
    #[error("running as root but there is no `postgres` user to run the server as")]
    NoPostgresUser,
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{what} failed: {output}")]
    Command { what: String, output: String },
    #[error("the server did not become ready within {0:?}; its log: {1}")]
    NotReady(Duration, String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> PgClusterError {
    let what = what.into();
    move |source| PgClusterError::Io { what, source }
}

/// A running throwaway cluster. The superuser is `postgres`, trusted on loopback only.
#[derive(Debug)]
pub struct PgCluster {
    dir: Option<tempfile::TempDir>,
    data: PathBuf,
    port: u16,
    server: Option<Child>,
    watchdog: Option<Child>,
    /// uid/gid to run the binaries as (the `postgres` user when we are root).
    ids: Option<(u32, u32)>,
    next_db: AtomicU32,
}

/// The uid and gid of `name` from /etc/passwd.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != name {
            return None;
        }
        let _pw = f.next()?;
        let uid = f.next()?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

fn running_as_root() -> bool {
    // The owner of /proc/self is the effective uid; no unsafe call needed.
    std::os::unix::fs::MetadataExt::uid(&match std::fs::metadata("/proc/self") {
        Ok(m) => m,
        Err(_) => return false,
    }) == 0
}

fn free_port() -> Result<u16, PgClusterError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io_err("finding a free port"))?;
    Ok(l.local_addr()
        .map_err(io_err("finding a free port"))?
        .port())
}

impl PgCluster {
    /// Whether the binaries are installed.
    pub fn available() -> bool {
        Path::new(PG_BIN).join("postgres").exists() && Path::new(PG_BIN).join("initdb").exists()
    }

    /// Starts a cluster, or `Ok(None)` (after saying why on stderr) when PostgreSQL is not
    /// installed and [`REQUIRE_ENV`] is not set.
    pub fn start() -> Result<Option<PgCluster>, PgClusterError> {
        if !Self::available() {
            if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
                return Err(PgClusterError::Missing);
            }
            eprintln!(
                "SKIPPED: PostgreSQL 15 is not installed ({PG_BIN}); install postgresql-15, \
                 or set {REQUIRE_ENV}=1 to make this a failure"
            );
            return Ok(None);
        }
        Self::start_installed().map(Some)
    }

    fn start_installed() -> Result<PgCluster, PgClusterError> {
        let ids = if running_as_root() {
            Some(user_ids("postgres").ok_or(PgClusterError::NoPostgresUser)?)
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("renkei-pg-")
            .tempdir()
            .map_err(io_err("creating the cluster directory"))?;
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(io_err("giving the cluster directory to postgres"))?;
        }
        let data = dir.path().join("data");
        let mut cluster = PgCluster {
            data: data.clone(),
            port: 0,
            server: None,
            watchdog: None,
            ids,
            next_db: AtomicU32::new(0),
            dir: Some(dir),
        };
        cluster.run(
            "initdb",
            Command::new(Path::new(PG_BIN).join("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"]),
        )?;
        // A free port can be taken between the probe and the bind; try a few.
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            match cluster.launch(port) {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if let Some(e) = last {
            return Err(e);
        }
        Ok(cluster)
    }

    fn command(&self, cmd: &mut Command) {
        if let Some((uid, gid)) = self.ids {
            cmd.uid(uid).gid(gid);
        }
        cmd.stdin(Stdio::null());
    }

    fn run(&self, what: &str, cmd: &mut Command) -> Result<(), PgClusterError> {
        self.command(cmd);
        let out = cmd.output().map_err(io_err(format!("running {what}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(PgClusterError::Command {
                what: what.to_owned(),
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            })
        }
    }

    fn sock_dir(&self) -> PathBuf {
        self.data
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.sock_dir().join("postgres.log")
    }

    fn launch(&mut self, port: u16) -> Result<(), PgClusterError> {
        let log = std::fs::File::create(self.log_path()).map_err(io_err("creating the log"))?;
        if let Some((uid, gid)) = self.ids {
            std::os::unix::fs::chown(self.log_path(), Some(uid), Some(gid))
                .map_err(io_err("giving the log to postgres"))?;
        }
        let log2 = log.try_clone().map_err(io_err("opening the log"))?;
        let mut cmd = Command::new(Path::new(PG_BIN).join("postgres"));
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-k")
            .arg(self.sock_dir())
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=on"])
            .args(["-c", "max_connections=200"])
            // Never the test's stdout/stderr: a pipe held open by a server outliving the
            // test process would keep `cargo test | tee` waiting.
            .stdout(log)
            .stderr(log2);
        self.command(&mut cmd);
        let server = cmd.spawn().map_err(io_err("starting postgres"))?;
        let pid = server.id();
        self.server = Some(server);
        self.port = port;
        self.watchdog = self.spawn_watchdog(pid);
        let limit = Duration::from_secs(30);
        let started = Instant::now();
        loop {
            let ready = Command::new(Path::new(PG_BIN).join("pg_isready"))
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-U",
                    "postgres",
                ])
                .stdin(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            let exited = self
                .server
                .as_mut()
                .is_some_and(|s| s.try_wait().ok().flatten().is_some());
            if exited || started.elapsed() > limit {
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                self.stop();
                return Err(PgClusterError::NotReady(limit, log));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server and removes the directory once this process is gone, whether or
    /// not `Drop` ran.
    fn spawn_watchdog(&self, server_pid: u32) -> Option<Child> {
        let script = r#"while kill -0 "$0" 2>/dev/null; do sleep 1; done
kill -INT "$1" 2>/dev/null
i=0; while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
kill -KILL "$1" 2>/dev/null
rm -rf "$2""#;
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(std::process::id().to_string())
            .arg(server_pid.to_string())
            .arg(self.sock_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for `database` as the superuser (no password: trust on loopback).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a fresh database with a name of its own and returns its URL.
    pub fn create_database(&self) -> Result<String, PgClusterError> {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let name = format!("renkei_test_{n}");
        let out = Command::new(Path::new(PG_BIN).join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg(&name)
            .stdin(Stdio::null())
            .output()
            .map_err(io_err("running createdb"))?;
        if !out.status.success() {
            return Err(PgClusterError::Command {
                what: "createdb".into(),
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(self.url(&name))
    }

    fn stop(&mut self) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        let mut cmd = Command::new(Path::new(PG_BIN).join("pg_ctl"));
        cmd.arg("-D")
            .arg(&self.data)
            .args(["stop", "-m", "fast", "-w", "-t", "20"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.command(&mut cmd);
        let stopped = cmd.status().is_ok_and(|s| s.success());
        if !stopped {
            let _ = server.kill();
        }
        let _ = server.wait();
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        drop(self.dir.take());
    }
}

/// One cluster per test process, started on first use: `None` when PostgreSQL is missing
/// and not required. Panics (failing the test) when it is required or cannot start.
pub fn shared_cluster() -> Option<&'static PgCluster> {
    static CLUSTER: OnceLock<Option<PgCluster>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| match PgCluster::start() {
            Ok(c) => c,
            Err(e) => panic!("cannot start a throwaway PostgreSQL cluster: {e}"),
        })
        .as_ref()
}
