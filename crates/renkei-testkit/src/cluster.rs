//! A hub and one multi-tenant gateway in this process, on loopback, with real mTLS from a
//! certificate directory (by default `certs-dev/`). Used by `renkei demo`, the end-to-end
//! tests and `renkei bench`, so all three run the servers a deployment runs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use renkei_gateway::{Gateway, GatewayConfig, GatewayLimits, HubLink, TenantConfig};
use renkei_hub::{Hub, HubConfig, HubKeys, HubLimits, MasterConfig, Validity};
use renkei_transport::{ClientOptions, Credentials};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::TestkitError;

type Result<T, E = TestkitError> = std::result::Result<T, E>;

/// Master data shipped with Renkei (`deploy/master/`), embedded so the demo runs anywhere.
pub const AGENCIES_TOML: &str = include_str!("../../../deploy/master/agencies.toml");
pub const WHITELIST_TOML: &str = include_str!("../../../deploy/master/whitelist.toml");

/// The municipalities the demo gateway hosts.
pub const DEMO_TENANTS: [(&str, &str); 3] = [
    ("011002", "札幌市"),
    ("141003", "横浜市"),
    ("232025", "岡崎市"),
];

pub const HUB_SERVER_NAME: &str = "hub.renkei.local";
pub const GATEWAY_SERVER_NAME: &str = "gateway.renkei.local";

/// How to start a cluster. `new` gives the demo's defaults; tests adjust fields.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub certs_dir: PathBuf,
    pub data_dir: PathBuf,
    pub tenants: Vec<(String, String)>,
    pub hub_listen: SocketAddr,
    pub gateway_local_listen: SocketAddr,
    pub gateway_network_listen: SocketAddr,
    pub hub_limits: HubLimits,
    pub gateway_limits: GatewayLimits,
    pub inquiry_result_retention_secs: u64,
    /// Held-answer policy of every tenant.
    pub held: renkei_gateway::HeldPolicy,
    pub operators: renkei_gateway::OperatorSettings,
    /// Network endpoints for agencies this cluster's gateway does not host (e.g. a test
    /// that plays another gateway), as (agency code, "host:port").
    pub extra_endpoints: Vec<(String, String)>,
    pub record_retention_days: u32,
    /// Where the gateway serves Prometheus metrics (`None`: off).
    pub gateway_metrics_listen: Option<SocketAddr>,
    /// The agency directory the hub publishes, in place of the embedded
    /// `deploy/master/agencies.toml` (whose connected agencies need keys in `certs-dev/`), for
    /// clusters whose tenants come from another PKI: see [`hosted_agencies_toml`].
    pub agencies_toml: Option<String>,
    /// How long each master bundle the hub signs is valid (renewed at half of it).
    pub master_validity: Validity,
    /// How often the gateway asks the hub for newer master data.
    pub gateway_master_refresh_secs: u64,
}

