//! `renkei ops` as an operator uses it: the real binary against a real hub and gateway on
//! loopback, from the 横浜市 terminal certificate.
#![allow(clippy::unwrap_used)]
// These tests run against real servers on today's wall clock, outside the Clock rule.
#![allow(clippy::disallowed_methods)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use renkei_cli::cluster::{Cluster, ClusterOptions};
use renkei_cli::population;
use renkei_proto::v1::inquiries_client::InquiriesClient;
use renkei_proto::v1::provision_copies_client::ProvisionCopiesClient;
use renkei_proto::v1::symbols_client::SymbolsClient;
use renkei_proto::v1::{
    AcquireSymbolRequest, GetInquiryRequest, InquiryState, ProvisionCopy, PutCopyRequest,
    RegisterAddressNumberRequest, SubmitInquiryRequest,
};

const YOKOHAMA: &str = "141003";
const SAPPORO: &str = "011002";

fn certs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs-dev")
}

struct Ops {
    gateway: String,
    session: PathBuf,
}

impl Ops {
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let c = certs();
        let mut child = Command::new(env!("CARGO_BIN_EXE_renkei"))
            .arg("ops")
            .args(args)
            .env("RENKEI_GATEWAY", &self.gateway)
            .env("RENKEI_CA", c.join("ca.pem"))
            .env(
                "RENKEI_TERMINAL_CERT",
                c.join(format!("terminal-{YOKOHAMA}.pem")),
            )
            .env(
                "RENKEI_TERMINAL_KEY",
                c.join(format!("terminal-{YOKOHAMA}.key.pem")),
            )
            .env("RENKEI_SESSION_FILE", &self.session)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "renkei ops {args:?} failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a, "")).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_approves_a_held_inquiry_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ClusterOptions::new(certs(), dir.path());
    opts.held.answer_deadline_ms = 300;
    let cluster = Cluster::start(opts).await.unwrap();
    let otp = cluster
        .gateway
        .bootstrap_admin(YOKOHAMA, "admin", "")
        .await
        .unwrap();
    let ops = Ops {
        gateway: cluster.gateway_local_addr.to_string(),
        session: dir.path().join("session"),
    };

