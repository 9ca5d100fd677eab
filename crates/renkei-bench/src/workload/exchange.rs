//! `renkei bench e2e|baseline|import|symbols`: throughput and latency of the real servers,
//! against a baseline measured in the same run. The load driver and the baseline are the
//! rest of this crate; this module sets up the servers and the population and says what one
//! operation is. The CLI parses the arguments into the options below and prints the reports.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use renkei_core::SharedClock;
use renkei_gateway::GatewayLimits;
use renkei_hub::HubLimits;
use renkei_proto::v1::inquiries_client::InquiriesClient;
use renkei_proto::v1::{InquiryState, PutCopyRequest, SubmitInquiryRequest};
use renkei_testkit::cluster::{
    Cluster, ClusterOptions, DEMO_TENANTS, GATEWAY_SERVER_NAME, find_certs_dir,
};
use renkei_testkit::population::{self, Resident, Rng, childhood_history, content, my_number};
use renkei_testkit::{
    Calls, acquire_symbols, copy_request, import_copies, register_address_numbers,
};
use renkei_transport::{ClientOptions, RateLimit};
use tonic::transport::Channel;

use super::Say;
use crate::baseline::{Baseline, BaselineSpec};
use crate::{LoadSpec, ProcessUsage, Report};

const INQUIRER: &str = "011002";
const PROVIDER: &str = "141003";
/// High enough that the limiter never refuses the bench's single caller identity, while
/// still running on every request as it does in production.
const BENCH_RATE: RateLimit = RateLimit {
    per_second: 10_000_000,
    burst: 10_000_000,
};

/// What every exchange benchmark is given.
#[derive(Debug, Clone, Default)]
pub struct CommonOptions {
    /// Certificate directory (`None`: $RENKEI_CERTS_DIR, else ./certs-dev).
    pub certs: Option<PathBuf>,
    /// Where the servers keep their data (`None`: a temporary directory, removed after).
    pub data_dir: Option<PathBuf>,
}

/// How the inquiry load is driven.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub spec: LoadSpec,
    /// Client channels (HTTP/2 connections) the load is spread over.
    pub connections: usize,
    pub common: CommonOptions,
}

/// `bench e2e`.
#[derive(Debug, Clone)]
pub struct E2eOptions {
    pub load: LoadOptions,
    /// Also run the baseline and report the ratio of the throughputs.
    pub vs_baseline: bool,
    /// Persons enrolled on both sides of each pair.
    pub persons: u32,
    /// A running gateway's local side (host:port) instead of servers started here.
    pub gateway: Option<String>,
    /// Host this many generated municipalities in a ring instead of certs-dev/'s.
    pub tenants: Option<u32>,
}

/// The reports of `bench e2e`: the e2e run, then the baseline if asked for.
#[derive(Debug)]
pub struct E2eOutcome {
    pub reports: Vec<Report>,
    /// e2e throughput over baseline throughput, with `vs_baseline`.
    pub ratio: Option<f64>,
}

/// A data directory: the given one, or a temporary one removed when this is dropped.
struct DataDir {
    path: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl DataDir {
    fn new(given: &Option<PathBuf>) -> anyhow::Result<DataDir> {
        match given {
            Some(p) => {
                std::fs::create_dir_all(p)?;
                Ok(DataDir {
                    path: p.clone(),
                    _temp: None,
                })
            }
            None => {
                let t = tempfile::Builder::new().prefix("renkei-bench-").tempdir()?;
                Ok(DataDir {
                    path: t.path().to_owned(),
                    _temp: Some(t),
                })
            }
        }
    }
}

/// Most tenants `--tenants` generates: their codes are `99iii` plus a check digit (99 is no
/// prefecture, so they never collide with a real municipality or the demo's master data).
const MAX_BENCH_TENANTS: u32 = 1000;

/// The municipalities `--tenants n` hosts, as (code, name).
fn bench_tenants(n: u32) -> anyhow::Result<Vec<(String, String)>> {
    ensure!(
        n >= 2,
        "--tenants must be at least 2 (got {n}): every tenant asks the next one, so the \
         bench needs two tenants or more"
    );
    ensure!(
        n <= MAX_BENCH_TENANTS,
        "--tenants must be at most {MAX_BENCH_TENANTS} (got {n}): generated codes are 99000-99999 \
         plus a check digit"
    );
    (0..n)
        .map(|i| {
            let code = renkei_core::AgencyCode::with_check_digit(&format!("99{i:03}"))?;
            Ok((code.as_str().to_owned(), format!("ベンチ{i:03}市")))
        })
        .collect()
}

/// One direction of the load: `inquirer` asks `provider` about its own movers.
struct Pair {
    inquirer: String,
    provider: String,
}

/// Whose certificates the bench uses, which tenants its gateway hosts and who asks whom.
struct Topology {
    certs: PathBuf,
    /// The load cycles through these pairs, one inquiry each in turn.
    pairs: Vec<Pair>,
    /// Generated tenants hosted instead of the demo's three (`--tenants`).
    hosted: Option<Vec<(String, String)>>,
    /// How long generating their certificates and keys took (not part of any measurement).
    pki_time: Option<Duration>,
}

impl Topology {
    /// certs-dev/'s tenants; 011002 asks 141003 (232025 is hosted but idle).
    fn demo(common: &CommonOptions) -> anyhow::Result<Topology> {
        Ok(Topology {
            certs: find_certs_dir(common.certs.as_deref())?,
            pairs: vec![Pair {
                inquirer: INQUIRER.into(),
                provider: PROVIDER.into(),
            }],
            hosted: None,
            pki_time: None,
        })
    }