impl ClusterOptions {
    pub fn new(certs_dir: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> ClusterOptions {
        let any: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
        ClusterOptions {
            certs_dir: certs_dir.into(),
            data_dir: data_dir.into(),
            tenants: DEMO_TENANTS
                .iter()
                .map(|(c, n)| ((*c).to_owned(), (*n).to_owned()))
                .collect(),
            hub_listen: any,
            gateway_local_listen: any,
            gateway_network_listen: any,
            hub_limits: HubLimits::default(),
            gateway_limits: GatewayLimits::default(),
            inquiry_result_retention_secs: 30 * 24 * 3600,
            held: renkei_gateway::HeldPolicy::default(),
            operators: renkei_gateway::OperatorSettings::default(),
            extra_endpoints: Vec::new(),
            record_retention_days: renkei_gateway::DEFAULT_RECORD_RETENTION_DAYS,
            gateway_metrics_listen: None,
            agencies_toml: None,
            master_validity: Validity::default(),
            gateway_master_refresh_secs: 300,
        }
    }
}

/// A running hub and gateway.
#[derive(Debug)]
pub struct Cluster {
    pub hub_addr: SocketAddr,
    pub gateway_local_addr: SocketAddr,
    pub gateway_network_addr: SocketAddr,
    /// The gateway's `/metrics` listener, if metrics are on.
    pub gateway_metrics_addr: Option<SocketAddr>,
    pub certs_dir: PathBuf,
    pub data_dir: PathBuf,
    pub hub: Hub,
    pub gateway: Gateway,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Result<()>>>,
}

/// The environment variable naming the certificate directory when no `--certs` is given.
pub const CERTS_DIR_ENV: &str = "RENKEI_CERTS_DIR";

/// Locates the certificate directory: the given one (`--certs`), else `$RENKEI_CERTS_DIR`,
/// else `./certs-dev`. Nothing is compiled in: a binary run elsewhere than the source tree
/// is told what to pass.
pub fn find_certs_dir(given: Option<&Path>) -> Result<PathBuf> {
    let env = std::env::var_os(CERTS_DIR_ENV).filter(|v| !v.is_empty());
    resolve_certs_dir(given, env.as_deref().map(Path::new))
}

/// [`find_certs_dir`] with the environment variable's value passed in.
pub fn resolve_certs_dir(given: Option<&Path>, env: Option<&Path>) -> Result<PathBuf> {
    let (dir, from) = match (given, env) {
        (Some(p), _) => (p.to_owned(), "--certs".to_owned()),
        (None, Some(p)) => (p.to_owned(), format!("${CERTS_DIR_ENV}")),
        (None, None) => (PathBuf::from("certs-dev"), "the default".to_owned()),
    };
    if dir.join("ca.pem").is_file() {
        return std::path::absolute(&dir).map_err(TestkitError::CertsPath);
    }
    Err(TestkitError::NoCertificates {
        dir,
        from,
        env: CERTS_DIR_ENV,
    })
}

/// An agency directory listing exactly `tenants`, each a connected municipality whose keys
/// are `certs/keys/<code>.{sign,enc}.pub` (as `renkei certs generate` names them). The
/// endpoint is a placeholder: the cluster points every hosted tenant at its gateway.
pub fn hosted_agencies_toml(tenants: &[(String, String)], certs: &Path) -> String {
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let keys = certs.join("keys");
    let mut out = String::from(
        "# Generated by renkei-cli: the municipalities one development gateway hosts.\n",
    );
    for (code, name) in tenants {
        let key = |ext: &str| quote(&keys.join(format!("{code}.{ext}")).to_string_lossy());
        out.push_str(&format!(
            "\n[[agency]]\ncode = {}\nname = {}\nkind = \"municipality\"\n\
             endpoint = \"127.0.0.1:7402\"\nserver_name = {}\n\
             signing_public_key = {}\nencryption_public_key = {}\n",
            quote(code),
            quote(name),
            quote(GATEWAY_SERVER_NAME),
            key("sign.pub"),
            key("enc.pub"),
        ));
    }
    out
}

/// Writes the master data next to the data: the given agency directory, or the embedded one
/// with its key paths pointed at `certs`.
fn write_master(
    dir: &Path,
    certs: &Path,
    agencies_toml: Option<&str>,
) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let agencies = dir.join("agencies.toml");
    let whitelist = dir.join("whitelist.toml");
    let contents = match agencies_toml {
        Some(given) => given.to_owned(),
        None => {
            let certs = certs.to_string_lossy().replace('\\', "/");
            AGENCIES_TOML.replace("\"../../certs-dev/", &format!("\"{certs}/"))
        }
    };
    std::fs::write(&agencies, contents)?;
    std::fs::write(&whitelist, WHITELIST_TOML)?;
    Ok((agencies, whitelist))
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| TestkitError::Bind { what, addr, source })
}

