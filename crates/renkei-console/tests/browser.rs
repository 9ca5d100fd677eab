//! The console in a real browser: Debian's headless Chromium driven through chromedriver
//! (WebDriver, fantoccini), against a real hub and gateway on loopback, the console
//! talking to the gateway with the 横浜市 terminal certificate.
//!
//! Each flow of issue 15 is one test. Without /usr/bin/chromedriver every test prints SKIP
//! and passes, so `cargo test --workspace` runs anywhere; `scripts/test` installs the
//! browser first. With `RENKEI_CONSOLE_SCREENSHOTS=<dir>` the tests also save screenshots
//! of the main screens there (docs/console/ holds the committed ones).
// These tests run against real servers on today's wall clock, outside the Clock rule.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use renkei_console::{ConsoleOptions, Gateway};
use renkei_core::SystemClock;
use renkei_proto::v1::auto_response_block_client::AutoResponseBlockClient;
use renkei_proto::v1::inquiries_client::InquiriesClient;
use renkei_proto::v1::operators_client::OperatorsClient;
use renkei_proto::v1::provision_copies_client::ProvisionCopiesClient;
use renkei_proto::v1::reports_client::ReportsClient;
use renkei_proto::v1::symbols_client::SymbolsClient;
use renkei_proto::v1::{
    AcquireSymbolRequest, AddUserRequest, ChangePasswordRequest, GetInquiryRequest, Grant,
    InquiryState, ListFlagsRequest, ListUsersRequest, LoginRequest, OperatorRole, ProvisionCopy,
    PutCopyRequest, QueryRecordsRequest, RegisterAddressNumberRequest, SubmitInquiryRequest,
};
use renkei_testkit::{Cluster, ClusterOptions, population};
use serde_json::json;
use tonic::transport::Channel;

const YOKOHAMA: &str = "141003";
const SAPPORO: &str = "011002";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const ADMIN_PASSWORD: &str = "admin passphrase 123 correct horse";

/// One browser at a time: two cores do not run several Chromiums and a cluster well.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn certs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs-dev")
}