    /// `tenants` with a development PKI generated into `data`/certs, in a ring: tenant i
    /// asks tenant i+1 mod N, so each one both inquires and provides.
    fn generated(
        common: &CommonOptions,
        tenants: Vec<(String, String)>,
        data: &DataDir,
        external_gateway: bool,
        say: Say<'_>,
    ) -> anyhow::Result<Topology> {
        ensure!(
            !external_gateway,
            "--tenants starts its own servers with certificates it generates; it cannot be \
             combined with --gateway"
        );
        ensure!(
            common.certs.is_none(),
            "--tenants generates its own certificates into the data directory; drop --certs"
        );
        let mut spec = renkei_pki::DevPkiSpec::default_dev()?;
        spec.tenants = tenants
            .iter()
            .map(|(code, name)| {
                Ok(renkei_pki::TenantSpec {
                    code: renkei_core::AgencyCode::parse(code)?,
                    name: name.clone(),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let certs = data.path.join("certs");
        say(&format!(
            "bench e2e: generating certificates and keys for {} tenants…",
            tenants.len()
        ));
        let t0 = Instant::now();
        renkei_pki::generate_dev_pki(&certs, &spec).context("generating the bench's PKI")?;
        let pki_time = t0.elapsed();
        let n = tenants.len();
        let pairs = (0..n)
            .map(|i| Pair {
                inquirer: tenants[i].0.clone(),
                provider: tenants[(i + 1) % n].0.clone(),
            })
            .collect();
        Ok(Topology {
            certs: std::path::absolute(certs)?,
            pairs,
            hosted: Some(tenants),
            pki_time: Some(pki_time),
        })
    }
}

async fn start_cluster(
    certs: &std::path::Path,
    data: &DataDir,
    hosted: Option<&[(String, String)]>,
) -> anyhow::Result<Cluster> {
    let mut opts = ClusterOptions::new(certs, &data.path);
    if let Some(tenants) = hosted {
        opts.tenants = tenants.to_vec();
        opts.agencies_toml = Some(renkei_testkit::cluster::hosted_agencies_toml(
            tenants, certs,
        ));
    }
    opts.gateway_limits = GatewayLimits {
        rate_per_second: BENCH_RATE.per_second,
        burst: BENCH_RATE.burst,
        ..GatewayLimits::default()
    };
    opts.hub_limits = HubLimits {
        rate_per_second: BENCH_RATE.per_second,
        burst: BENCH_RATE.burst,
        ..HubLimits::default()
    };
    Ok(Cluster::start(opts).await?)
}

/// `bench e2e`: inquiries answered automatically through the real servers, and with
/// `vs_baseline` the baseline over the same pairs and connections.
pub async fn e2e(
    opts: &E2eOptions,
    clock: &SharedClock,
    say: Say<'_>,
) -> anyhow::Result<E2eOutcome> {
    // Checked before anything starts, so a bad count costs nothing.
    let tenants = opts.tenants.map(bench_tenants).transpose()?;
    let load = &opts.load;
    let data = DataDir::new(&load.common.data_dir)?;
    let topology = match tenants {
        None => Topology::demo(&load.common)?,
        Some(t) => Topology::generated(&load.common, t, &data, opts.gateway.is_some(), say)?,
    };
    let e2e = run_e2e(
        load,
        opts.persons,
        opts.gateway.clone(),
        &topology,
        &data,
        clock,
        say,
    )
    .await?;
    let mut reports = vec![e2e];
    let mut ratio = None;
    if opts.vs_baseline {
        let b = run_baseline(load, &topology, clock, say).await?;
        ratio = Some(reports[0].throughput_per_s / b.throughput_per_s.max(1e-9));
        reports.push(b);
    }
    Ok(E2eOutcome { reports, ratio })
}

/// `bench baseline`: the same RPC legs and cryptography as `e2e`, with no storage and no
/// logic, between certs-dev/'s 011002 and 141003.
pub async fn baseline(
    load: &LoadOptions,
    clock: &SharedClock,
    say: Say<'_>,
) -> anyhow::Result<Report> {
    run_baseline(load, &Topology::demo(&load.common)?, clock, say).await
}

/// One synthetic person who moved from the provider to the inquirer.
struct Person {
    my_number: String,
    inquirer_uan: String,
    provider_uan: String,
}

/// `n` movers from `provider` to `inquirer`. Address numbers are `<code>8…` on the asking
/// side and `<code>9…` on the answering side, so a tenant that does both keeps them apart.
fn people(n: u32, seed: u64, inquirer: &str, provider: &str) -> Vec<Person> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| Person {
            my_number: my_number(&mut rng),
            inquirer_uan: format!("{inquirer}8{i:08}"),
            provider_uan: format!("{provider}9{i:08}"),
        })
        .collect()
}

/// A vaccination history for each address number, as the provider holds them.
fn histories(
    uans: impl Iterator<Item = String>,
    seed: u64,
    today: time::Date,
) -> Vec<(String, time::Date, renkei_proto::v1::VaccinationHistory)> {
    let mut rng = Rng::new(seed);
    uans.map(|uan| {
        let birth = today - time::Duration::days(400 + rng.below(2500) as i64);
        let h = childhood_history(&mut rng, birth, today, "1410099999");
        (uan, birth, h)
    })
    .collect()
}

fn copies(uans: impl Iterator<Item = String>, seed: u64, today: time::Date) -> Vec<PutCopyRequest> {
    histories(uans, seed, today)
        .iter()
        .map(|(uan, _, h)| copy_request(uan, h))
        .collect()
}

fn channels(
    cluster_or_addr: &str,
    certs: &std::path::Path,
    code: &str,
    n: usize,
) -> anyhow::Result<Vec<Channel>> {
    let creds = renkei_transport::Credentials::load(
        &certs.join("ca.pem"),
        &certs.join(format!("backoffice-{code}.pem")),
        &certs.join(format!("backoffice-{code}.key.pem")),
    )?;
    (0..n.max(1))
        .map(|_| {
            Ok(renkei_transport::channel(
                cluster_or_addr,
                GATEWAY_SERVER_NAME,
                &creds,
                &ClientOptions::default(),
            )?)
        })
        .collect()
}

async fn run_e2e(
    load: &LoadOptions,
    persons: u32,
    gateway: Option<String>,
    topology: &Topology,
    data: &DataDir,
    clock: &SharedClock,
    say: Say<'_>,
) -> anyhow::Result<Report> {
    ensure!(persons > 0, "--persons must be at least 1");
    let certs = &topology.certs;
    let (cluster, addr) = match gateway {
        Some(a) => (None, a),
        None => {
            let c = start_cluster(certs, data, topology.hosted.as_deref()).await?;
            let a = c.gateway_local_addr.to_string();
            (Some(c), a)
        }
    };
    // The load's connections are spread over the inquiring tenants (each needs its own
    // back-office certificate, so at least one each).
    let per_inquirer = (load.connections / topology.pairs.len()).max(1);
    let mut clients = Vec::with_capacity(topology.pairs.len());
    let mut setup = std::collections::BTreeMap::new();
    for pair in &topology.pairs {
        let chs = channels(&addr, certs, &pair.inquirer, per_inquirer)?;
        setup.insert(pair.inquirer.clone(), chs[0].clone());
        clients.push(
            chs.into_iter()
                .map(InquiriesClient::new)
                .collect::<Vec<_>>(),
        );
    }
    for pair in &topology.pairs {
        if !setup.contains_key(&pair.provider) {
            let ch = channels(&addr, certs, &pair.provider, 1)?.remove(0);
            setup.insert(pair.provider.clone(), ch);
        }
    }
    say(&format!(
        "bench e2e: enrolling {persons} persons on both sides of {} pair(s)…",
        topology.pairs.len()
    ));
    let today = population::today(clock.as_ref());
    let enrol_start = Instant::now();
    let mut uans = Vec::with_capacity(topology.pairs.len());
    for (k, pair) in topology.pairs.iter().enumerate() {
        let people = people(persons, 0xBE7C + k as u64, &pair.inquirer, &pair.provider);
        enrol(
            &setup[&pair.inquirer],
            &setup[&pair.provider],
            &people,
            k,
            today,
        )
        .await?;
        uans.push(
            people
                .into_iter()
                .map(|p| p.inquirer_uan)
                .collect::<Vec<_>>(),
        );
    }
    let enrol_time = enrol_start.elapsed();

    // Operation i goes to pair i mod P, so every pair carries the same share of the load.
    let plan = Arc::new(LoadPlan {
        providers: topology.pairs.iter().map(|p| p.provider.clone()).collect(),
        uans,
        clients,
    });
    let run_id = clock.now_ms();
    let answered = Arc::new(AtomicU64::new(0));
    let before = cluster.as_ref().map(Durability::of);
    say("bench e2e: measuring…");
    let counter = answered.clone();
    let mut report = crate::drive("e2e inquiries (real servers)", &load.spec, move |i| {
        let (plan, counter) = (plan.clone(), counter.clone());
        async move {
            let i = i as usize;
            let pairs = plan.providers.len();
            let (k, round) = (i % pairs, i / pairs);
            let mut c = plan.clients[k][round % plan.clients[k].len()].clone();
            let r = ask(
                &mut c,
                format!("bench-{run_id}-{i}"),
                plan.uans[k][round % plan.uans[k].len()].clone(),
                &plan.providers[k],
            )
            .await;
            if r.is_ok() {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            r
        }
    })
    .await?;
    if let (Some(hosted), Some(pki)) = (&topology.hosted, topology.pki_time) {
        report = report.with_extra(
            "tenants",
            format!(
                "{} generated tenants in a ring (each asks the next), {persons} persons per \
                 pair, {per_inquirer} connection(s) per inquiring tenant; setup, not measured: \
                 certificates and keys {:.2} s, enrolment {:.2} s",
                hosted.len(),
                pki.as_secs_f64(),
                enrol_time.as_secs_f64()
            ),
        );
    }
    if let Some(c) = cluster {
        if let Some(before) = before {
            let n = answered.load(Ordering::Relaxed).max(1) as f64;
            let d = Durability::of(&c).since(&before);
            report = report.with_extra(
                "gateway store",
                format!(
                    "{:.2} commits and {:.2} flushes per inquiry (all tenants)",
                    d.commits as f64 / n,
                    d.flushes as f64 / n
                ),
            );
            report = match &topology.hosted {
                None => report.with_extra("record logs", d.per_log(n)),
                Some(hosted) => report.with_extra("record logs", d.summary(n, hosted.len())),
            };
        }
        let gateway_dir = c.data_dir.join("gateway");
        let hub_dir = c.data_dir.join("hub");
        let tenants = topology
            .hosted
            .as_ref()
            .map_or(DEMO_TENANTS.len(), Vec::len);
        c.shutdown().await.context("stopping the servers")?;
        let records = dir_size(&gateway_dir.join("records"));
        let store = dir_size(&gateway_dir).saturating_sub(records);
        report = report.with_extra(
            "on disk",
            format!(
                "gateway {:.1} MiB for {tenants} tenants ({:.2} MiB per tenant: store {:.2}, \
                 record log {:.2}); hub {:.1} MiB",
                (store + records) as f64 / MIB,
                (store + records) as f64 / MIB / tenants as f64,
                store as f64 / MIB / tenants as f64,
                records as f64 / MIB / tenants as f64,
                dir_size(&hub_dir) as f64 / MIB,
            ),
        );
    }
    Ok(report)
}

const MIB: f64 = 1024.0 * 1024.0;

/// What each operation of the e2e load needs, indexed by pair.
struct LoadPlan {
    providers: Vec<String>,
    /// The inquirer-side address numbers of each pair's movers.
    uans: Vec<Vec<String>>,
    clients: Vec<Vec<InquiriesClient<Channel>>>,
}

/// Enrols a pair's movers on both sides: as residents of the inquirer with no record
/// there, and as residents of the provider with the copies of their records.
async fn enrol(
    inquirer: &Channel,
    provider: &Channel,
    people: &[Person],
    pair: usize,
    today: time::Date,
) -> anyhow::Result<()> {
    // Enrolment never sends the birth date; the asking side has no record to derive it from.
    let asking: Vec<Resident> = people
        .iter()
        .map(|p| Resident {
            unified_address_number: p.inquirer_uan.clone(),
            my_number: p.my_number.clone(),
            birth: today,
            history: None,
        })
        .collect();
    let histories = histories(
        people.iter().map(|p| p.provider_uan.clone()),
        7 + pair as u64,
        today,
    );
    let answering: Vec<Resident> = people
        .iter()
        .zip(histories)
        .map(|(p, (uan, birth, h))| Resident {
            unified_address_number: uan,
            my_number: p.my_number.clone(),
            birth,
            history: Some(h),
        })
        .collect();
    renkei_testkit::enrol(inquirer, &asking, Calls::Bulk)
        .await
        .context("enrolling the inquirer's side during setup")?;
    renkei_testkit::enrol(provider, &answering, Calls::Bulk)
        .await
        .context("enrolling the provider's side during setup")?;
    Ok(())
}

/// Durable-write counters of the bench's servers, to report syncs per inquiry.
struct Durability {
    commits: u64,
    flushes: u64,
    logs: Vec<(String, renkei_ledger::WriterStats)>,
}

impl Durability {
    fn of(c: &Cluster) -> Durability {
        let g = c.gateway.storage_stats();
        let mut logs = g.record_logs;
        logs.push(("hub".into(), c.hub.record_log_stats()));
        Durability {
            commits: g.commits,
            flushes: g.flushes,
            logs,
        }
    }

    /// Appends and syncs per inquiry at each log that was written to.
    fn per_log(&self, n: f64) -> String {
        self.logs
            .iter()
            .filter(|(_, s)| s.appends > 0)
            .map(|(who, s)| {
                format!(
                    "{who} {:.2} appends, {:.2} fdatasyncs",
                    s.appends as f64 / n,
                    s.syncs as f64 / n
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
            + " per inquiry"
    }

    /// The tenants' logs summed (too many to list one by one), the spread of appends between
    /// them, and the hub's.
    fn summary(&self, n: f64, tenants: usize) -> String {
        let (mut appends, mut syncs, mut active) = (0, 0, 0);
        let (mut least, mut most) = (u64::MAX, 0);
        let mut hub = renkei_ledger::WriterStats {
            appends: 0,
            syncs: 0,
        };
        for (who, s) in &self.logs {
            if who == "hub" {
                hub = *s;
            } else {
                appends += s.appends;
                syncs += s.syncs;
                active += usize::from(s.appends > 0);
                least = least.min(s.appends);
                most = most.max(s.appends);
            }
        }
        format!(
            "{active} of {tenants} tenant logs written: {:.2} appends, {:.2} fdatasyncs per \
             inquiry in all ({:.2} appends per fdatasync), per tenant log {:.3}-{:.3} appends \
             per inquiry; hub {:.2} appends, {:.2} fdatasyncs per inquiry",
            appends as f64 / n,
            syncs as f64 / n,
            appends as f64 / syncs.max(1) as f64,
            least.min(most) as f64 / n,
            most as f64 / n,
            hub.appends as f64 / n,
            hub.syncs as f64 / n
        )
    }

    fn since(&self, earlier: &Durability) -> Durability {
        Durability {
            commits: self.commits - earlier.commits,
            flushes: self.flushes - earlier.flushes,
            logs: self
                .logs
                .iter()
                .map(|(who, s)| {
                    let e = earlier
                        .logs
                        .iter()
                        .find(|(w, _)| w == who)
                        .map(|(_, e)| *e)
                        .unwrap_or(renkei_ledger::WriterStats {
                            appends: 0,
                            syncs: 0,
                        });
                    (
                        who.clone(),
                        renkei_ledger::WriterStats {
                            appends: s.appends - e.appends,
                            syncs: s.syncs - e.syncs,
                        },
                    )
                })
                .collect(),
        }
    }
}

async fn run_baseline(
    load: &LoadOptions,
    topology: &Topology,
    clock: &SharedClock,
    say: Say<'_>,
) -> anyhow::Result<Report> {
    let certs = &topology.certs;
    let person = people(1, 0xBA5E, INQUIRER, PROVIDER).remove(0);
    let mut rng = Rng::new(3);
    let today = population::today(clock.as_ref());
    let history = childhood_history(
        &mut rng,
        today - time::Duration::days(1500),
        today,
        "1410099999",
    );
    let spec = BaselineSpec {
        pairs: topology
            .pairs
            .iter()
            .map(|p| {
                Ok((
                    renkei_core::AgencyCode::parse(&p.inquirer)?,
                    renkei_core::AgencyCode::parse(&p.provider)?,
                ))
            })
            .collect::<anyhow::Result<_>>()?,
        my_number: person.my_number,
        content: content(&history),
        rate_limit: BENCH_RATE,
        clock: clock.clone(),
    };
    let b = Baseline::start(certs, spec).await?;
    // The same pairs and the same spread of connections as the e2e run.
    let per_inquirer = (load.connections / topology.pairs.len()).max(1);
    let mut clients = Vec::with_capacity(topology.pairs.len());
    for pair in &topology.pairs {
        let chs = channels(&b.local.to_string(), certs, &pair.inquirer, per_inquirer)?;
        clients.push(
            chs.into_iter()
                .map(InquiriesClient::new)
                .collect::<Vec<_>>(),
        );
    }
    let plan = Arc::new(LoadPlan {
        providers: topology.pairs.iter().map(|p| p.provider.clone()).collect(),
        uans: vec![vec!["0".to_owned()]; topology.pairs.len()],
        clients,
    });
    say("bench baseline: measuring…");
    let report = crate::drive(
        "baseline (same RPC legs and crypto, no storage, no logic)",
        &load.spec,
        move |i| {
            let plan = plan.clone();
            async move {
                let i = i as usize;
                let pairs = plan.providers.len();
                let (k, round) = (i % pairs, i / pairs);
                let mut c = plan.clients[k][round % plan.clients[k].len()].clone();
                ask(&mut c, format!("b-{i}"), "0".into(), &plan.providers[k]).await
            }
        },
    )
    .await?;
    b.shutdown().await;
    Ok(report)
}

/// Copies per ImportCopies call in `bench import`, the adapter's default chunk.
const IMPORT_CHUNK: usize = 5000;
/// ImportCopies calls in flight in `bench import`: enough to keep both cores of the gateway
/// busy while each call waits for its group commit.
const IMPORT_IN_FLIGHT: usize = 4;

/// Sends `items` in calls of `chunk`, `in_flight` calls at a time, and adds up what each
/// call reports as (good, bad).
async fn in_chunks<T, E, F, Fut>(
    items: Vec<T>,
    chunk: usize,
    in_flight: usize,
    call: F,
) -> Result<(u64, u64), E>
where
    F: Fn(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<(u64, u64), E>>,
{
    let mut items = items.into_iter().peekable();
    let mut chunks = Vec::new();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(chunk).collect::<Vec<_>>());
    }
    let mut results = futures::StreamExt::buffer_unordered(
        futures::stream::iter(chunks.into_iter().map(call)),
        in_flight,
    );
    let (mut good, mut bad) = (0, 0);
    while let Some(r) = futures::StreamExt::next(&mut results).await {
        let (g, b) = r?;
        good += g;
        bad += b;
    }
    Ok((good, bad))
}

/// `bench import`: bulk registration of `records` provision copies (durable) through the
/// gateway's ImportCopies.
pub async fn import(
    records: u32,
    common: &CommonOptions,
    clock: &SharedClock,
    say: Say<'_>,
) -> anyhow::Result<Report> {
    if records == 0 {
        bail!("--records must be at least 1");
    }
    let data = DataDir::new(&common.data_dir)?;
    let certs = find_certs_dir(common.certs.as_deref())?;
    let cluster = start_cluster(&certs, &data, None).await?;
    let certs = cluster.certs_dir.clone();
    let ch = channels(&cluster.gateway_local_addr.to_string(), &certs, PROVIDER, 1)?.remove(0);
    let uans: Vec<String> = (0..records).map(|i| format!("{PROVIDER}7{i:08}")).collect();
    say(&format!(
        "bench import: registering {records} address numbers and generating copies…"
    ));
    register_address_numbers(&ch, uans.clone()).await?;
    let reqs = copies(uans.into_iter(), 11, population::today(clock.as_ref()));
    let bytes: usize = reqs.iter().map(prost::Message::encoded_len).sum();
    say("bench import: importing…");
    let before = ProcessUsage::now();
    let t0 = Instant::now();
    // As the adapter sends them: chunks of IMPORT_CHUNK copies, each one ImportCopies call
    // acknowledged only when durable, IMPORT_IN_FLIGHT calls at a time (one stream of
    // millions of copies would outlive any request deadline).
    let (accepted, rejected) = in_chunks(reqs, IMPORT_CHUNK, IMPORT_IN_FLIGHT, |c| {
        import_copies(&ch, c)
    })
    .await?;
    let elapsed = t0.elapsed();
    let usage = ProcessUsage::now().since(&before);
    let size = dir_size(&cluster.data_dir.join("gateway"));
    cluster.shutdown().await?;
    Ok(Report::batch(
        "bulk import of provision copies (durable)",
        accepted,
        rejected,
        elapsed,
        usage,
    )
    .with_extra(
        "payload",
        format!("{:.1} MiB of copies sent", bytes as f64 / 1048576.0),
    )
    .with_extra(
        "on disk",
        format!(
            "{:.1} MiB gateway store after import",
            size as f64 / 1048576.0
        ),
    ))
}

/// `bench symbols`: bulk symbol acquisition (gateway → hub) of `count` persons, in calls
/// of `chunk` with `in_flight` calls at a time.
pub async fn symbols(
    count: u32,
    in_flight: usize,
    chunk: usize,
    common: &CommonOptions,
    say: Say<'_>,
) -> anyhow::Result<Report> {
    if count == 0 {
        bail!("--count must be at least 1");
    }
    if in_flight == 0 || chunk == 0 {
        bail!("--in-flight and --chunk must be at least 1");
    }
    let data = DataDir::new(&common.data_dir)?;
    let certs = find_certs_dir(common.certs.as_deref())?;
    let cluster = start_cluster(&certs, &data, None).await?;
    let certs = cluster.certs_dir.clone();
    let ch = channels(&cluster.gateway_local_addr.to_string(), &certs, INQUIRER, 1)?.remove(0);
    let people = people(count, 0x5E11, INQUIRER, PROVIDER);
    say(&format!(
        "bench symbols: registering {count} address numbers…"
    ));
    register_address_numbers(&ch, people.iter().map(|p| p.inquirer_uan.clone()).collect()).await?;
    let pairs: Vec<(String, String)> = people
        .into_iter()
        .map(|p| (p.inquirer_uan, p.my_number))
        .collect();
    say(&format!(
        "bench symbols: acquiring ({chunk} per call, {in_flight} calls in flight)…"
    ));
    let before = ProcessUsage::now();
    let t0 = Instant::now();
    // Chunked calls with several in flight, so the gateway's per-call pipeline (validate,
    // store, hub call, store, commit) of one chunk overlaps another's.
    let (ok, failed) = in_chunks(pairs, chunk, in_flight, |c| acquire_symbols(&ch, c)).await?;
    let elapsed = t0.elapsed();
    let usage = ProcessUsage::now().since(&before);
    cluster.shutdown().await?;
    Ok(Report::batch(
        "bulk symbol acquisition (gateway → hub)",
        ok,
        failed,
        elapsed,
        usage,
    )
    .with_extra(
        "calls",
        format!("{chunk} persons per call, {in_flight} in flight"),
    ))
}

/// Bytes of every file below `dir` (0 for what cannot be read).
fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// One inquiry of the load: submitted, and counted only if it was answered with content.
async fn ask(
    client: &mut InquiriesClient<Channel>,
    idempotency_key: String,
    unified_address_number: String,
    provider: &str,
) -> Result<(), String> {
    let req = SubmitInquiryRequest {
        idempotency_key,
        unified_address_number,
        provider: provider.into(),
        procedure: "vaccination".into(),
        item: 25,
        case_reference: String::new(),
        disclose_after_ms: 0,
    };
    let inquiry = client
        .submit_inquiry(req)
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
        .into_inner();
    if inquiry.state == InquiryState::Answered as i32 && inquiry.content.is_some() {
        Ok(())
    } else {
        Err(format!(
            "inquiry ended {:?}: {:?}",
            inquiry.state,
            inquiry.refusal.map(|r| r.message)
        ))
    }
}
