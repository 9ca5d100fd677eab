//! `renkei demo`: a hub and a gateway hosting 札幌市, 横浜市 and 岡崎市 on loopback with
//! mTLS from `certs-dev/`, a small synthetic population, and the exchanges an operator
//! would want to see, narrated in plain words.

mod held;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, anyhow, bail, ensure};
use prost::Message as _;
use renkei_core::{SharedClock, SystemClock};
use renkei_crypto::AnswerContext;
use renkei_proto::v1::hub_client::HubClient;
use renkei_proto::v1::hub_records_client::HubRecordsClient;
use renkei_proto::v1::inquiries_client::InquiriesClient;
use renkei_proto::v1::records_client::RecordsClient;
use renkei_proto::v1::{
    AnswerPayload, Direction, ExchangeRecord, ExchangeRequest, Inquiry, InquiryEnvelope,
    InquiryState, IssueSymbolsRequest, ListHubRecordsRequest, ListRecordsRequest, Outcome,
    RefusalCode, SubmitInquiryRequest, content, exchange_response, symbol_result,
};
use renkei_testkit::cluster::{Cluster, ClusterOptions, find_certs_dir};
use renkei_testkit::population::{self, Resident};
use renkei_testkit::{Calls, Enrolled, enrol};

#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Keep the servers running after the scenarios, for grpcurl or any gRPC client.
    #[arg(long)]
    serve: bool,
    /// With --serve: the gateway's back-office side listens here (e.g. 127.0.0.1:7401),
    /// instead of a random port.
    #[arg(long, value_name = "HOST:PORT", requires = "serve")]
    listen: Option<SocketAddr>,
    /// With --serve: the hub listens here (e.g. 127.0.0.1:7400), instead of a random port.
    #[arg(long, value_name = "HOST:PORT", requires = "serve")]
    hub_listen: Option<SocketAddr>,
    /// Certificate directory (default: $RENKEI_CERTS_DIR, else ./certs-dev).
    #[arg(long)]
    certs: Option<PathBuf>,
    /// Keep data here instead of a temporary directory.
    #[arg(long)]
    data: Option<PathBuf>,
}

const SAPPORO: &str = "011002";
const YOKOHAMA: &str = "141003";
const OKAZAKI: &str = "232025";

fn name(code: &str) -> &'static str {
    renkei_testkit::cluster::DEMO_TENANTS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("?", |(_, n)| n)
}

fn state_name(s: i32) -> &'static str {
    match InquiryState::try_from(s).unwrap_or(InquiryState::Unspecified) {
        InquiryState::Pending => "pending (waiting for the answer)",
        InquiryState::Answered => "answered",
        InquiryState::NoData => "answered: no data",
        InquiryState::Refused => "refused",
        InquiryState::NotProvided => "not provided",
        InquiryState::Expired => "expired",
        InquiryState::Failed => "failed",
        InquiryState::Unspecified => "unknown",
    }
}

fn outcome_name(o: i32) -> &'static str {
    match Outcome::try_from(o).unwrap_or(Outcome::Unspecified) {
        Outcome::Provided => "provided",
        Outcome::NoData => "no data",
        Outcome::Refused => "refused",
        Outcome::Held => "held",
        Outcome::NotProvided => "not provided",
        Outcome::Expired => "expired",
        Outcome::Failed => "failed",
        Outcome::Relayed => "relayed (sealed)",
        Outcome::Purged => "purged",
        Outcome::Pending => "pending",
        Outcome::Unspecified => "?",
    }
}

fn direction_name(d: i32) -> &'static str {
    match Direction::try_from(d).unwrap_or(Direction::Unspecified) {
        Direction::Inquiry => "照会 inquiry",
        Direction::Provision => "提供 provision",
        Direction::Relay => "中継 relay",
        Direction::System => "system",
        Direction::Unspecified => "?",
    }
}