fn skip() -> bool {
    if Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists() {
        return false;
    }
    eprintln!(
        "SKIP: {CHROMEDRIVER} or {CHROMIUM} is missing; install them with \
         `apt-get install -y chromium chromium-driver` (scripts/test does) to run the browser tests"
    );
    true
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn authed<T>(token: &str, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

fn grant(role: OperatorRole, procedure: &str) -> Grant {
    Grant {
        role: role as i32,
        procedure: procedure.into(),
    }
}

/// A hub, a gateway, the console in front of it, and the administrator's gRPC session
/// (used to set things up and to read what the gateway says independently of the page).
struct World {
    cluster: Cluster,
    console: String,
    admin: String,
    terminal: Channel,
    dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        World::start_with(|_| {}).await
    }

    /// `hold_without_copy`: 横浜市 holds vaccination inquiries about a person without a
    /// copy for a manual answer (岡崎市's practice) instead of answering "no data".
    async fn start_holding(hold_without_copy: bool) -> World {
        World::start_with(|o| {
            if hold_without_copy {
                o.held.hold_without_copy = vec!["vaccination".into()];
            }
        })
        .await
    }

    /// A world whose cluster options `configure` changes first.
    async fn start_with(configure: impl FnOnce(&mut ClusterOptions)) -> World {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = ClusterOptions::new(certs(), dir.path());
        opts.held.answer_deadline_ms = 300;
        configure(&mut opts);
        let cluster = Cluster::start(opts).await.unwrap();
        let c = certs();
        let cert = c.join(format!("terminal-{YOKOHAMA}.pem"));
        let key = c.join(format!("terminal-{YOKOHAMA}.key.pem"));
        let endpoint = cluster.gateway_local_addr.to_string();
        let name = renkei_testkit::cluster::GATEWAY_SERVER_NAME;
        let gateway = Gateway::connect(&endpoint, name, &c.join("ca.pem"), &cert, &key).unwrap();
        let terminal = renkei_transport::channel(
            &endpoint,
            name,
            &cluster
                .credentials(&format!("terminal-{YOKOHAMA}"))
                .unwrap(),
            &renkei_transport::ClientOptions::default(),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let console_opts = ConsoleOptions {
            gateway,
            secure_cookies: false,
            clock: SystemClock::shared(),
        };
        tokio::spawn(async move {
            renkei_console::serve(listener, console_opts, std::future::pending())
                .await
                .unwrap();
        });

        let otp = cluster
            .gateway
            .bootstrap_admin(YOKOHAMA, "admin", "管理者")
            .await
            .unwrap();
        let mut ops = OperatorsClient::new(terminal.clone());
        let token = ops
            .login(LoginRequest {
                user: "admin".into(),
                password: otp.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .token;
        ops.change_password(authed(
            &token,
            ChangePasswordRequest {
                current_password: otp,
                new_password: ADMIN_PASSWORD.into(),
            },
        ))
        .await
        .unwrap();
        World {
            cluster,
            console: format!("http://{addr}"),
            admin: token,
            terminal,
            dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.console)
    }

    /// A new operator; returns the one-time password.
    async fn add_user(&self, user: &str, name: &str, grants: Vec<Grant>) -> String {
        OperatorsClient::new(self.terminal.clone())
            .add_user(authed(
                &self.admin,
                AddUserRequest {
                    user: user.into(),
                    display_name: name.into(),
                    grants,
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .one_time_password
    }

    /// Registers and acquires symbols for the two movers at both cities, with 横浜市's
    /// copy for the first; returns (横浜市, 札幌市) residents.
    async fn movers(&self) -> Vec<(population::Resident, population::Resident)> {
        let today = time::OffsetDateTime::now_utc().date();
        let movers = population::movers(today);
        for (y, s) in &movers {
            for (code, r) in [(YOKOHAMA, y), (SAPPORO, s)] {
                let ch = self.cluster.backoffice(code).unwrap();
                let mut sym = SymbolsClient::new(ch.clone());
                sym.register_address_number(RegisterAddressNumberRequest {
                    unified_address_number: r.unified_address_number.clone(),
                })
                .await
                .unwrap();
                sym.acquire_symbol(AcquireSymbolRequest {
                    unified_address_number: r.unified_address_number.clone(),
                    my_number: r.my_number.clone(),
                })
                .await
                .unwrap();
                if let Some(h) = &r.history {
                    ProvisionCopiesClient::new(ch)
                        .put_copy(PutCopyRequest {
                            copy: Some(ProvisionCopy {
                                unified_address_number: r.unified_address_number.clone(),
                                item: 25,
                                content: Some(population::content(h)),
                                ..Default::default()
                            }),
                        })
                        .await
                        .unwrap();
                }
            }
        }
        movers
    }

    /// 札幌市 asks 横浜市 about `sapporo_uan`; returns the inquiry id and its state.
    async fn inquire(&self, key: &str, sapporo_uan: &str) -> (String, i32) {
        let i = InquiriesClient::new(self.cluster.backoffice(SAPPORO).unwrap())
            .submit_inquiry(SubmitInquiryRequest {
                idempotency_key: key.into(),
                unified_address_number: sapporo_uan.into(),
                provider: YOKOHAMA.into(),
                procedure: "vaccination".into(),
                item: 25,
                case_reference: String::new(),
                disclose_after_ms: 0,
            })
            .await
            .unwrap()
            .into_inner();
        (i.inquiry_id, i.state)
    }
}

/// chromedriver on a free loopback port, and a headless Chromium session through it.
struct Browser {
    driver: Child,
    client: Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=ja",
                         "--no-first-run", "--disable-extensions"],
            }
        });
        let caps = caps.as_object().unwrap().clone();
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return Browser { driver, client },
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("chromedriver did not answer: {last:?}");
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("no {selector}: {e}"))
    }

    async fn text(&self, selector: &str) -> String {
        self.css(selector).await.text().await.unwrap()
    }

    async fn fill(&self, selector: &str, value: &str) {
        let e = self.css(selector).await;
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    async fn click(&self, selector: &str) {
        self.css(selector).await.click().await.unwrap();
    }

    /// Waits until the page's path is `path` (a submitted form has landed).
    async fn wait_path(&self, path: &str) {
        for _ in 0..100 {
            if self.path().await == path {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("still at {}, expected {path}", self.path().await);
    }

    /// Waits until `expr` (JavaScript) is true in the page: after a click that reloads
    /// the same path, the old page is still there for a moment.
    async fn wait_until(&self, expr: &str) {
        let script = format!("return !!({expr});");
        for _ in 0..100 {
            if let Ok(v) = self.client.execute(&script, vec![]).await
                && v.as_bool() == Some(true)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never true: {expr}");
    }

    async fn login(&self, w: &World, user: &str, password: &str) {
        self.goto(&w.url("/login")).await;
        self.fill("#user", user).await;
        self.fill("#password", password).await;
        self.click("form[action='/login'] button[type=submit]")
            .await;
    }

    /// First login: the one-time password, then the change the console demands.
    async fn first_login(&self, w: &World, user: &str, otp: &str) -> String {
        self.login(w, user, otp).await;
        self.wait_path("/password").await;
        let new = format!("{user} passphrase 456 correct horse");
        self.fill("#current", otp).await;
        self.fill("#new", &new).await;
        self.fill("#new2", &new).await;
        self.click("form[action='/password'] button[type=submit]")
            .await;
        self.wait_path("/").await;
        new
    }

    /// POSTs a form's fields from inside the page (same origin, the session cookie
    /// attached, as the form itself would), returning the status and the body's bytes.
    async fn post_form(&self, form_id: &str, tweak: &str) -> (u16, Vec<u8>) {
        let script = format!(
            "const done = arguments[arguments.length - 1];
             const f = document.getElementById({form_id:?});
             const data = new URLSearchParams(new FormData(f));
             {tweak}
             fetch(f.action, {{ method: 'POST', body: data, credentials: 'same-origin' }})
               .then(r => r.arrayBuffer().then(b => done([r.status, Array.from(new Uint8Array(b))])))
               .catch(e => done([0, String(e)]));"
        );
        let v = self.client.execute_async(&script, vec![]).await.unwrap();
        let status = v[0].as_u64().unwrap() as u16;
        let bytes = v[1]
            .as_array()
            .unwrap_or_else(|| panic!("fetch failed: {v}"))
            .iter()
            .map(|b| b.as_u64().unwrap() as u8)
            .collect();
        (status, bytes)
    }

    /// One key pressed and released, as a keyboard would (WebDriver actions).
    async fn press(&self, key: fantoccini::key::Key) {
        use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
        let k: char = key.into();
        let seq = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: k })
            .then(KeyAction::Up { value: k });
        self.client.perform_actions(seq).await.unwrap();
    }

    /// The id of the focused element.
    async fn focused(&self) -> String {
        let v = self
            .client
            .execute(
                "return document.activeElement ? document.activeElement.id : '';",
                vec![],
            )
            .await
            .unwrap();
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Presses Tab until the element with `id` has the focus (at most 80 times).
    async fn tab_to(&self, id: &str) {
        for _ in 0..80 {
            if self.focused().await == id {
                return;
            }
            self.press(fantoccini::key::Key::Tab).await;
        }
        panic!("Tab never reached #{id}");
    }

    /// axe-core's WCAG 2 A and AA rules on the current page: the violations, or `None`
    /// without RENKEI_AXE_JS. The script is injected through WebDriver, whose scripts
    /// the page's CSP does not govern (the page itself could not load it).
    async fn axe_violations(&self, screen: &str) -> Option<Vec<serde_json::Value>> {
        let Some(path) = std::env::var_os("RENKEI_AXE_JS") else {
            eprintln!("SKIP axe on {screen}: RENKEI_AXE_JS is unset (scripts/test sets it)");
            return None;
        };
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("reading RENKEI_AXE_JS {}: {e}", Path::new(&path).display())
        });
        self.client.execute(&source, vec![]).await.unwrap();
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 if (typeof window.axe !== 'object') { done({ error: 'axe-core did not load' }); return; }
                 axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                   .then(r => done({ passes: r.passes.length, violations: r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                       nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + n.failureSummary) })) }))
                   .catch(e => done({ error: String(e) }));",
                vec![],
            )
            .await
            .unwrap();
        assert!(result.get("error").is_none(), "axe on {screen}: {result}");
        // Rules that ran and passed: an empty result would otherwise prove nothing.
        assert!(
            result["passes"].as_u64().unwrap_or(0) > 5,
            "axe ran almost no rules on {screen}: {result}"
        );
        Some(result["violations"].as_array().cloned().unwrap_or_default())
    }

    /// Fails listing every WCAG 2 A/AA violation axe-core finds on the current page.
    async fn axe(&self, screen: &str) {
        if let Some(violations) = self.axe_violations(screen).await {
            assert!(
                violations.is_empty(),
                "axe found WCAG 2 A/AA violations on {screen}:\n{}",
                serde_json::to_string_pretty(&violations).unwrap()
            );
        }
    }

    async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("RENKEI_CONSOLE_SCREENSHOTS") else {
            return;
        };
        let png = self.client.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }

    async fn close(mut self) {
        let client = self.client.clone();
        client.close().await.unwrap();
        let _ = self.driver.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_approves_a_held_inquiry_only_after_the_three_confirmations() {
    if skip() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let w = World::start().await;
    let movers = w.movers().await;
    let (y, s) = &movers[0];
    AutoResponseBlockClient::new(w.cluster.backoffice(YOKOHAMA).unwrap())
        .set_flag(renkei_proto::v1::SetFlagRequest {
            unified_address_number: y.unified_address_number.clone(),
            item: 0,
            reason: renkei_proto::v1::FlagReason::SupportMeasure as i32,
            note: "支援措置".into(),
        })
        .await
        .unwrap();
    let (inquiry_id, state) = w.inquire("held-1", &s.unified_address_number).await;
    assert_eq!(state, InquiryState::Pending as i32);
    let otp = w
        .add_user(
            "tanaka",
            "田中",
            vec![
                grant(OperatorRole::Approver, "vaccination"),
                grant(OperatorRole::RecordsReviewer, ""),
            ],
        )
        .await;

    let b = Browser::start().await;
    b.first_login(&w, "tanaka", &otp).await;
    b.goto(&w.url("/held")).await;
    let list = b.text("#held").await;
    assert!(
        list.contains(SAPPORO) && list.contains("vaccination"),
        "{list}"
    );
    b.screenshot("held-list").await;
    b.click("#held a[href^='/held/']").await;
    let detail_path = b.path().await;
    assert!(detail_path.starts_with("/held/"), "{detail_path}");
    assert!(
        !b.text("#legal-basis").await.is_empty(),
        "the legal basis is shown"
    );

    // The button stays disabled until the third box is ticked.
    let approve = b.css("#approve").await;
    assert!(!approve.is_enabled().await.unwrap());
    b.click("#c-legal").await;
    b.click("#c-necessity").await;
    assert!(
        !approve.is_enabled().await.unwrap(),
        "two of three must not do"
    );
    // Even forced on by hand, the browser does not send the form without the third box.
    b.client
        .execute(
            "document.getElementById('approve').disabled = false;",
            vec![],
        )
        .await
        .unwrap();
    approve.click().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        b.path().await,
        detail_path,
        "the form was sent without all three"
    );
    // And the server refuses such a request when it is sent anyway.
    let (status, _) = b.post_form("approve-form", "").await;
    assert_eq!(status, 400, "two confirmations accepted by the server");

    b.click("#c-careful").await;
    assert!(approve.is_enabled().await.unwrap());
    b.fill("#approve-note", "札幌市に電話で確認 10:05").await;
    b.screenshot("held-detail").await;
    b.click("#approve").await;
    b.wait_path("/held").await;
    assert!(b.text("main").await.contains("承認しました"));

    // The inquiring city's inquiry is answered.
    let mut state = InquiryState::Pending as i32;
    for _ in 0..100 {
        state = InquiriesClient::new(w.cluster.backoffice(SAPPORO).unwrap())
            .get_inquiry(GetInquiryRequest {
                inquiry_id: inquiry_id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .state;
        if state != InquiryState::Pending as i32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, InquiryState::Answered as i32);

    // The audit log shows the decision, by this operator.
    b.goto(&w.url("/audit")).await;
    let rows = b
        .client
        .find_all(Locator::Css("#audit tbody tr"))
        .await
        .unwrap();
    let mut found = false;
    for r in rows {
        let t = r.text().await.unwrap();
        if t.contains("held.approve") && t.contains("tanaka") && t.contains("ok") {
            found = true;
        }
    }
    assert!(found, "no held.approve by tanaka in the audit log");

    // The period filter: days in Japan, both included, as `ops records --to` reads them.
    let set_period = |from: String, to: String| {
        let c = b.client.clone();
        async move {
            c.execute(
                "document.getElementById('a-from').value = arguments[0];
                 document.getElementById('a-to').value = arguments[1];
                 document.getElementById('a-action').value = 'held.approve';",
                vec![json!(from), json!(to)],
            )
            .await
            .unwrap();
        }
    };
    set_period(days_ago(0), days_ago(0)).await;
    b.click("form[action='/audit'] button[type=submit]").await;
    b.wait_until(
        "document.querySelector('#audit') && document.getElementById('a-from').value !== ''",
    )
    .await;
    assert!(
        b.text("#audit").await.contains("held.approve"),
        "today's decision is within today..today"
    );
    b.screenshot("audit").await;
    set_period(days_ago(7), days_ago(1)).await;
    b.click("form[action='/audit'] button[type=submit]").await;
    b.wait_until("!document.querySelector('#audit') && document.querySelector('p.empty')")
        .await;
    b.close().await;
    w.cluster.shutdown().await.unwrap();
    drop(w.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_records_reviewer_filters_the_records_and_downloads_them_as_csv_with_a_bom() {
    if skip() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let w = World::start().await;
    let movers = w.movers().await;
    for (i, (_, s)) in movers.iter().enumerate() {
        w.inquire(&format!("rec-{i}"), &s.unified_address_number)
            .await;
    }
    let otp = w
        .add_user(
            "sato",
            "佐藤",
            vec![grant(OperatorRole::RecordsReviewer, "")],
        )
        .await;
    let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap();
    let today = time::OffsetDateTime::now_utc().to_offset(jst).date();
    let day = |d: time::Date| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
    let (from, to) = (day(today.previous_day().unwrap()), day(today));

    let b = Browser::start().await;
    b.first_login(&w, "sato", &otp).await;
    b.goto(&w.url("/records")).await;
    b.client
        .execute(
            "document.getElementById('from').value = arguments[0];
             document.getElementById('to').value = arguments[1];",
            vec![json!(from), json!(to)],
        )
        .await
        .unwrap();
    b.fill("#procedure", "vaccination").await;
    b.fill("#counterparty", SAPPORO).await;
    b.click("#o-provided").await;
    b.click("#o-no_data").await;
    b.click("#records-filter button[type=submit]").await;
    let table = b.text("#records").await;
    assert!(table.contains("provision"), "{table}");
    b.screenshot("records").await;

    let (status, bytes) = b.post_form("csv-form", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        &bytes[..3],
        &[0xEF, 0xBB, 0xBF],
        "the CSV starts with a BOM"
    );
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();

    // The same filters, asked of the gateway directly.
    let api = ReportsClient::new(w.terminal.clone())
        .query_records(authed(
            &w.admin,
            QueryRecordsRequest {
                from: from.clone(),
                to: to.clone(),
                counterparty: SAPPORO.into(),
                procedure: "vaccination".into(),
                outcomes: vec!["provided".into(), "no_data".into()],
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert!(!api.is_empty(), "the exchanges left no records");
    assert_eq!(
        rows.len(),
        api.len(),
        "CSV rows and API records differ in number"
    );
    for (row, rec) in rows.iter().zip(&api) {
        assert_eq!(row[col("sequence")], rec.sequence.to_string());
        assert_eq!(row[col("permit_id")], rec.permit_id);
        assert_eq!(
            row[col("unified_address_number")],
            rec.unified_address_number
        );
        assert_eq!(
            row[col("outcome")],
            *renkei_records::outcome_name(rec.outcome)
        );
    }
    b.close().await;
    w.cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_lock_the_account_and_the_page_never_tells_who_exists() {
    if skip() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let w = World::start().await;
    let otp = w
        .add_user("yamada", "山田", vec![grant(OperatorRole::Inquirer, "")])
        .await;
    let b = Browser::start().await;
    let mut messages = Vec::new();
    for i in 0..5 {
        b.login(&w, "yamada", &format!("wrong password {i}")).await;
        messages.push(b.text("#login-error").await);
    }
    // The right password no longer opens it.
    b.login(&w, "yamada", &otp).await;
    let locked = b.text("#login-error").await;
    assert_eq!(b.path().await, "/login");
    b.screenshot("login-locked").await;
    // A user that does not exist reads exactly the same.
    b.login(&w, "nobody", "whatever password").await;
    let unknown = b.text("#login-error").await;
    for m in &messages {
        assert_eq!(
            m, &unknown,
            "a wrong password reads differently from an unknown user"
        );
    }
    assert_eq!(
        locked, unknown,
        "a locked account reads differently from an unknown user"
    );
    assert!(
        locked.contains("ロック"),
        "the page does not mention the lock: {locked}"
    );

    let users = OperatorsClient::new(w.terminal.clone())
        .list_users(authed(&w.admin, ListUsersRequest {}))
        .await
        .unwrap()
        .into_inner()
        .accounts;
    let yamada = users.iter().find(|a| a.user == "yamada").unwrap();
    assert!(yamada.locked, "the gateway did not lock the account");
    b.close().await;
    w.cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_csv_with_two_bad_rows_shows_both_errors_and_keeps_the_good_rows() {
    if skip() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let w = World::start().await;
    let otp = w
        .add_user("suzuki", "鈴木", vec![grant(OperatorRole::FlagManager, "")])
        .await;
    let csv_path = w.dir.path().join("flags.csv");
    std::fs::write(
        &csv_path,
        "unified_address_number,item,reason,note\n\
         1410031000001,0,support-measure,DV\n\
         14100310000A2,0,sensitive,bad number\n\
         1410031000003,25,master-error,\n\
         1410031000004,0,no-such-reason,bad reason\n\
         1410031000005,0,other,\n",
    )
    .unwrap();
    let b = Browser::start().await;
    b.first_login(&w, "suzuki", &otp).await;
    b.goto(&w.url("/flags")).await;
    b.css("#csv")
        .await
        .send_keys(csv_path.to_str().unwrap())
        .await
        .unwrap();
    b.click("form[action='/flags/import'] button[type=submit]")
        .await;
    assert_eq!(b.text("#accepted").await, "3");
    assert_eq!(b.text("#rejected").await, "2");
    let errors = b
        .client
        .find_all(Locator::Css("#import-errors tbody tr"))
        .await
        .unwrap();
    assert_eq!(errors.len(), 2);
    let first = errors[0].text().await.unwrap();
    let second = errors[1].text().await.unwrap();
    assert!(
        first.starts_with('3'),
        "the bad number is on line 3: {first}"
    );
    assert!(
        second.starts_with('5'),
        "the bad reason is on line 5: {second}"
    );
    let flags_table = b.text("#flags").await;
    for good in ["1410031000001", "1410031000003", "1410031000005"] {
        assert!(flags_table.contains(good), "{good} missing: {flags_table}");
    }
    b.screenshot("flags-import").await;

    let flags = AutoResponseBlockClient::new(w.terminal.clone())
        .list_flags(authed(&w.admin, ListFlagsRequest::default()))
        .await;
    // The administrator may lack the flag right; then the page's table is the evidence.
    if let Ok(f) = flags {
        assert_eq!(f.into_inner().flags.len(), 3);
    }
    b.close().await;
    w.cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_without_a_valid_csrf_token_is_refused() {
    if skip() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let w = World::start().await;
    let otp = w
        .add_user("kato", "加藤", vec![grant(OperatorRole::FlagManager, "")])
        .await;
    let b = Browser::start().await;
    b.first_login(&w, "kato", &otp).await;
    b.goto(&w.url("/flags")).await;
    b.fill("#set-uan", "1410031000009").await;

    // Without the token, and with a forged one: 403, nothing done.
    let (status, _) = b.post_form("set-flag", "data.delete('csrf');").await;
    assert_eq!(status, 403);
    let (status, _) = b
        .post_form("set-flag", "data.set('csrf', 'f'.repeat(64));")
        .await;
    assert_eq!(status, 403);
    // A real form with its token altered in the page is refused the same way.
    b.client
        .execute(
            "document.querySelector('#set-flag input[name=csrf]').value = 'forged';",
            vec![],
        )
        .await
        .unwrap();
    b.click("#set-flag button[type=submit]").await;
    b.wait_until("document.querySelector('div.notice.error')")
        .await;
    let page = b.text("main").await;
    assert!(page.contains("不正な送信"), "{page}");
    b.screenshot("csrf-refused").await;

    // The same form with its own token goes through.
    b.goto(&w.url("/flags")).await;
    b.fill("#set-uan", "1410031000009").await;
    let (status, body) = b.post_form("set-flag", "").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("1410031000009"));
    b.close().await;
    w.cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrators_screens_render_the_gateways_data_in_japanese_and_english() {
    if skip() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let w = World::start().await;
    let movers = w.movers().await;
    for (i, (_, s)) in movers.iter().enumerate() {
        w.inquire(&format!("adm-{i}"), &s.unified_address_number)
            .await;
    }
    // A batch job: the address system's daily flag load.
    let flags = vec![renkei_proto::v1::SetFlagRequest {
        unified_address_number: "1410031000001".into(),
        item: 0,
        reason: renkei_proto::v1::FlagReason::SupportMeasure as i32,
        note: String::new(),
    }];
    AutoResponseBlockClient::new(w.cluster.backoffice(YOKOHAMA).unwrap())
        .import_flags(tokio_stream::iter(flags))
        .await
        .unwrap();
    let otp = w
        .add_user(
            "kanri",
            "管理 花子",
            vec![grant(OperatorRole::Administrator, "")],
        )
        .await;
    let b = Browser::start().await;
    b.first_login(&w, "kanri", &otp).await;

    // 統計: both charts, and the totals the gateway counts.
    b.goto(&w.url("/stats")).await;
    b.css("#chart-day rect").await;
    b.css("#chart-procedure rect").await;
    assert!(b.text("#stats-procedure").await.contains("vaccination"));
    b.screenshot("stats").await;

    // バッチ: the job, and its live feed over server-sent events.
    b.goto(&w.url("/jobs")).await;
    let jobs = b.text("#jobs").await;
    assert!(
        jobs.contains("import-flags") && jobs.contains("succeeded"),
        "{jobs}"
    );
    let first_event = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/jobs/events').then(r => {
               const reader = r.body.getReader();
               return reader.read().then(c => { reader.cancel(); done(r.headers.get('content-type') + '\\n' + new TextDecoder().decode(c.value)); });
             }).catch(e => done(String(e)));",
            vec![],
        )
        .await
        .unwrap();
    let first_event = first_event.as_str().unwrap();
    assert!(
        first_event.starts_with("text/event-stream") && first_event.contains("event: jobs"),
        "{first_event}"
    );
    assert!(first_event.contains("import-flags") || first_event.contains("succeeded"));
    b.screenshot("jobs").await;

    // 職員管理: the accounts and their rights.
    b.goto(&w.url("/users")).await;
    let users = b.text("#users").await;
    assert!(
        users.contains("tanaka") || users.contains("kanri"),
        "{users}"
    );
    assert!(users.contains("管理者"), "{users}");
    b.screenshot("users").await;

    // メンテナンス: on with a message, then off again.
    b.goto(&w.url("/maintenance")).await;
    b.fill("#message", "OS更新のため 22:00 まで停止").await;
    b.click("#maintenance-toggle").await;
    b.wait_until("document.getElementById('maintenance-state').dataset.on === 'true'")
        .await;
    assert!(b.text("#maintenance-state").await.contains("22:00"));
    b.screenshot("maintenance").await;
    b.click("#maintenance-toggle").await;
    b.wait_until("document.getElementById('maintenance-state').dataset.on === 'false'")
        .await;

    // English, from the switch in the header, and back.
    b.goto(&w.url("/stats")).await;
    b.click("header form[action='/lang'] button").await;
    b.wait_until("document.documentElement.lang === 'en'").await;
    assert_eq!(
        b.path().await,
        "/stats",
        "the switch goes back to the same page"
    );
    assert_eq!(b.text("h1").await, "Statistics");
    let lang = b.css("html").await.attr("lang").await.unwrap();
    assert_eq!(lang.as_deref(), Some("en"));
    b.screenshot("stats-en").await;
    b.click("header form[action='/lang'] button").await;
    b.wait_until("document.documentElement.lang === 'ja'").await;
    assert_eq!(b.text("h1").await, "統計");
    b.close().await;
    w.cluster.shutdown().await.unwrap();
}

/// Polls 札幌市's view of an inquiry until it is no longer pending.
async fn settled(w: &World, inquiry_id: &str) -> renkei_proto::v1::Inquiry {
    let mut last = None;
    for _ in 0..100 {
        let i = InquiriesClient::new(w.cluster.backoffice(SAPPORO).unwrap())
            .get_inquiry(GetInquiryRequest {
                inquiry_id: inquiry_id.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        if i.state != InquiryState::Pending as i32 {
            return i;
        }
        last = Some(i);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("still pending: {last:?}");
}

fn days_ago(n: i64) -> String {
    let jst = time::UtcOffset::from_hms(9, 0, 0).unwrap();
    let d = time::OffsetDateTime::now_utc().to_offset(jst).date() - time::Duration::days(n);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_answers_an_inquiry_held_for_lack_of_a_copy_with_a_dose_typed_by_hand() {
    if skip() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let w = World::start_holding(true).await;
    let movers = w.movers().await;
    // The second mover has no copy at 横浜市: the inquiry is held for a manual answer.
    let (y, s) = &movers[1];
    assert!(y.history.is_none());
    let (inquiry_id, state) = w.inquire("manual-1", &s.unified_address_number).await;
    assert_eq!(state, InquiryState::Pending as i32);
    let otp = w
        .add_user(
            "ito",
            "伊藤",
            vec![grant(OperatorRole::Approver, "vaccination")],
        )
        .await;
    let b = Browser::start().await;
    b.first_login(&w, "ito", &otp).await;
    b.goto(&w.url("/held")).await;
    assert!(b.text("#held").await.contains("副本なし"));
    b.click("#held a[href^='/held/']").await;
    b.css("#manual").await;

    // Two bad rows: a dose number beyond MR's two doses, and a date in the future.
    b.click("#d0_vaccine option[value='MR']").await;
    b.fill("#d0_dose_number", "3").await;
    b.click("#d1_vaccine option[value='BCG']").await;
    b.fill("#d1_dose_number", "1").await;
    b.client
        .execute(
            "document.getElementById('d0_date').value = arguments[0];
             document.getElementById('d1_date').value = '2099-01-01';",
            vec![json!(days_ago(30))],
        )
        .await
        .unwrap();
    for c in ["#c-legal", "#c-necessity", "#c-careful"] {
        b.click(c).await;
    }
    b.click("#approve").await;
    let number_error = b.text("#d0_dose_number-error").await;
    let date_error = b.text("#d1_date-error").await;
    assert!(number_error.contains("1〜2"), "{number_error}");
    assert!(date_error.contains("未来"), "{date_error}");
    let invalid = b
        .css("#d0_dose_number")
        .await
        .attr("aria-invalid")
        .await
        .unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));
    // What was typed is still there, and the inquiry is still waiting.
    let kept = b.css("#d0_dose_number").await.prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("3"));
    b.screenshot("held-manual").await;
    let still = InquiriesClient::new(w.cluster.backoffice(SAPPORO).unwrap())
        .get_inquiry(GetInquiryRequest {
            inquiry_id: inquiry_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still.state, InquiryState::Pending as i32);

    // Corrected: one MR dose; the second row emptied.
    let given = days_ago(30);
    b.fill("#d0_dose_number", "1").await;
    b.fill("#d0_lot", "MR-0425").await;
    b.click("#d1_vaccine option[value='']").await;
    b.client
        .execute(
            "for (const id of ['d1_dose_number', 'd1_date']) document.getElementById(id).value = '';",
            vec![],
        )
        .await
        .unwrap();
    for c in ["#c-legal", "#c-necessity", "#c-careful"] {
        b.click(c).await;
    }
    b.fill("#approve-note", "台帳を確認して手入力").await;
    b.click("#approve").await;
    b.wait_path("/held").await;
    assert!(b.text("main").await.contains("承認しました"));

    let answered = settled(&w, &inquiry_id).await;
    assert_eq!(answered.state, InquiryState::Answered as i32);
    let Some(renkei_proto::v1::Content {
        body: Some(renkei_proto::v1::content::Body::Vaccination(h)),
    }) = answered.content
    else {
        panic!("the answer carries no vaccination history: {answered:?}");
    };
    assert_eq!(h.doses.len(), 1, "{h:?}");
    let d = &h.doses[0];
    assert_eq!(
        (
            d.vaccine_code.as_str(),
            d.dose_number,
            d.date.as_str(),
            d.lot.as_str()
        ),
        ("MR", 1, given.as_str(), "MR-0425")
    );
    b.close().await;
    w.cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_approval_can_be_done_with_tab_space_and_enter_only() {
    if skip() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let w = World::start().await;
    let movers = w.movers().await;
    let (y, s) = &movers[0];
    AutoResponseBlockClient::new(w.cluster.backoffice(YOKOHAMA).unwrap())
        .set_flag(renkei_proto::v1::SetFlagRequest {
            unified_address_number: y.unified_address_number.clone(),
            item: 0,
            reason: renkei_proto::v1::FlagReason::SupportMeasure as i32,
            note: String::new(),
        })
        .await
        .unwrap();
    let (inquiry_id, _) = w.inquire("kb-1", &s.unified_address_number).await;
    let otp = w
        .add_user(
            "kimura",
            "木村",
            vec![grant(OperatorRole::Approver, "vaccination")],
        )
        .await;
    let b = Browser::start().await;
    b.first_login(&w, "kimura", &otp).await;
    b.goto(&w.url("/held")).await;
    let href = b
        .css("#held a[href^='/held/']")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    b.goto(&w.url(&href)).await;
    use fantoccini::key::Key;
    for id in ["c-legal", "c-necessity", "c-careful"] {
        b.tab_to(id).await;
        b.press(Key::Space).await;
    }
    let ticked = b
        .client
        .execute(
            "return ['c-legal','c-necessity','c-careful'].every(i => document.getElementById(i).checked);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(ticked.as_bool(), Some(true), "Space did not tick the boxes");
    b.tab_to("approve").await;
    b.press(Key::Enter).await;
    b.wait_path("/held").await;
    assert_eq!(
        settled(&w, &inquiry_id).await.state,
        InquiryState::Answered as i32
    );
    b.close().await;
    w.cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_main_screen_passes_axe_cores_wcag_2_a_and_aa_rules() {
    if skip() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let w = World::start_holding(true).await;
    let movers = w.movers().await;
    AutoResponseBlockClient::new(w.cluster.backoffice(YOKOHAMA).unwrap())
        .set_flag(renkei_proto::v1::SetFlagRequest {
            unified_address_number: movers[0].0.unified_address_number.clone(),
            item: 0,
            reason: renkei_proto::v1::FlagReason::SupportMeasure as i32,
            note: String::new(),
        })
        .await
        .unwrap();
    for (i, (_, s)) in movers.iter().enumerate() {
        w.inquire(&format!("axe-{i}"), &s.unified_address_number)
            .await;
    }
    let otp = w
        .add_user(
            "kensa",
            "検査 一郎",
            vec![
                grant(OperatorRole::Administrator, ""),
                grant(OperatorRole::Approver, "vaccination"),
                grant(OperatorRole::RecordsReviewer, ""),
                grant(OperatorRole::FlagManager, ""),
            ],
        )
        .await;
    let b = Browser::start().await;
    b.goto(&w.url("/login")).await;
    b.axe("login").await;
    b.login(&w, "kensa", &otp).await;
    b.wait_path("/password").await;
    b.axe("password change").await;
    let new = "kensa passphrase 456 correct horse";
    b.fill("#current", &otp).await;
    b.fill("#new", new).await;
    b.fill("#new2", new).await;
    b.click("form[action='/password'] button[type=submit]")
        .await;
    b.wait_path("/").await;
    let b2 = b;
    // The check can fail: an input without a label is caught.
    b2.client
        .execute(
            "const i = document.createElement('input'); i.type = 'text';
             document.getElementById('main').appendChild(i);",
            vec![],
        )
        .await
        .unwrap();
    if let Some(v) = b2.axe_violations("home with an unlabelled input").await {
        assert!(
            v.iter().any(|v| v["id"] == "label"),
            "axe missed an unlabelled input: {v:?}"
        );
    }
    b2.goto(&w.url("/")).await;
    b2.axe("home").await;
    b2.goto(&w.url("/held")).await;
    b2.axe("held list").await;
    let links = b2
        .client
        .find_all(Locator::Css("#held a[href^='/held/']"))
        .await
        .unwrap();
    let mut hrefs = Vec::new();
    for l in links {
        hrefs.push(l.attr("href").await.unwrap().unwrap());
    }
    assert_eq!(hrefs.len(), 2, "one flagged, one without a copy");
    for h in &hrefs {
        b2.goto(&w.url(h)).await;
        b2.axe(&format!("held detail {h}")).await;
    }
    // The manual editor with its per-field errors shown.
    b2.goto(&w.url(&hrefs[1])).await;
    if b2.client.find(Locator::Css("#manual")).await.is_err() {
        b2.goto(&w.url(&hrefs[0])).await;
    }
    b2.click("#d0_vaccine option[value='MR']").await;
    b2.fill("#d0_dose_number", "7").await;
    for c in ["#c-legal", "#c-necessity", "#c-careful"] {
        b2.click(c).await;
    }
    b2.click("#approve").await;
    b2.css("#d0_dose_number-error").await;
    b2.axe("held detail with manual answer errors").await;
    b2.goto(&w.url("/flags")).await;
    b2.axe("flags").await;
    b2.goto(&w.url("/records")).await;
    b2.click("#records-filter button[type=submit]").await;
    b2.css("#records").await;
    b2.axe("records").await;
    for (path, screen) in [
        ("/stats", "stats"),
        ("/jobs", "jobs"),
        ("/maintenance", "maintenance"),
        ("/users", "users"),
        ("/audit", "audit"),
    ] {
        b2.goto(&w.url(path)).await;
        b2.axe(screen).await;
    }
    b2.close().await;
    w.cluster.shutdown().await.unwrap();
}

/// The gateway's audit entries of `operator`, read with the administrator's session.
async fn audit_of(w: &World, admin: &str, operator: &str) -> Vec<renkei_proto::v1::AuditEntry> {
    OperatorsClient::new(w.terminal.clone())
        .query_audit(authed(
            admin,
            renkei_proto::v1::QueryAuditRequest {
                operator: operator.into(),
                limit: 1000,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_logs_out_when_the_gateways_idle_timeout_has_passed() {
    if skip() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    // The gateway's idle timeout, which the console learns at login and follows.
    let w = World::start_with(|o| o.operators.idle_timeout_secs = 2).await;
    let otp = w
        .add_user(
            "mori",
            "森",
            vec![grant(OperatorRole::Approver, "vaccination")],
        )
        .await;
    let b = Browser::start().await;
    let password = b.first_login(&w, "mori", &otp).await;
    let grpc_login = || {
        let (c, password) = (w.terminal.clone(), password.clone());
        async move {
            OperatorsClient::new(c)
                .login(LoginRequest {
                    user: "mori".into(),
                    password,
                })
                .await
        }
    };
    // Activity within the timeout keeps the login, here and at the gateway: one session
    // per operator, so a second login is refused while the console's one lives.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        b.goto(&w.url("/held")).await;
        assert_eq!(b.path().await, "/held", "logged out while active");
        b.css("main h1").await;
    }
    let refused = grpc_login().await;
    let e = refused.expect_err("a second login while the console's session is live");
    assert!(e.message().contains("already logged in"), "{e:?}");

    tokio::time::sleep(Duration::from_millis(2600)).await;
    // The home page asks the gateway nothing: only the console's own idle check, on
    // the gateway's timeout, can send the operator to the login page here.
    b.goto(&w.url("/")).await;
    b.wait_path("/login").await;
    let main = b.text("main").await;
    assert!(main.contains("セッションが終了しました"), "{main}");
    b.goto(&w.url("/held")).await;
    assert_eq!(
        b.path().await,
        "/login",
        "the held list after the idle logout"
    );
    assert!(
        b.client
            .find_all(Locator::Css("#held"))
            .await
            .unwrap()
            .is_empty(),
        "the held list was shown"
    );
    // The gateway ended the sessions too: the administrator's, idle as long, is refused,
    // and mori may log in again (refused above while the console's session lived).
    let old = OperatorsClient::new(w.terminal.clone())
        .who_am_i(authed(&w.admin, renkei_proto::v1::WhoAmIRequest {}))
        .await
        .expect_err("an idle gateway session still works");
    assert_eq!(old.code(), tonic::Code::Unauthenticated, "{old:?}");
    let again = grpc_login()
        .await
        .expect("the old session still blocks a new login")
        .into_inner();
    OperatorsClient::new(w.terminal.clone())
        .who_am_i(authed(&again.token, renkei_proto::v1::WhoAmIRequest {}))
        .await
        .unwrap();
    b.close().await;
    w.cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_held_inquiries_and_records_in_the_console_is_audited_by_the_gateway() {
    if skip() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let w = World::start().await;
    let movers = w.movers().await;
    let (y, s) = &movers[0];
    AutoResponseBlockClient::new(w.cluster.backoffice(YOKOHAMA).unwrap())
        .set_flag(renkei_proto::v1::SetFlagRequest {
            unified_address_number: y.unified_address_number.clone(),
            item: 0,
            reason: renkei_proto::v1::FlagReason::SupportMeasure as i32,
            note: "支援措置".into(),
        })
        .await
        .unwrap();
    let (_, state) = w.inquire("audit-1", &s.unified_address_number).await;
    assert_eq!(state, InquiryState::Pending as i32);
    let otp = w
        .add_user(
            "kato",
            "加藤",
            vec![
                grant(OperatorRole::Approver, "vaccination"),
                grant(OperatorRole::RecordsReviewer, ""),
            ],
        )
        .await;
    let b = Browser::start().await;
    b.first_login(&w, "kato", &otp).await;
    const VIEWS: [&str; 3] = ["held.list", "held.show", "records.query"];
    // Logging in views nothing: none of these entries yet, so those found below come
    // from the pages opened next.
    let before = audit_of(&w, &w.admin, "kato").await;
    assert!(
        before.iter().any(|e| e.action == "login"),
        "the login itself is audited"
    );
    assert!(
        !before.iter().any(|e| VIEWS.contains(&e.action.as_str())),
        "{before:?}"
    );

    b.goto(&w.url("/held")).await;
    b.click("#held a[href^='/held/']").await;
    b.css("#legal-basis").await;
    let permit = b
        .path()
        .await
        .strip_prefix("/held/")
        .expect("a held detail page")
        .to_owned();
    b.goto(&w.url("/records")).await;
    b.fill("#procedure", "vaccination").await;
    // Marks this page so that the wait below sees the answer to the search, not it.
    b.client
        .execute("window.beforeSearch = true;", vec![])
        .await
        .unwrap();
    b.click("#records-filter button[type=submit]").await;
    b.wait_until(
        "!window.beforeSearch && (document.querySelector('#records') || document.querySelector('p.empty'))",
    )
    .await;

    let after = audit_of(&w, &w.admin, "kato").await;
    let ok = |action: &str| {
        after
            .iter()
            .filter(|e| e.action == action && e.outcome == "ok")
            .collect::<Vec<_>>()
    };
    assert!(!ok("held.list").is_empty(), "no held.list: {after:?}");
    let shows = ok("held.show");
    assert!(
        shows.iter().any(|e| e.target == y.unified_address_number
            && e.detail == permit
            && e.procedure == "vaccination"),
        "no held.show naming the person and the held inquiry {permit}: {shows:?}"
    );
    let queries = ok("records.query");
    assert!(
        queries.iter().any(|e| e.procedure == "vaccination"),
        "no records.query for the search: {queries:?}"
    );
    // The entries name the terminal the console used (its certificate).
    for e in after.iter().filter(|e| VIEWS.contains(&e.action.as_str())) {
        assert!(!e.terminal.is_empty(), "{e:?}");
    }
    b.close().await;
    w.cluster.shutdown().await.unwrap();
}