    // First login with the one-time password, then the change it demands.
    let out = ops.ok(&["login", "--user", "admin"], &format!("{otp}\n"));
    assert!(out.contains("one-time password"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&ops.session)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the session file must be readable by its owner only"
        );
    }
    let refused = ops.run(&["users", "list"], "");
    assert!(!refused.status.success());
    ops.ok(&["passwd"], &format!("{otp}\nadmin passphrase 123\n"));
    let added = ops.json(&[
        "users",
        "add",
        "tanaka",
        "--role",
        "approver:vaccination",
        "--role",
        "flag-manager",
        "--role",
        "records-reviewer",
    ]);
    let tanaka_otp = added["one_time_password"].as_str().unwrap().to_owned();
    let table = ops.ok(&["users", "list"], "");
    assert!(
        table.contains("tanaka") && table.contains("approver:vaccination"),
        "{table}"
    );
    ops.ok(&["logout"], "");
    assert!(!ops.session.exists());

    ops.ok(&["login", "--user", "tanaka"], &format!("{tanaka_otp}\n"));
    ops.ok(
        &["passwd"],
        &format!("{tanaka_otp}\ntanaka passphrase 456\n"),
    );

    // A mover from 横浜市, flagged from the command line, asked about by 札幌市.
    let today = time::OffsetDateTime::now_utc().date();
    let (y, s) = population::movers(today).remove(0);
    for (code, r) in [(YOKOHAMA, &y), (SAPPORO, &s)] {
        let ch = cluster.backoffice(code).unwrap();
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
    let flagged = ops.ok(
        &[
            "flags",
            "set",
            &y.unified_address_number,
            "--reason",
            "support-measure",
        ],
        "",
    );
    assert!(flagged.contains("support-measure"), "{flagged}");
    let mut inquiries = InquiriesClient::new(cluster.backoffice(SAPPORO).unwrap());
    let inquiry = inquiries
        .submit_inquiry(SubmitInquiryRequest {
            idempotency_key: "cli".into(),
            unified_address_number: s.unified_address_number.clone(),
            provider: YOKOHAMA.into(),
            procedure: "vaccination".into(),
            item: 25,
            case_reference: String::new(),
            disclose_after_ms: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inquiry.state, InquiryState::Pending as i32);

    let held = ops.json(&["held", "list"]);
    let held = held.as_array().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["inquirer"], SAPPORO);
    let permit = held[0]["permit_id"].as_str().unwrap().to_owned();
    let table = ops.ok(&["held", "list"], "");
    assert!(
        table.contains(&permit) && table.contains("札幌市"),
        "{table}"
    );
    // Without the three confirmations the approval is refused.
    let refused = ops.run(&["held", "approve", &permit], "");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("confirmations"));
    ops.ok(
        &[
            "held",
            "approve",
            &permit,
            "--legal-basis",
            "--necessity",
            "--careful-handling",
            "--note",
            "called 札幌市 at 10:05",
        ],
        "",
    );
    let mut state = InquiryState::Pending as i32;
    for _ in 0..100 {
        state = inquiries
            .get_inquiry(GetInquiryRequest {
                inquiry_id: inquiry.inquiry_id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .state;
        if state != InquiryState::Pending as i32 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state, InquiryState::Answered as i32);

    let audit = ops.json(&["audit", "--action", "held."]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"held.approve") && actions.contains(&"held.list"),
        "{actions:?}"
    );
    ops.ok(&["logout"], "");
    let after = ops.run(&["held", "list"], "");
    assert!(!after.status.success());
    assert!(String::from_utf8_lossy(&after.stderr).contains("log in first"));
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_users_and_refusals_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ClusterOptions::new(certs(), dir.path());
    opts.held.answer_deadline_ms = 300;
    let cluster = Cluster::start(opts).await.unwrap();
    let otp = cluster
        .gateway
        .bootstrap_admin(YOKOHAMA, "admin", "")
        .await
        .unwrap();
    let ops = Ops {
        gateway: cluster.gateway_local_addr.to_string(),
        session: dir.path().join("session"),
    };
    ops.ok(&["login", "--user", "admin"], &format!("{otp}\n"));
    ops.ok(&["passwd"], &format!("{otp}\nadmin passphrase 123\n"));
    let added = ops.json(&[
        "users",
        "add",
        "suzuki",
        "--role",
        "approver:vaccination",
        "--role",
        "flag-manager",
    ]);
    let otp2 = added["one_time_password"].as_str().unwrap().to_owned();
    // A role that does not exist is refused before anything is sent.
    let bad = ops.run(&["users", "add", "x", "--role", "approver"], "");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("approver:<procedure>"));
    // Reset and disable.
    let reset = ops.json(&["users", "reset-password", "suzuki"]);
    let otp3 = reset["one_time_password"].as_str().unwrap().to_owned();
    assert_ne!(otp2, otp3);
    ops.ok(&["logout"], "");
    let stale = ops.run(&["login", "--user", "suzuki"], &format!("{otp2}\n"));
    assert!(
        !stale.status.success(),
        "the replaced one-time password still works"
    );
    ops.ok(&["login", "--user", "suzuki"], &format!("{otp3}\n"));
    ops.ok(&["passwd"], &format!("{otp3}\nsuzuki passphrase 789\n"));

    // Import the daily list: one bad line is reported with its line number.
    let csv = dir.path().join("protected.csv");
    std::fs::write(
        &csv,
        "unified_address_number,item,reason,note\n\
         1410031000001,0,support-measure,DV\n\
         14100310000X1,0,support-measure,\n\
         1410031000002,25,sensitive,\n",
    )
    .unwrap();
    let imported = ops.ok(&["flags", "import", csv.to_str().unwrap()], "");
    assert!(imported.contains("2 accepted, 1 rejected"), "{imported}");
    let summary = ops.json(&["flags", "import", csv.to_str().unwrap()]);
    assert_eq!(summary["errors"][0]["record"], 2);
    assert_eq!(summary["errors"][0]["field"], "unified_address_number");
    let listed = ops.json(&["flags", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    // Both loads are batch jobs of 横浜市, with their counts and who ran them.
    let jobs = ops.json(&["jobs", "--kind", "import-flags"]);
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    for j in jobs {
        assert_eq!(j["state"], "succeeded");
        assert_eq!(
            (j["processed"].as_u64(), j["rejected"].as_u64()),
            (Some(3), Some(1))
        );
        assert_eq!(j["started_by"], "operator:suzuki");
    }
    let id = jobs[0]["job_id"].as_str().unwrap();
    let shown = ops.ok(&["jobs", "show", id], "");
    assert!(
        shown.contains("import-flags") && shown.contains("succeeded"),
        "{shown}"
    );
    let bad = ops.run(&["jobs", "--state", "done"], "");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("succeeded"));
    let one = ops.ok(&["flags", "list", "1410031000002"], "");
    assert!(
        one.contains("sensitive") && !one.contains("1410031000001"),
        "{one}"
    );
    let cleared = ops.ok(&["flags", "clear", "1410031000002", "--item", "25"], "");
    assert!(cleared.contains("cleared"), "{cleared}");
    assert_eq!(ops.json(&["flags", "list"]).as_array().unwrap().len(), 1);

    // A held inquiry, shown and refused.
    let today = time::OffsetDateTime::now_utc().date();
    let (y, s) = population::movers(today).remove(0);
    for (code, r) in [(YOKOHAMA, &y), (SAPPORO, &s)] {
        let mut sym = SymbolsClient::new(cluster.backoffice(code).unwrap());
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
    }
    ops.ok(
        &[
            "flags",
            "set",
            &y.unified_address_number,
            "--reason",
            "other",
            "--note",
            "確認中",
        ],
        "",
    );
    let mut inquiries = InquiriesClient::new(cluster.backoffice(SAPPORO).unwrap());
    let inquiry = inquiries
        .submit_inquiry(SubmitInquiryRequest {
            idempotency_key: "cli-2".into(),
            unified_address_number: s.unified_address_number.clone(),
            provider: YOKOHAMA.into(),
            procedure: "vaccination".into(),
            item: 25,
            case_reference: String::new(),
            disclose_after_ms: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let permit = ops.json(&["held", "list"])[0]["permit_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = ops.json(&["held", "show", &permit]);
    assert_eq!(shown["inquiry_id"], inquiry.inquiry_id.as_str());
    assert_eq!(shown["state"], "waiting");
    assert!(shown["legal_basis"].as_str().unwrap().contains("番号法"));
    let refused = ops.json(&["held", "refuse", &permit]);
    assert_eq!(refused["state"], "refused");
    assert_eq!(refused["decided_by"], "suzuki");
    assert_eq!(
        ops.json(&["held", "list", "--state", "refused"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let mut state = InquiryState::Pending as i32;
    for _ in 0..100 {
        state = inquiries
            .get_inquiry(GetInquiryRequest {
                inquiry_id: inquiry.inquiry_id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .state;
        if state != InquiryState::Pending as i32 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state, InquiryState::NotProvided as i32);
    // suzuki may not read the audit log; the administrator disables suzuki.
    assert!(!ops.run(&["audit"], "").status.success());
    ops.ok(&["logout"], "");
    ops.ok(&["login", "--user", "admin"], "admin passphrase 123\n");
    let disabled = ops.ok(&["users", "disable", "suzuki"], "");
    assert!(disabled.contains("disabled"), "{disabled}");
    let audit = ops.ok(&["audit", "--operator", "suzuki"], "");
    for action in [
        "flag.import",
        "flag.clear",
        "held.show",
        "held.refuse",
        "audit.query",
    ] {
        assert!(audit.contains(action), "{action} missing from\n{audit}");
    }
    // Maintenance from the command line (an administrator).
    let on = ops.json(&["maintenance", "on", "--message", "patching until 22:00"]);
    assert_eq!(on["on"], true);
    let status = ops.ok(&["maintenance", "status"], "");
    assert!(status.contains("patching until 22:00"), "{status}");
    let refused = SymbolsClient::new(cluster.backoffice(YOKOHAMA).unwrap())
        .register_address_number(RegisterAddressNumberRequest {
            unified_address_number: "1410031000009".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert!(
        !ops.run(&["maintenance", "on"], "").status.success(),
        "--message is required"
    );
    let off = ops.json(&["maintenance", "off"]);
    assert_eq!(off["on"], false);
    cluster.shutdown().await.unwrap();
}

/// Registers a resident at `code`, acquires the symbol and registers the copy, if any.
async fn enrol(cluster: &Cluster, code: &str, r: &population::Resident) {
    let ch = cluster.backoffice(code).unwrap();
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

fn read_csv(path: &Path) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    (header, r.records().map(Result::unwrap).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_export_and_statistics_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(ClusterOptions::new(certs(), dir.path()))
        .await
        .unwrap();
    let otp = cluster
        .gateway
        .bootstrap_admin(YOKOHAMA, "admin", "")
        .await
        .unwrap();
    let ops = Ops {
        gateway: cluster.gateway_local_addr.to_string(),
        session: dir.path().join("session"),
    };
    ops.ok(&["login", "--user", "admin"], &format!("{otp}\n"));
    ops.ok(&["passwd"], &format!("{otp}\nadmin passphrase 123\n"));

    // 札幌市 asks 横浜市 about both movers (one has a copy, one not); 横浜市 asks 札幌市 once.
    let today = time::OffsetDateTime::now_utc().date();
    let movers = population::movers(today);
    for (y, s) in &movers {
        enrol(&cluster, YOKOHAMA, y).await;
        enrol(&cluster, SAPPORO, s).await;
    }
    let mut states = Vec::new();
    for (from, key, uan, to) in [
        (SAPPORO, "x0", &movers[0].1.unified_address_number, YOKOHAMA),
        (SAPPORO, "x1", &movers[1].1.unified_address_number, YOKOHAMA),
        (YOKOHAMA, "x2", &movers[0].0.unified_address_number, SAPPORO),
    ] {
        let i = InquiriesClient::new(cluster.backoffice(from).unwrap())
            .submit_inquiry(SubmitInquiryRequest {
                idempotency_key: key.into(),
                unified_address_number: uan.clone(),
                provider: to.into(),
                procedure: "vaccination".into(),
                item: 25,
                case_reference: String::new(),
                disclose_after_ms: 0,
            })
            .await
            .unwrap()
            .into_inner();
        states.push(i.state);
    }
    assert_eq!(
        states,
        [
            InquiryState::Answered as i32,
            InquiryState::NoData as i32,
            InquiryState::NoData as i32
        ]
    );

    // Export everything, one record per call: three records, no My Number, no payload.
    let all = dir.path().join("all.csv");
    let out = ops.ok(
        &[
            "records",
            "--page-size",
            "1",
            "--csv",
            all.to_str().unwrap(),
        ],
        "",
    );
    assert!(out.contains("exported 3 records"), "{out}");
    let (header, rows) = read_csv(&all);
    assert_eq!(header[0], "sequence");
    assert!(header.contains(&"unified_address_number".to_owned()));
    assert_eq!(rows.len(), 3);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let outcomes: Vec<&str> = rows.iter().map(|r| &r[col("outcome")]).collect();
    assert_eq!(outcomes, ["provided", "no_data", "no_data"]);
    let directions: Vec<&str> = rows.iter().map(|r| &r[col("direction")]).collect();
    assert_eq!(directions, ["provision", "provision", "inquiry"]);
    assert!(rows.iter().all(|r| &r[col("counterparty")] == SAPPORO));
    let bytes = std::fs::read(&all).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    for (y, _) in &movers {
        assert!(!text.contains(&y.my_number), "a My Number in the export");
        for d in &y
            .history
            .as_ref()
            .map(|h| h.doses.clone())
            .unwrap_or_default()
        {
            for secret in [&d.lot, &d.institution_code] {
                assert!(
                    secret.is_empty() || !text.contains(secret.as_str()),
                    "payload ({secret}) in the export"
                );
            }
        }
    }
    assert!(!dir.path().join("all.csv.partial").exists());

    // Filters are honoured in the export.
    let narrow = dir.path().join("narrow.csv");
    ops.ok(
        &[
            "records",
            "--outcome",
            "no_data",
            "--direction",
            "provision",
            "--from",
            &today.previous_day().unwrap().to_string(),
            "--csv",
            narrow.to_str().unwrap(),
        ],
        "",
    );
    let (_, rows) = read_csv(&narrow);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        &rows[0][col("unified_address_number")],
        movers[1].0.unified_address_number.as_str()
    );
    let table = ops.ok(
        &["records", "--person", &movers[0].0.unified_address_number],
        "",
    );
    assert!(
        table.contains("provided") && table.contains("inquiry"),
        "{table}"
    );
    assert_eq!(
        ops.json(&["records", "--counterparty", SAPPORO])
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // A bad filter: the gateway names the field; no file is left behind.
    let bad_file = dir.path().join("bad.csv");
    let bad = ops.run(
        &[
            "records",
            "--outcome",
            "answered",
            "--csv",
            bad_file.to_str().unwrap(),
        ],
        "",
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("outcomes[0]") && err.contains("InvalidArgument"),
        "{err}"
    );
    assert!(!bad_file.exists() && !dir.path().join("bad.csv.partial").exists());

    // Statistics: two answers given (one with data, one "no data"), one inquiry made.
    // Days are Japan days.
    let today = time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(9, 0, 0).unwrap())
        .date();
    // From the day before, so exchanges around midnight in Japan are all counted.
    let since = today.previous_day().unwrap().to_string();
    let stats = ops.json(&["stats", "--from", &since, "--by", "procedure"]);
    assert_eq!(stats["total"]["provisions"], 2, "{stats}");
    assert_eq!(stats["total"]["inquiries"], 1, "{stats}");
    assert_eq!(stats["total"]["holds"], 0, "{stats}");
    assert_eq!(stats["rows"][0]["procedure"], "vaccination", "{stats}");
    let table = ops.ok(&["stats", "--by", "day"], "");
    assert!(
        table.contains(&today.to_string()) && table.contains("TOTAL"),
        "{table}"
    );
    let bad = ops.run(&["stats", "--from", "2026-02-30"], "");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("from"));
    cluster.shutdown().await.unwrap();
}