struct Demo {
    cluster: Cluster,
    clock: SharedClock,
    today: time::Date,
    movers: Vec<(Resident, Resident)>,
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<bool> {
    let certs = find_certs_dir(args.certs.as_deref())?;
    let tmp = tempfile::tempdir()?;
    let data = args.data.clone().unwrap_or_else(|| tmp.path().to_owned());
    let started = Instant::now();
    println!("Renkei demo — 連携 inter-agency exchange, on this machine only (loopback, mTLS).");
    println!("  certificates: {} (development only)", certs.display());
    let mut options = ClusterOptions::new(&certs, &data);
    if let Some(addr) = args.listen {
        options.gateway_local_listen = addr;
    }
    if let Some(addr) = args.hub_listen {
        options.hub_listen = addr;
    }
    let cluster = Cluster::start(options).await?;
    println!(
        "  hub (情報提供ネットワークシステム) is listening on {}",
        cluster.hub_addr
    );
    println!(
        "  one gateway (中間サーバー) hosts 札幌市 011002, 横浜市 141003 and 岡崎市 232025:\n    back-office side {}, network side {}",
        cluster.gateway_local_addr, cluster.gateway_network_addr
    );
    println!(
        "  the gateway fetched master data version {} from the hub and verified the hub's signature",
        cluster.gateway.master_version().unwrap_or(0)
    );
    let clock = SystemClock::shared();
    let today = population::today(clock.as_ref());
    let demo = Demo {
        cluster,
        clock,
        today,
        movers: population::movers(today),
    };

    println!(
        "\nLoading a small synthetic population (symbols acquired, provision copies registered)"
    );
    for (code, _) in renkei_cli::cluster::DEMO_TENANTS {
        demo.load(code)
            .await
            .with_context(|| format!("loading {}", name(code)))?;
    }

    let scenarios: [(&str, &str); 6] = [
        (
            "a",
            "a child moved from 横浜市 to 札幌市; 札幌市 asks 横浜市 for the vaccination history",
        ),
        ("b", "an inquiry the whitelist does not allow"),
        (
            "c",
            "an inquiry for a person of whom 横浜市 holds no record",
        ),
        (
            "d",
            "the records (情報提供等記録) both sides and the hub kept for scenario a",
        ),
        (
            "e",
            "a DV-protected child: the answer is held, approved by an operator, and a second request refused",
        ),
        (
            "f",
            "the vaccination adapter: a generated city's ledger registered as copies, a child moves, transfer-in merges the history",
        ),
    ];
    let (mut passed, mut failed) = (0, 0);
    let mut inquiry_a = None;
    for (id, title) in scenarios {
        println!("\nScenario {id} — {title}");
        let result = match id {
            "a" => demo.scenario_a().await.map(|i| inquiry_a = Some(i)),
            "b" => demo.scenario_b().await,
            "c" => demo.scenario_c().await,
            "e" => demo.scenario_e().await,
            "f" => crate::demo_adapter::scenario_f(&demo.cluster).await,
            _ => match &inquiry_a {
                Some(i) => demo.scenario_d(i).await,
                None => Err(anyhow!("scenario a did not produce an inquiry")),
            },
        };
        match result {
            Ok(()) => {
                passed += 1;
                println!("  ✔ scenario {id} passed");
            }
            Err(e) => {
                failed += 1;
                println!("  ✘ scenario {id} FAILED: {e:#}");
            }
        }
    }
    println!(
        "\ndemo: {passed} scenarios passed, {failed} failed ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let mut cluster = demo.cluster;
    if args.serve {
        let stop = renkei_cli::signal::shutdown();
        print_serving(&cluster);
        tokio::select! {
            _ = stop => println!("stopping"),
            r = cluster.wait() => r?,
        }
    }
    cluster.shutdown().await?;
    Ok(failed == 0)
}

fn print_serving(c: &Cluster) {
    let d = c.certs_dir.display();
    println!(
        "\nServing until Ctrl-C or SIGTERM. Standard gRPC health checking and server reflection are on every server."
    );
    println!(
        "  hub                    {}   (clients: {d}/tenant-<code>.pem as a gateway, {d}/auditor.pem for records)",
        c.hub_addr
    );
    println!(
        "  gateway, back offices  {}   (clients: {d}/backoffice-<code>.pem with its .key.pem)",
        c.gateway_local_addr
    );
    println!(
        "  gateway, network side  {}   (client: the hub only, {d}/hub.pem)",
        c.gateway_network_addr
    );
    println!(
        "  CA for every server: {d}/ca.pem; server names hub.renkei.local, gateway.renkei.local (or 127.0.0.1)"
    );
    println!("Try:");
    println!(
        "  grpcurl -cacert {d}/ca.pem -cert {d}/backoffice-011002.pem -key {d}/backoffice-011002.key.pem {} list",
        c.gateway_local_addr
    );
    println!(
        "  grpcurl -cacert {d}/ca.pem -cert {d}/backoffice-011002.pem -key {d}/backoffice-011002.key.pem \\\n    -d '{{\"unified_address_number\":\"0110029000001\"}}' {} renkei.v1.Records/ListRecords",
        c.gateway_local_addr
    );
    // The operator console is a client like `renkei ops`: scenario e left 横浜市's
    // administrator with a known demo passphrase, so this works as printed.
    println!("Operator console (中間サーバー接続端末) for 横浜市, in another terminal:");
    println!(
        "  renkei console --gateway {} --ca {d}/ca.pem --cert {d}/terminal-141003.pem --key {d}/terminal-141003.key.pem",
        c.gateway_local_addr
    );
    println!(
        "  then open http://127.0.0.1:8080 and log in as admin with the passphrase \"admin: a demo passphrase\" (demo only)"
    );
}

impl Demo {
    async fn load(&self, code: &str) -> anyhow::Result<()> {
        let mut residents = population::municipality(code, 12, self.today);
        for (y, s) in &self.movers {
            match code {
                YOKOHAMA => residents.push(y.clone()),
                SAPPORO => residents.push(s.clone()),
                _ => {}
            }
        }
        let channel = self.cluster.backoffice(code)?;
        let Enrolled {
            acquired,
            copies: n_copies,
            ..
        } = enrol(&channel, &residents, Calls::Bulk).await?;
        println!(
            "  {} ({code}): {} residents registered, {acquired} symbols acquired (My Numbers used once, never stored), {n_copies} vaccination histories registered as provision copies (副本)",
            name(code),
            residents.len(),
        );
        Ok(())
    }

    async fn submit(
        &self,
        key: &str,
        uan: &str,
        provider: &str,
        procedure: &str,
        item: u32,
    ) -> anyhow::Result<Inquiry> {
        let mut client = InquiriesClient::new(self.cluster.backoffice(SAPPORO)?);
        Ok(client
            .submit_inquiry(SubmitInquiryRequest {
                idempotency_key: key.into(),
                unified_address_number: uan.into(),
                provider: provider.into(),
                procedure: procedure.into(),
                item,
                case_reference: format!("転入-{key}"),
                ..Default::default()
            })
            .await?
            .into_inner())
    }

    async fn scenario_a(&self) -> anyhow::Result<Inquiry> {
        let (yokohama, sapporo) = &self.movers[0];
        println!(
            "  The child is resident {} in 札幌市 now; 横浜市 knew the child as {}.",
            sapporo.unified_address_number, yokohama.unified_address_number
        );
        println!(
            "  札幌市's back office asks, through its gateway, for 予防接種法による予防接種の実施に関する情報"
        );
        println!(
            "  (主務省令 第2条の表 item 25, 旧別表第二 16の2; procedure: 予防接種法による予防接種の実施に関する事務)."
        );
        let started = Instant::now();
        let inquiry = self
            .submit(
                "demo-a",
                &sapporo.unified_address_number,
                YOKOHAMA,
                "vaccination",
                25,
            )
            .await?;
        let took = started.elapsed();
        println!(
            "  The hub checked the whitelist, translated 札幌市's symbol into 横浜市's, and issued permit {}.",
            inquiry.permit_id
        );
        println!(
            "  横浜市's gateway verified the permit, read its provision copy, sealed the answer to 札幌市's key and signed it."
        );
        println!(
            "  Inquiry {}: {} after {:.0} ms.",
            inquiry.inquiry_id,
            state_name(inquiry.state),
            took.as_secs_f64() * 1000.0
        );
        ensure!(
            inquiry.state == InquiryState::Answered as i32,
            "expected an answer, got {}",
            state_name(inquiry.state)
        );
        let Some(content::Body::Vaccination(history)) =
            inquiry.content.as_ref().and_then(|c| c.body.clone())
        else {
            bail!("the answer carries no vaccination history");
        };
        let expected = yokohama
            .history
            .as_ref()
            .map(|h| h.doses.len())
            .unwrap_or(0);
        ensure!(
            history.doses.len() == expected,
            "{} doses arrived, 横浜市 holds {expected}",
            history.doses.len()
        );
        println!(
            "  The vaccination history from 横浜市 ({} doses):",
            history.doses.len()
        );
        println!(
            "    {:<12} {:>4}  {:<10}  {:<8}  maker",
            "vaccine", "dose", "date", "lot"
        );
        for d in &history.doses {
            println!(
                "    {:<12} {:>4}  {:<10}  {:<8}  {}",
                d.vaccine_code, d.dose_number, d.date, d.lot, d.maker
            );
        }
        self.prove_only_inquirer_opens(sapporo).await?;
        Ok(inquiry)
    }

    /// Repeats the exchange directly at the hub with 札幌市's gateway certificate and tries
    /// to open the sealed answer with 岡崎市's key and then with 札幌市's.
    async fn prove_only_inquirer_opens(&self, sapporo: &Resident) -> anyhow::Result<()> {
        println!(
            "  Only 札幌市 can open it. To show this, the demo repeats the exchange at the hub as 札幌市's gateway:"
        );
        let mut hub = HubClient::new(self.cluster.hub_channel(&format!("tenant-{SAPPORO}"))?);
        let symbols = hub
            .issue_symbols(IssueSymbolsRequest {
                my_numbers: vec![sapporo.my_number.clone()],
            })
            .await?
            .into_inner();
        let Some(symbol_result::Result::Symbol(symbol)) =
            symbols.results.first().and_then(|r| r.result.clone())
        else {
            bail!("the hub issued no symbol");
        };
        let now = self.clock.now_ms();
        let inquiry_id = renkei_core::new_id(
            renkei_core::IdKind::Inquiry,
            now,
            renkei_crypto::random_bytes::<8>()?,
        );
        let envelope = InquiryEnvelope {
            inquiry_id: inquiry_id.clone(),
            inquirer: SAPPORO.into(),
            provider: YOKOHAMA.into(),
            procedure: "vaccination".into(),
            item: 25,
            created_at_ms: now,
            nonce: renkei_crypto::random_bytes::<16>()?.to_vec(),
            ..Default::default()
        };
        let resp = hub
            .exchange(ExchangeRequest {
                envelope: envelope.encode_to_vec(),
                inquirer_symbol: symbol,
            })
            .await?
            .into_inner();
        let Some(exchange_response::Result::Answer(sealed)) = resp.result else {
            bail!("the hub did not relay an answer");
        };
        println!(
            "    what the hub relayed: {} bytes of ciphertext, signed by 横浜市 (the hub cannot read it)",
            sealed.ciphertext.len()
        );
        let keys = self.cluster.certs_dir.join("keys");
        let ctx = AnswerContext {
            permit_id: resp.permit_id.clone(),
            inquirer: SAPPORO.into(),
            provider: YOKOHAMA.into(),
        };
        let master = renkei_crypto::read_verifying_key(&keys.join(format!("{YOKOHAMA}.sign.pub")))?;
        let okazaki = renkei_crypto::read_encryption_key(&keys.join(format!("{OKAZAKI}.enc.key")))?;
        let with_okazaki = renkei_crypto::open_answer(&sealed, &ctx, &okazaki, &master);
        ensure!(
            with_okazaki.is_err(),
            "岡崎市's key opened an answer sealed to 札幌市"
        );
        println!(
            "    opened with 岡崎市's key: refused ({})",
            with_okazaki
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        );
        let own = renkei_crypto::read_encryption_key(&keys.join(format!("{SAPPORO}.enc.key")))?;
        let payload = AnswerPayload::decode(
            renkei_crypto::open_answer(&sealed, &ctx, &own, &master)?.as_slice(),
        )?;
        ensure!(
            payload.inquiry_id == inquiry_id,
            "the opened answer names another inquiry"
        );
        println!(
            "    opened with 札幌市's key: a readable answer for inquiry {inquiry_id} (this exchange is on record too)"
        );
        Ok(())
    }

    async fn scenario_b(&self) -> anyhow::Result<()> {
        let (_, sapporo) = &self.movers[0];
        println!(
            "  札幌市 asks 横浜市 for item 26 (旧別表第二 16の3), which only a prefecture (都道府県知事) may ask."
        );
        let inquiry = self
            .submit(
                "demo-b",
                &sapporo.unified_address_number,
                YOKOHAMA,
                "vaccination",
                26,
            )
            .await?;
        let refusal = inquiry.refusal.clone().unwrap_or_default();
        println!(
            "  Inquiry {}: {}, by {}.",
            inquiry.inquiry_id,
            state_name(inquiry.state),
            refusal.refused_by
        );
        println!("  Reason: {}", refusal.message);
        ensure!(
            inquiry.state == InquiryState::Refused as i32,
            "expected a refusal"
        );
        ensure!(
            refusal.refused_by == "hub",
            "expected the hub to refuse, got {:?}",
            refusal.refused_by
        );
        ensure!(
            refusal.code == RefusalCode::NotOnWhitelist as i32,
            "expected NOT_ON_WHITELIST"
        );
        Ok(())
    }

    async fn scenario_c(&self) -> anyhow::Result<()> {
        let (yokohama, sapporo) = &self.movers[1];
        println!(
            "  Another child moved from 横浜市 ({}) to 札幌市 ({}); 横浜市 holds no vaccination record for them.",
            yokohama.unified_address_number, sapporo.unified_address_number
        );
        let inquiry = self
            .submit(
                "demo-c",
                &sapporo.unified_address_number,
                YOKOHAMA,
                "vaccination",
                25,
            )
            .await?;
        println!(
            "  Inquiry {}: {}.",
            inquiry.inquiry_id,
            state_name(inquiry.state)
        );
        ensure!(
            inquiry.state == InquiryState::NoData as i32,
            "expected \"no data\", got {}",
            state_name(inquiry.state)
        );
        Ok(())
    }

    async fn scenario_d(&self, a: &Inquiry) -> anyhow::Result<()> {
        let by_inquiry = |code: &str| {
            let channel = self.cluster.backoffice(code);
            let id = a.inquiry_id.clone();
            async move {
                let r = RecordsClient::new(channel?)
                    .list_records(ListRecordsRequest {
                        inquiry_id: id,
                        ..Default::default()
                    })
                    .await?;
                anyhow::Ok(r.into_inner().records)
            }
        };
        let sapporo = by_inquiry(SAPPORO).await?;
        let yokohama = by_inquiry(YOKOHAMA).await?;
        let hub = HubRecordsClient::new(self.cluster.hub_channel("auditor")?)
            .list_records(ListHubRecordsRequest {
                inquiry_id: a.inquiry_id.clone(),
                ..Default::default()
            })
            .await?
            .into_inner()
            .records;
        println!(
            "  {} {} {} {} {} {} {} sealed answer SHA-256",
            pad("recorded at (JST)", 23),
            pad("kept by", 9),
            pad("direction", 16),
            pad("counterparty", 14),
            pad("item", 16),
            pad("outcome", 17),
            pad("person", 14),
        );
        for r in sapporo.iter().chain(&yokohama).chain(&hub) {
            print_record(r);
        }
        println!("  No record holds the answer itself or a My Number: only references and hashes.");
        ensure!(
            sapporo.len() == 1 && yokohama.len() == 1 && hub.len() == 1,
            "expected one record at each of the three keepers"
        );
        let all = [&sapporo[0], &yokohama[0], &hub[0]];
        ensure!(
            all.iter().all(|r| r.permit_id == a.permit_id),
            "the records disagree on the permit"
        );
        ensure!(
            all.iter().all(
                |r| r.sealed_answer_sha256 == sapporo[0].sealed_answer_sha256
                    && !r.sealed_answer_sha256.is_empty()
            ),
            "the records disagree on the sealed answer"
        );
        ensure!(
            sapporo[0].outcome == Outcome::Provided as i32
                && yokohama[0].outcome == Outcome::Provided as i32,
            "both sides should record a provision"
        );
        Ok(())
    }
}

fn print_record(r: &ExchangeRecord) {
    let keeper = if r.keeper == "hub" {
        "hub".to_owned()
    } else {
        name(&r.keeper).to_owned()
    };
    let counterparty = if r.keeper == "hub" {
        format!("{}→{}", name(&r.inquirer), name(&r.provider))
    } else {
        name(&r.counterparty).to_owned()
    };
    let person = if r.unified_address_number.is_empty() {
        "—".to_owned()
    } else {
        r.unified_address_number.clone()
    };
    let recorded = renkei_core::format_ms(r.recorded_at_ms);
    println!(
        "  {} {} {} {} {} {} {} {}",
        pad(recorded.get(..23).unwrap_or(&recorded), 23),
        pad(&keeper, 9),
        pad(direction_name(r.direction), 16),
        pad(&counterparty, 14),
        pad(&format!("{} #{}", r.procedure, r.item), 16),
        pad(outcome_name(r.outcome), 17),
        pad(&person, 14),
        r.sealed_answer_sha256.get(..16).unwrap_or("—"),
    );
}

/// Pads to a display width: `format!("{:<n}")` counts characters, and a kanji takes two
/// columns in a terminal, so tables with municipality names would not line up.
fn pad(text: &str, width: usize) -> String {
    let shown = unicode_width::UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(shown)))
}
