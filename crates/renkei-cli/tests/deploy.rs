//! `renkei hub --config` and `renkei gateway --config` run as separate processes from the
//! configuration files in `deploy/`, and serve an exchange between them.
#![allow(clippy::unwrap_used)]
// These tests run against real servers on today's wall clock, outside the Clock rule.
#![allow(clippy::disallowed_methods)]

mod common;
use common::{free_port, root};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use renkei_cli::cluster::{GATEWAY_SERVER_NAME, HUB_SERVER_NAME};
use renkei_cli::population;
use renkei_proto::v1::inquiries_client::InquiriesClient;
use renkei_proto::v1::symbols_client::SymbolsClient;
use renkei_proto::v1::{
    AcquireSymbolRequest, InquiryState, RegisterAddressNumberRequest, SubmitInquiryRequest,
};
use renkei_transport::{ClientOptions, Credentials};

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The deploy/ files with their ports moved to free ones and data in `dir`; everything
/// else (paths to certs-dev/ and master/) as shipped.
fn deploy_copy(dir: &Path) -> (PathBuf, PathBuf, [u16; 5]) {
    let ports = [
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    ];
    let deploy = root().join("deploy");
    let fix = |text: String| {
        text.replace("127.0.0.1:7400", &format!("127.0.0.1:{}", ports[0]))
            .replace("127.0.0.1:7401", &format!("127.0.0.1:{}", ports[1]))
            .replace("127.0.0.1:7402", &format!("127.0.0.1:{}", ports[2]))
            .replace("127.0.0.1:9464", &format!("127.0.0.1:{}", ports[3]))
            .replace("127.0.0.1:9465", &format!("127.0.0.1:{}", ports[4]))
            .replace(
                "\"../certs-dev/",
                &format!("\"{}/certs-dev/", root().display()),
            )
            .replace(
                "\"../../certs-dev/",
                &format!("\"{}/certs-dev/", root().display()),
            )
    };
    std::fs::create_dir_all(dir.join("master")).unwrap();
    for f in ["master/agencies.toml", "master/whitelist.toml"] {
        std::fs::write(
            dir.join(f),
            fix(std::fs::read_to_string(deploy.join(f)).unwrap()),
        )
        .unwrap();
    }
    let hub = dir.join("hub.toml");
    let gateway = dir.join("gateway.toml");
    std::fs::write(
        &hub,
        fix(std::fs::read_to_string(deploy.join("hub.toml")).unwrap())
            .replace("\"../data/hub\"", "\"data/hub\""),
    )
    .unwrap();
    std::fs::write(
        &gateway,
        fix(std::fs::read_to_string(deploy.join("gateway.toml")).unwrap())
            .replace("\"../data/gateway\"", "\"data/gateway\""),
    )
    .unwrap();
    (hub, gateway, ports)
}