async fn shutdown_signal(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

impl Cluster {
    pub async fn start(opts: ClusterOptions) -> Result<Cluster> {
        let certs = std::path::absolute(&opts.certs_dir)?;
        let data = std::path::absolute(&opts.data_dir)?;
        let hub_listener = bind("the hub", opts.hub_listen).await?;
        let local_listener = bind("the gateway's local side", opts.gateway_local_listen).await?;
        let network_listener =
            bind("the gateway's network side", opts.gateway_network_listen).await?;
        let metrics_listener = match opts.gateway_metrics_listen {
            Some(addr) => Some(bind("the gateway's metrics listener", addr).await?),
            None => None,
        };
        let gateway_metrics_addr = match &metrics_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let hub_addr = hub_listener.local_addr()?;
        let gateway_local_addr = local_listener.local_addr()?;
        let gateway_network_addr = network_listener.local_addr()?;

        let (agencies, whitelist) =
            write_master(&data.join("master"), &certs, opts.agencies_toml.as_deref())?;
        let hub_config = HubConfig {
            listen: hub_addr,
            data_dir: data.join("hub"),
            tls: renkei_hub::TlsFiles {
                ca: certs.join("ca.pem"),
                cert: certs.join("hub.pem"),
                key: certs.join("hub.key.pem"),
            },
            keys: HubKeys {
                signing: certs.join("keys/hub.sign.key"),
                symbols: certs.join("keys/hub.symbol.key"),
            },
            master: MasterConfig {
                agencies,
                whitelist,
                validity: opts.master_validity,
                endpoint_overrides: opts
                    .tenants
                    .iter()
                    .map(|(code, _)| (code.clone(), gateway_network_addr.to_string()))
                    .chain(opts.extra_endpoints.iter().cloned())
                    .collect(),
            },
            limits: opts.hub_limits.clone(),
            metrics: None,
        };
        let gateway_config = GatewayConfig {
            name: "gw1".into(),
            listen_local: gateway_local_addr,
            listen_network: gateway_network_addr,
            data_dir: data.join("gateway"),
            tls: renkei_gateway::TlsFiles {
                ca: certs.join("ca.pem"),
                cert: certs.join("gateway.pem"),
                key: certs.join("gateway.key.pem"),
            },
            hub: HubLink {
                endpoint: hub_addr.to_string(),
                server_name: HUB_SERVER_NAME.into(),
                signing_public_key: certs.join("keys/hub.sign.pub"),
                master_refresh_secs: opts.gateway_master_refresh_secs,
            },
            tenants: opts
                .tenants
                .iter()
                .map(|(code, name)| TenantConfig {
                    code: code.clone(),
                    name: name.clone(),
                    client_cert: certs.join(format!("tenant-{code}.pem")),
                    client_key: certs.join(format!("tenant-{code}.key.pem")),
                    signing_key: certs.join(format!("keys/{code}.sign.key")),
                    encryption_key: certs.join(format!("keys/{code}.enc.key")),
                    inquiry_result_retention_secs: opts.inquiry_result_retention_secs,
                    held: opts.held.clone(),
                    record_retention_days: opts.record_retention_days,
                })
                .collect(),
            limits: opts.gateway_limits.clone(),
            operators: opts.operators.clone(),
            metrics: gateway_metrics_addr.map(|listen| renkei_gateway::MetricsSettings { listen }),
        };

        let hub = Hub::open(hub_config).map_err(TestkitError::HubStart)?;
        let gateway = Gateway::open(gateway_config).map_err(TestkitError::GatewayStart)?;
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let h = hub.clone();
        let rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            h.serve(hub_listener, shutdown_signal(rx))
                .await
                .map_err(|e| TestkitError::HubServe("hub", e))
        }));
        if let Some(listener) = metrics_listener {
            let g = gateway.clone();
            let rx = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                g.serve_metrics(listener, shutdown_signal(rx))
                    .await
                    .map_err(|e| TestkitError::GatewayServe("gateway metrics", e))
            }));
        }
        let g = gateway.clone();
        tasks.push(tokio::spawn(async move {
            g.serve(local_listener, network_listener, shutdown_signal(stop_rx))
                .await
                .map_err(|e| TestkitError::GatewayServe("gateway", e))
        }));

        // The gateway can check nothing until it holds verified master data.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            match gateway.refresh_master().await {
                Ok(_) if gateway.master_version().is_some() => break,
                Ok(_) => {}
                Err(e) if tokio::time::Instant::now() > deadline => {
                    return Err(TestkitError::NoMasterData(e));
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Cluster {
            hub_addr,
            gateway_local_addr,
            gateway_network_addr,
            gateway_metrics_addr,
            certs_dir: certs,
            data_dir: data,
            hub,
            gateway,
            stop,
            tasks,
        })
    }

    /// Credentials from the certificate directory, e.g. `backoffice-011002`.
    pub fn credentials(&self, name: &str) -> Result<Credentials> {
        let d = &self.certs_dir;
        Credentials::load(
            &d.join("ca.pem"),
            &d.join(format!("{name}.pem")),
            &d.join(format!("{name}.key.pem")),
        )
        .map_err(|source| TestkitError::Credentials {
            name: name.to_owned(),
            source,
        })
    }

    /// A channel to the gateway's local side as a tenant's back-office system.
    pub fn backoffice(&self, code: &str) -> Result<Channel> {
        let creds = self.credentials(&format!("backoffice-{code}"))?;
        Ok(renkei_transport::channel(
            &self.gateway_local_addr.to_string(),
            GATEWAY_SERVER_NAME,
            &creds,
            &ClientOptions::default(),
        )?)
    }

    /// A channel to the hub with the named credentials (e.g. `auditor`, `tenant-011002`).
    pub fn hub_channel(&self, name: &str) -> Result<Channel> {
        let creds = self.credentials(name)?;
        Ok(renkei_transport::channel(
            &self.hub_addr.to_string(),
            HUB_SERVER_NAME,
            &creds,
            &ClientOptions::default(),
        )?)
    }

    /// A channel to the gateway's network side with the named credentials (e.g. `hub`).
    pub fn network_channel(&self, name: &str) -> Result<Channel> {
        let creds = self.credentials(name)?;
        Ok(renkei_transport::channel(
            &self.gateway_network_addr.to_string(),
            GATEWAY_SERVER_NAME,
            &creds,
            &ClientOptions::default(),
        )?)
    }

    /// Stops both servers and waits for them.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        for t in self.tasks {
            t.await.map_err(TestkitError::TaskPanicked)??;
        }
        Ok(())
    }

    /// Waits until a server task ends (it should not, before `shutdown`).
    ///
    /// Cancel-safe: the tasks stay in the cluster while this waits, so dropping this future
    /// (as `select!` does when a stop signal wins) leaves `shutdown` able to wait for the
    /// servers' graceful stop. Taking them out here once made `demo --serve` exit on SIGTERM
    /// before any server had signed its closing tree heads.
    pub async fn wait(&mut self) -> Result<()> {
        if self.tasks.is_empty() {
            return Ok(());
        }
        let (r, i, _) = futures::future::select_all(self.tasks.iter_mut()).await;
        drop(self.tasks.swap_remove(i));
        r.map_err(TestkitError::TaskPanicked)?
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_certificate_directory_is_the_flag_then_the_variable_and_never_a_build_path() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("ca.pem"), "x").unwrap();
        std::fs::write(b.path().join("ca.pem"), "x").unwrap();
        let abs = |p: &Path| std::path::absolute(p).unwrap();
        assert_eq!(
            resolve_certs_dir(Some(a.path()), Some(b.path())).unwrap(),
            abs(a.path())
        );
        assert_eq!(
            resolve_certs_dir(None, Some(b.path())).unwrap(),
            abs(b.path())
        );

        let empty = tempfile::tempdir().unwrap();
        let e = resolve_certs_dir(None, Some(empty.path()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("RENKEI_CERTS_DIR") && e.contains("--certs"),
            "{e}"
        );
        let e = resolve_certs_dir(Some(empty.path()), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(&empty.path().display().to_string()), "{e}");

        // The default is relative to the working directory (the crate's, under cargo test,
        // which has no certs-dev/), not the source tree the binary was built from.
        let e = resolve_certs_dir(None, None).unwrap_err().to_string();
        assert!(e.contains("certs-dev") && e.contains("--certs"), "{e}");
    }

    #[test]
    fn non_test_code_has_no_compiled_in_build_paths() {
        // This crate ships inside the `renkei` binary, with the bench workloads and the CLI
        // itself: none of them may point at the tree they were built from.
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut stack: Vec<_> = ["renkei-testkit", "renkei-bench", "renkei-cli"]
            .iter()
            .map(|c| crates.join(c).join("src"))
            .collect();
        assert!(stack.iter().all(|d| d.is_dir()), "{stack:?}");
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // Only the code before a file's test module ships.
                let shipped = text.split("#[cfg(test)]").next().unwrap_or("");
                assert!(
                    !shipped.contains(concat!("CARGO_MANIFEST", "_DIR")),
                    "{} compiles in a build path",
                    path.display()
                );
            }
        }
    }
}