fn spawn(args: &[&str]) -> Killed {
    Killed(
        Command::new(env!("CARGO_BIN_EXE_renkei"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

async fn wait_healthy(addr: &str, server_name: &str, creds: &Credentials) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ch =
            renkei_transport::channel(addr, server_name, creds, &ClientOptions::default()).unwrap();
        let r = tonic_health::pb::health_client::HealthClient::new(ch)
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await;
        if r.is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{addr} did not become healthy: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_and_gateway_run_as_separate_processes_from_deploy_files() {
    let dir = tempfile::tempdir().unwrap();
    let (hub_toml, gateway_toml, ports) = deploy_copy(dir.path());
    let _hub = spawn(&["hub", "--config", hub_toml.to_str().unwrap()]);
    let _gateway = spawn(&["gateway", "--config", gateway_toml.to_str().unwrap()]);
    let certs = root().join("certs-dev");
    let creds = |name: &str| {
        Credentials::load(
            &certs.join("ca.pem"),
            &certs.join(format!("{name}.pem")),
            &certs.join(format!("{name}.key.pem")),
        )
        .unwrap()
    };
    let local = format!("127.0.0.1:{}", ports[1]);
    wait_healthy(
        &format!("127.0.0.1:{}", ports[0]),
        HUB_SERVER_NAME,
        &creds("tenant-011002"),
    )
    .await;
    wait_healthy(&local, GATEWAY_SERVER_NAME, &creds("backoffice-011002")).await;

    let today = time::OffsetDateTime::now_utc().date();
    let (y, s) = population::movers(today).remove(0);
    // The gateway fetches master data in the background; retry until it has it.
    for (code, r) in [("141003", &y), ("011002", &s)] {
        let ch = renkei_transport::channel(
            &local,
            GATEWAY_SERVER_NAME,
            &creds(&format!("backoffice-{code}")),
            &ClientOptions::default(),
        )
        .unwrap();
        let mut symbols = SymbolsClient::new(ch.clone());
        symbols
            .register_address_number(RegisterAddressNumberRequest {
                unified_address_number: r.unified_address_number.clone(),
            })
            .await
            .unwrap();
        symbols
            .acquire_symbol(AcquireSymbolRequest {
                unified_address_number: r.unified_address_number.clone(),
                my_number: r.my_number.clone(),
            })
            .await
            .unwrap();
        if let Some(h) = &r.history {
            let copy = renkei_proto::v1::ProvisionCopy {
                unified_address_number: r.unified_address_number.clone(),
                item: 25,
                content: Some(population::content(h)),
                ..Default::default()
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut copies =
                renkei_proto::v1::provision_copies_client::ProvisionCopiesClient::new(ch);
            loop {
                match copies
                    .put_copy(renkei_proto::v1::PutCopyRequest {
                        copy: Some(copy.clone()),
                    })
                    .await
                {
                    Ok(_) => break,
                    Err(e) if e.code() == tonic::Code::Unavailable && Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(200)).await
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
    }
    let ch = renkei_transport::channel(
        &local,
        GATEWAY_SERVER_NAME,
        &creds("backoffice-011002"),
        &ClientOptions::default(),
    )
    .unwrap();
    let inquiry = InquiriesClient::new(ch)
        .submit_inquiry(SubmitInquiryRequest {
            idempotency_key: "deploy".into(),
            unified_address_number: s.unified_address_number.clone(),
            provider: "141003".into(),
            procedure: "vaccination".into(),
            item: 25,
            case_reference: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inquiry.state, InquiryState::Answered as i32, "{inquiry:?}");

    // Both processes serve the metrics their deploy files configure.
    let gateway = scrape(ports[3]).await;
    assert!(
        gateway.contains(
            "renkei_grpc_requests_total{method=\"/renkei.v1.Inquiries/SubmitInquiry\",code=\"OK\""
        ),
        "{gateway}"
    );
    let hub = scrape(ports[4]).await;
    assert!(
        hub.contains("renkei_grpc_requests_total{method=\"/renkei.v1.Hub/"),
        "{hub}"
    );
}

async fn scrape(port: u16) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    tcp.read_to_string(&mut text).await.unwrap();
    text
}

#[test]
fn the_shipped_configuration_files_load() {
    let deploy = root().join("deploy");
    let hub = renkei_hub::HubConfig::load(&deploy.join("hub.toml")).unwrap();
    assert_eq!(hub.listen.port(), 7400);
    let gw = renkei_gateway::GatewayConfig::load(&deploy.join("gateway.toml")).unwrap();
    assert_eq!(gw.tenants.len(), 3);
    assert_eq!(gw.metrics.map(|m| m.listen.port()), Some(9464));
    assert_eq!(hub.metrics.map(|m| m.listen.port()), Some(9465));
    assert!(
        gw.tenants
            .iter()
            .all(|t| t.client_cert.is_file() && t.signing_key.is_file()),
        "certs-dev paths resolve"
    );
}

#[test]
fn the_systemd_units_are_sandboxed_and_stop_gracefully() {
    for unit in ["renkei-hub.service", "renkei-gateway.service"] {
        let text = std::fs::read_to_string(root().join("deploy/systemd").join(unit)).unwrap();
        let directives: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .collect();
        for wanted in [
            "StateDirectory=renkei",
            "UMask=0077",
            "CapabilityBoundingSet=",
            "PrivateDevices=yes",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
            "SystemCallFilter=@system-service",
            "TimeoutStopSec=30",
            "ProtectSystem=strict",
            "NoNewPrivileges=true",
        ] {
            assert!(directives.contains(&wanted), "{unit} lacks {wanted}");
        }
    }
}
