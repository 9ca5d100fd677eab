//! The vaccination adapter against real servers on loopback with mTLS: generate → CSV →
//! symbols → gateway copies → export → reconcile; incremental and interrupted syncs;
//! transfer-in between two cities, including a wrong previous-city code.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use renkei_e2e::ops::approver;
use renkei_e2e::{OKAZAKI, SAPPORO, TestCluster, YOKOHAMA, all_bytes_under};
use renkei_proto::v1::{
    Confirmations, DecideRequest, Decision, DeleteCopyRequest, Dose, HeldState, InquiryState,
    ListHeldRequest, ProvisionCopy, PutCopyRequest,
};
use renkei_vaccination::client::NoProgress;
use renkei_vaccination::generate::{GenOptions, GenSinks, GenSummary, generate, my_number_of};
use renkei_vaccination::ledger::{ReadOptions, read_ledger};
use renkei_vaccination::model::content_of;
use renkei_vaccination::reconcile::reconcile;
use renkei_vaccination::symbols::{acquire_all, parse_address_export, read_address_export};
use renkei_vaccination::sync::{DeletionGuard, SyncOptions, sync, sync_ledger};
use renkei_vaccination::transfer::{TransferOptions, TransferOutcome, ask_previous_city, merge};
use renkei_vaccination::{LocalMaster, TextEncoding, VaccinationError};

const SEED: u64 = 5;

fn gen_files(dir: &Path, city: &str, residents: u64) -> GenSummary {
    let create = |n: &str| std::io::BufWriter::new(std::fs::File::create(dir.join(n)).unwrap());
    let opts = GenOptions {
        seed: SEED,
        residents,
        city: city.into(),
        today: renkei_vaccination::ledger::today_jst(),
        anomalies: true,
    };
    let mut sinks = GenSinks::new(
        create("vaccinations.csv"),
        create("residents.csv"),
        create("address-export.csv"),
    )
    .unwrap();
    let s = generate(&opts, &mut sinks, |_| {}).unwrap();
    sinks.finish().unwrap();
    s
}

fn read(dir: &Path) -> LocalMaster {
    let r = read_ledger(&dir.join("vaccinations.csv"), &ReadOptions::default()).unwrap();
    r.master
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_sync_export_reconcile_round_trip() {
    let tc = TestCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let summary = gen_files(dir.path(), YOKOHAMA, 6000);

    // The seeded bad rows are reported and left out; everything else is in the master.
    let report = read_ledger(
        &dir.path().join("vaccinations.csv"),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(report.errors.len() as u64, summary.bad_rows);
    assert!(summary.bad_rows > 0);
    let mut master = report.master;
    assert_eq!(master.persons.len() as u64, summary.persons_with_records);

    // Symbols for the whole population, from the address system's export.
    let (entries, errors) =
        read_address_export(&dir.path().join("address-export.csv"), TextEncoding::Auto).unwrap();
    assert!(errors.is_empty());
    assert_eq!(entries.len(), 6000);
    let symbols = acquire_all(tc.backoffice(YOKOHAMA), entries, 700, &NoProgress)
        .await
        .unwrap();
    assert_eq!(symbols.acquired, 6000, "{:?}", symbols.failed.first());

    // Full load.
    let state = dir.path().join("sync.state");
    let opts = SyncOptions {
        chunk: 500,
        ..SyncOptions::new(&state)
    };
    let r = sync(tc.backoffice(YOKOHAMA), &master, &opts, &NoProgress)
        .await
        .unwrap();
    assert!(r.refused.is_empty(), "{:?}", r.refused);
    assert_eq!(r.sent, master.persons.len() as u64);
    assert_eq!(r.accepted, r.sent);

    // Export and reconcile: no differences.
    let rec = reconcile(tc.backoffice(YOKOHAMA), &master, &NoProgress)
        .await
        .unwrap();
    assert!(
        rec.is_clean(),
        "missing {:?} extra {:?} different {:?}",
        rec.missing.len(),
        rec.extra.len(),
        rec.different.first()
    );
    assert_eq!(rec.matched, master.persons.len() as u64);

    // Nothing the adapter wrote holds a My Number.
    let my_numbers: HashSet<Vec<u8>> = (1..=6000)
        .map(|i| my_number_of(SEED, i).into_bytes())
        .collect();
    assert!(!holds_any(&std::fs::read(&state).unwrap(), &my_numbers));

    // A re-run with nothing changed sends nothing.
    let again = sync(tc.backoffice(YOKOHAMA), &master, &opts, &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        (again.sent, again.unchanged),
        (0, master.persons.len() as u64)
    );

    // 1% of persons change: exactly those are sent, and the copies match again.
    let changed: Vec<String> = master.persons.keys().step_by(100).cloned().collect();
    for uan in &changed {
        let p = master.persons.get_mut(uan).unwrap();
        p.doses.push(Dose {
            vaccine_code: "COVID".into(),
            dose_number: 7,
            date: "2024-10-15".into(),
            lot: "CV001A".into(),
            ..Default::default()
        });
    }
    let rec = reconcile(tc.backoffice(YOKOHAMA), &master, &NoProgress)
        .await
        .unwrap();
    assert_eq!(rec.different.len(), changed.len());
    assert!(
        rec.different
            .iter()
            .all(|d| d.only_local.len() == 1 && d.only_gateway.is_empty())
    );
    let inc = sync(tc.backoffice(YOKOHAMA), &master, &opts, &NoProgress)
        .await
        .unwrap();
    assert_eq!(inc.sent, changed.len() as u64);
    assert!(
        reconcile(tc.backoffice(YOKOHAMA), &master, &NoProgress)
            .await
            .unwrap()
            .is_clean()
    );

    // Reconciliation finds a copy lost at the gateway and one the master does not know.
    let lost = master.persons.keys().next().unwrap().clone();
    tc.copies(YOKOHAMA)
        .delete_copy(DeleteCopyRequest {
            unified_address_number: lost.clone(),
            item: 25,
        })
        .await
        .unwrap();
    let stranger = "99999999";
    tc.symbols(YOKOHAMA)
        .register_address_number(renkei_proto::v1::RegisterAddressNumberRequest {
            unified_address_number: stranger.into(),
        })
        .await
        .unwrap();
    tc.copies(YOKOHAMA)
        .put_copy(PutCopyRequest {
            copy: Some(ProvisionCopy {
                unified_address_number: stranger.into(),
                item: 25,
                content: Some(content_of(Default::default())),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let rec = reconcile(tc.backoffice(YOKOHAMA), &master, &NoProgress)
        .await
        .unwrap();
    assert_eq!(rec.missing, vec![lost.clone()]);
    assert_eq!(rec.extra, vec![stranger.to_owned()]);
    assert!(rec.different.is_empty());

    // A person removed from the master has their copy deleted on the next sync.
    let removed = master.persons.keys().nth(5).unwrap().clone();
    master.persons.remove(&removed);
    let s = sync(tc.backoffice(YOKOHAMA), &master, &opts, &NoProgress)
        .await
        .unwrap();
    assert_eq!(s.deleted, 1);
    let rec = reconcile(tc.backoffice(YOKOHAMA), &master, &NoProgress)
        .await
        .unwrap();
    // The lost copy is still missing (the state says it was sent): a full sync repairs it.
    assert_eq!(rec.missing, vec![lost]);
    let full = SyncOptions {
        full: true,
        ..opts.clone()
    };
    sync(tc.backoffice(YOKOHAMA), &master, &full, &NoProgress)
        .await
        .unwrap();
    let rec = reconcile(tc.backoffice(YOKOHAMA), &master, &NoProgress)
        .await
        .unwrap();
    assert!(rec.missing.is_empty() && rec.different.is_empty());
    assert_eq!(rec.extra, vec![stranger.to_owned()]);

    // No My Number reached the gateway's or the hub's storage either.
    let dir_data = tc.stop().await;
    for (p, b) in all_bytes_under(dir_data.path()) {
        assert!(
            !holds_any(&b, &my_numbers),
            "a My Number in {}",
            p.display()
        );
    }
}

/// Whether any 12-byte window of `haystack` is one of the My Numbers.
fn holds_any(haystack: &[u8], my_numbers: &HashSet<Vec<u8>>) -> bool {
    haystack.windows(12).any(|w| my_numbers.contains(w))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_sync_resumes_without_resending() {
    let tc = TestCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    gen_files(dir.path(), YOKOHAMA, 1500);
    let master = read(dir.path());
    let total = master.persons.len() as u64;
    assert!(total > 400);
    let state = dir.path().join("sync.state");
    let interrupted = SyncOptions {
        chunk: 100,
        max_chunks: Some(3),
        ..SyncOptions::new(&state)
    };
    let first = sync(tc.backoffice(YOKOHAMA), &master, &interrupted, &NoProgress)
        .await
        .unwrap();
    assert!(!first.complete);
    assert_eq!(first.sent, 300);
    // A torn line, as a crash mid-append would leave.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&state)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"14100000000"))
        .unwrap();
    let resumed = SyncOptions {
        chunk: 100,
        ..SyncOptions::new(&state)
    };
    let second = sync(tc.backoffice(YOKOHAMA), &master, &resumed, &NoProgress)
        .await
        .unwrap();
    assert!(second.complete);
    assert_eq!(second.unchanged, 300);
    assert_eq!(second.sent, total - 300);
    assert!(
        reconcile(tc.backoffice(YOKOHAMA), &master, &NoProgress)
            .await
            .unwrap()
            .is_clean()
    );
}

/// The streamed sync (`sync_ledger`: persons sent while the file is read) gives the same
/// copies as reading the file whole, also for a file whose rows of a person are not
/// contiguous, and resumes, re-runs and deletes like `sync`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_sync_matches_the_file_also_when_rows_are_not_grouped() {
    let tc = TestCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let summary = gen_files(dir.path(), YOKOHAMA, 1500);
    let path = dir.path().join("vaccinations.csv");
    // Move every 7th data row to the end of the file: those persons' rows are split.
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let (mut kept, mut moved) = (Vec::new(), Vec::new());
    for (i, l) in lines.enumerate() {
        if i % 7 == 3 {
            moved.push(l)
        } else {
            kept.push(l)
        }
    }
    let shuffled = std::iter::once(header)
        .chain(kept)
        .chain(moved)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(&path, shuffled).unwrap();
    let whole = read_ledger(&path, &ReadOptions::default()).unwrap();
    let master = whole.master;
    let total = master.persons.len() as u64;
    assert_eq!(total, summary.persons_with_records);

    let state = dir.path().join("sync.state");
    let interrupted = SyncOptions {
        chunk: 100,
        max_chunks: Some(2),
        ..SyncOptions::new(&state)
    };
    let (first, _) = sync_ledger(
        tc.backoffice(YOKOHAMA),
        &path,
        &ReadOptions::default(),
        &interrupted,
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(!first.complete);
    assert_eq!(first.sent, 200);
    // Stopped one chunk before the end: the reader has queued the last chunk and finished,
    // but the run is still incomplete, and the last chunk is sent by the next run.
    let left = (total - 200).div_ceil(100) as usize;
    let (second, _) = sync_ledger(
        tc.backoffice(YOKOHAMA),
        &path,
        &ReadOptions::default(),
        &SyncOptions {
            chunk: 100,
            max_chunks: Some(left - 1),
            ..SyncOptions::new(&state)
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(!second.complete);

    let opts = SyncOptions {
        chunk: 100,
        ..SyncOptions::new(&state)
    };
    let (r, stream) = sync_ledger(
        tc.backoffice(YOKOHAMA),
        &path,
        &ReadOptions::default(),
        &opts,
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(r.complete);
    assert!(r.refused.is_empty(), "{:?}", r.refused.first());
    assert!(
        !stream.split.is_empty(),
        "the shuffle should split some persons"
    );
    // The same bad rows as a whole read, each reported once.
    assert_eq!(stream.errors.len(), whole.errors.len());
    assert_eq!(r.persons, total);
    let rec = reconcile(tc.backoffice(YOKOHAMA), &master, &NoProgress)
        .await
        .unwrap();
    assert!(
        rec.is_clean(),
        "missing {} extra {} different {:?}",
        rec.missing.len(),
        rec.extra.len(),
        rec.different.first()
    );

    // A re-run sends nothing but the split persons: their first run of rows as read (it
    // differs from the whole), then the whole from the second pass.
    let (again, stream) = sync_ledger(
        tc.backoffice(YOKOHAMA),
        &path,
        &ReadOptions::default(),
        &opts,
        &NoProgress,
    )
    .await
    .unwrap();
    let split = stream.split.len() as u64;
    assert_eq!(again.sent, 2 * split);
    assert_eq!(again.unchanged, total - split);

    // One person dropped from the file: their copy is deleted, the state forgets them.
    let gone = master.persons.keys().nth(3).unwrap().clone();
    let text = std::fs::read_to_string(&path).unwrap();
    let without: Vec<&str> = text
        .lines()
        .filter(|l| l.split(',').nth(1) != Some(gone.as_str()))
        .collect();
    std::fs::write(&path, without.join("\n") + "\n").unwrap();
    let (del, _) = sync_ledger(
        tc.backoffice(YOKOHAMA),
        &path,
        &ReadOptions::default(),
        &opts,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(del.deleted, 1);
    let mut master = master;
    master.persons.remove(&gone);
    assert!(
        reconcile(tc.backoffice(YOKOHAMA), &master, &NoProgress)
            .await
            .unwrap()
            .is_clean()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_in_merges_the_previous_citys_doses_and_a_wrong_code_finds_no_one() {
    let tc = TestCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    gen_files(dir.path(), YOKOHAMA, 400);
    let yokohama = read(dir.path());
    // The previous city holds records and symbols for its population.
    let (entries, _) =
        read_address_export(&dir.path().join("address-export.csv"), TextEncoding::Auto).unwrap();
    acquire_all(tc.backoffice(YOKOHAMA), entries, 1000, &NoProgress)
        .await
        .unwrap();
    let state = dir.path().join("y.state");
    sync(
        tc.backoffice(YOKOHAMA),
        &yokohama,
        &SyncOptions::new(&state),
        &NoProgress,
    )
    .await
    .unwrap();
    // A child with several doses moves to 札幌市.
    let (child_uan, child) = yokohama
        .persons
        .iter()
        .find(|(_, p)| p.doses.len() >= 5 && p.doses.iter().all(|d| !d.date_unknown))
        .unwrap();
    let i: u64 = child_uan[5..].parse().unwrap();
    let my_number = my_number_of(SEED, i);
    // 札幌市's address system registers the newcomer and acquires their symbol.
    let new_uan = "0110029000777";
    let export = format!("統合宛名番号,個人番号\n{new_uan},{my_number}\n");
    let (entries, errors) = parse_address_export("sapporo.csv", export.as_bytes()).unwrap();
    assert!(errors.is_empty());
    let got = acquire_all(tc.backoffice(SAPPORO), entries, 10, &NoProgress)
        .await
        .unwrap();
    assert_eq!(got.acquired, 1);
    // 札幌市 already knows the first dose (from the 母子健康手帳), without its date.
    let mut local = renkei_vaccination::Person::default();
    let mut known = child.doses[0].clone();
    known.date = String::new();
    known.date_unknown = true;
    local.doses.push(known);

    let opts = TransferOptions {
        unified_address_number: new_uan.into(),
        previous_city: YOKOHAMA.into(),
        inquiry_id: None,
        idempotency_key: Some("transfer-test-1".into()),
        wait: Duration::from_secs(20),
        case_reference: "転入 test".into(),
    };
    let (inquiry, outcome) = ask_previous_city(tc.backoffice(SAPPORO), &opts)
        .await
        .unwrap();
    let TransferOutcome::Answered { received } = outcome else {
        panic!("expected an answer, got {outcome:?}");
    };
    assert_eq!(received.len(), child.doses.len());
    let s = merge(&mut local, &received, YOKOHAMA);
    assert_eq!(
        (s.added, s.already_known, s.dated),
        (child.doses.len() - 1, 1, 1)
    );
    assert_eq!(local.doses.len(), child.doses.len());
    assert!(local.doses.iter().all(|d| !d.date_unknown));
    // Merging the same answer twice adds nothing.
    assert_eq!(merge(&mut local, &received, YOKOHAMA).added, 0);
    // Resuming by inquiry id gives the same answer.
    let resumed = TransferOptions {
        inquiry_id: Some(inquiry.inquiry_id.clone()),
        ..opts.clone()
    };
    let (_, again) = ask_previous_city(tc.backoffice(SAPPORO), &resumed)
        .await
        .unwrap();
    assert_eq!(
        again,
        TransferOutcome::Answered {
            received: received.clone()
        }
    );
    // The merged record writes as ledger CSV and reads back the same.
    let mut merged = LocalMaster::default();
    merged.persons.insert(new_uan.into(), local.clone());
    let out = dir.path().join("merged.csv");
    renkei_vaccination::ledger::write_ledger(std::fs::File::create(&out).unwrap(), &merged)
        .unwrap();
    let back = read_ledger(&out, &ReadOptions::default()).unwrap();
    assert!(back.errors.is_empty());
    assert_eq!(back.master.persons[new_uan].doses, local.doses);

    // A wrong previous-city code (a real city the child never lived in): no such person.
    let wrong = TransferOptions {
        previous_city: OKAZAKI.into(),
        idempotency_key: Some("transfer-test-2".into()),
        ..opts.clone()
    };
    let (_, outcome) = ask_previous_city(tc.backoffice(SAPPORO), &wrong)
        .await
        .unwrap();
    match outcome {
        TransferOutcome::NoSuchPerson { message } => {
            assert!(message.contains("no such person"), "{message}");
        }
        other => panic!("expected no such person, got {other:?}"),
    }
    // A code with a wrong check digit never leaves the adapter.
    let typo = TransferOptions {
        previous_city: "141004".into(),
        idempotency_key: Some("transfer-test-3".into()),
        ..opts
    };
    match ask_previous_city(tc.backoffice(SAPPORO), &typo).await {
        Err(VaccinationError::Invalid(m)) => assert!(m.contains("previous-city code"), "{m}"),
        other => panic!("expected a refusal of the code, got {other:?}"),
    }
}

/// Transfer-in step 2 with a held answer: the previous city's records of the child are flagged
/// (自動応答不可), so the inquiry comes back pending — which, by design (decision 0010), looks to
/// the new city exactly like a slow answer. Resumed with the inquiry id after the previous
/// city's operator approves, it gets the answer and merges it; after a refusal it ends as not
/// provided and merges nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_transfer_in_is_resumed_after_the_previous_citys_operator_decides() {
    let tc = TestCluster::start_with(|o| {
        o.held.answer_deadline_ms = 400;
        o.held.expiry_secs = 3600;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    gen_files(dir.path(), YOKOHAMA, 400);
    let yokohama = read(dir.path());
    let (entries, _) =
        read_address_export(&dir.path().join("address-export.csv"), TextEncoding::Auto).unwrap();
    acquire_all(tc.backoffice(YOKOHAMA), entries, 1000, &NoProgress)
        .await
        .unwrap();
    sync(
        tc.backoffice(YOKOHAMA),
        &yokohama,
        &SyncOptions::new(dir.path().join("y.state")),
        &NoProgress,
    )
    .await
    .unwrap();
    // Two children with dated doses move to 札幌市; 横浜市 has flagged both.
    let children: Vec<(&String, &renkei_vaccination::Person)> = yokohama
        .persons
        .iter()
        .filter(|(_, p)| p.doses.len() >= 3 && p.doses.iter().all(|d| !d.date_unknown))
        .take(2)
        .collect();
    assert_eq!(children.len(), 2);
    let mut export = String::from("統合宛名番号,個人番号\n");
    let new_uans = ["0110029000801", "0110029000802"];
    for ((uan, _), new_uan) in children.iter().zip(new_uans) {
        tc.flag_as_backoffice(YOKOHAMA, uan, 0).await;
        let i: u64 = uan[5..].parse().unwrap();
        export.push_str(&format!("{new_uan},{}\n", my_number_of(SEED, i)));
    }
    let (entries, errors) = parse_address_export("sapporo.csv", export.as_bytes()).unwrap();
    assert!(errors.is_empty());
    assert_eq!(
        acquire_all(tc.backoffice(SAPPORO), entries, 10, &NoProgress)
            .await
            .unwrap()
            .acquired,
        2
    );
    let admin = tc.admin(YOKOHAMA).await;
    let approver = tc
        .operator(YOKOHAMA, &admin, "approver", approver("vaccination"))
        .await;
    let ask = |new_uan: &str, key: &str| TransferOptions {
        unified_address_number: new_uan.into(),
        previous_city: YOKOHAMA.into(),
        inquiry_id: None,
        idempotency_key: Some(key.into()),
        wait: Duration::from_secs(2),
        case_reference: "転入 held".into(),
    };

    // Step 2: no answer within the wait; the outcome is pending, with the inquiry to resume.
    let mut pending = Vec::new();
    for (new_uan, key) in new_uans.iter().zip(["held-transfer-1", "held-transfer-2"]) {
        let opts = ask(new_uan, key);
        let (inquiry, outcome) = ask_previous_city(tc.backoffice(SAPPORO), &opts)
            .await
            .unwrap();
        assert_eq!(outcome, TransferOutcome::Pending, "{inquiry:?}");
        assert_eq!(inquiry.state, InquiryState::Pending as i32);
        assert!(inquiry.content.is_none());
        pending.push((opts, inquiry.inquiry_id));
    }
    // Resuming before anyone decides is still pending, and asks nothing new.
    let (again, outcome) = ask_previous_city(
        tc.backoffice(SAPPORO),
        &TransferOptions {
            inquiry_id: Some(pending[0].1.clone()),
            wait: Duration::from_millis(300),
            ..pending[0].0.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome, TransferOutcome::Pending);
    assert_eq!(again.inquiry_id, pending[0].1);

    // A transfer-in resumed with the inquiry id waits for the outcome while 横浜市's operator,
    // who sees both held, approves the first and refuses the second.
    let resume = |k: usize| TransferOptions {
        inquiry_id: Some(pending[k].1.clone()),
        wait: Duration::from_secs(20),
        ..pending[k].0.clone()
    };
    let waiting = tokio::spawn({
        let (channel, opts) = (tc.backoffice(SAPPORO), resume(0));
        async move { ask_previous_city(channel, &opts).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "a resumed transfer-in must wait");
    let held = approver
        .block()
        .list_held(approver.req(ListHeldRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .held;
    assert_eq!(held.len(), 2, "{held:?}");
    for (k, decision) in [(0, Decision::Approve), (1, Decision::Refuse)] {
        let h = held
            .iter()
            .find(|h| h.unified_address_number == *children[k].0)
            .unwrap();
        let decided = approver
            .block()
            .decide(approver.req(DecideRequest {
                permit_id: h.permit_id.clone(),
                decision: decision as i32,
                confirmations: (decision == Decision::Approve).then(|| Confirmations {
                    legal_basis: true,
                    necessity: true,
                    careful_handling: true,
                    note: "転入先に確認".into(),
                }),
                manual_content: None,
            }))
            .await
            .unwrap()
            .into_inner();
        let expected = match decision {
            Decision::Approve => HeldState::Approved,
            _ => HeldState::Refused,
        };
        assert_eq!(decided.state, expected as i32);
    }

    // The waiting transfer-in gets the approved answer and merges it without duplicates.
    let (inquiry, outcome) = tokio::time::timeout(Duration::from_secs(25), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(inquiry.inquiry_id, pending[0].1);
    let TransferOutcome::Answered { received } = outcome else {
        panic!("expected the approved answer, got {outcome:?}");
    };
    let child = children[0].1;
    assert_eq!(received.len(), child.doses.len());
    let mut local = renkei_vaccination::Person::default();
    local.doses.push(child.doses[0].clone());
    let s = merge(&mut local, &received, YOKOHAMA);
    assert_eq!((s.added, s.already_known), (child.doses.len() - 1, 1));
    assert_eq!(local.doses.len(), child.doses.len());

    // The refused one ends as not provided: nothing to merge.
    let (inquiry, outcome) = ask_previous_city(tc.backoffice(SAPPORO), &resume(1))
        .await
        .unwrap();
    assert_eq!(outcome, TransferOutcome::NotProvided, "{inquiry:?}");
    assert_eq!(inquiry.state, InquiryState::NotProvided as i32);
    assert!(inquiry.content.is_none());
    tc.stop().await;
}

/// Bad input never deletes a copy (decision 0054). A person whose every row is bad is
/// missing from the good rows only because of them: their copy stays. A bad row that names
/// no readable person could be anyone's, so that run deletes nothing; the next clean run
/// deletes what is really gone. Both the streamed sync and the whole-master sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_never_delete_a_copy() {
    let tc = TestCluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let create =
        |n: &str| std::io::BufWriter::new(std::fs::File::create(dir.path().join(n)).unwrap());
    let opts = GenOptions {
        seed: SEED,
        residents: 300,
        city: YOKOHAMA.into(),
        today: renkei_vaccination::ledger::today_jst(),
        anomalies: false,
    };
    let mut sinks = GenSinks::new(
        create("vaccinations.csv"),
        create("residents.csv"),
        create("address-export.csv"),
    )
    .unwrap();
    generate(&opts, &mut sinks, |_| {}).unwrap();
    sinks.finish().unwrap();
    let path = dir.path().join("vaccinations.csv");
    let clean = std::fs::read_to_string(&path).unwrap();
    let master = read(dir.path());
    let state = dir.path().join("sync.state");
    let sync_opts = SyncOptions {
        chunk: 50,
        ..SyncOptions::new(&state)
    };
    let read_opts = ReadOptions::default();
    let streamed = |text: String| {
        std::fs::write(&path, text).unwrap();
        sync_ledger(
            tc.backoffice(YOKOHAMA),
            &path,
            &read_opts,
            &sync_opts,
            &NoProgress,
        )
    };
    let (first, _) = streamed(clean.clone()).await.unwrap();
    assert_eq!(first.sent, master.persons.len() as u64);
    let mut persons = master.persons.keys();
    let (p, q) = (
        persons.next().unwrap().clone(),
        persons.next().unwrap().clone(),
    );
    let uan_of = |line: &str| line.split(',').nth(1).unwrap_or("").to_owned();
    let rewrite = |f: &dyn Fn(&str) -> Option<String>| -> String {
        let mut lines = clean.lines();
        let mut out = vec![lines.next().unwrap().to_owned()];
        out.extend(lines.filter_map(f));
        out.join("\n") + "\n"
    };

    // Every row of P has an unknown vaccine code: P is reported, and P's copy stays.
    let all_of_p_bad = rewrite(&|l| {
        Some(if uan_of(l) == p {
            let mut cols: Vec<&str> = l.split(',').collect();
            cols[6] = "NO-SUCH-VACCINE";
            cols.join(",")
        } else {
            l.to_owned()
        })
    });
    let (r, stream) = streamed(all_of_p_bad.clone()).await.unwrap();
    assert!(r.complete);
    assert!(!stream.errors.is_empty());
    assert!(
        stream
            .errors
            .iter()
            .all(|e| e.person.as_deref() == Some(p.as_str()))
    );
    assert_eq!((r.deleted, r.withheld), (0, 1));
    let at_gateway = reconcile(tc.backoffice(YOKOHAMA), &master, &NoProgress)
        .await
        .unwrap();
    assert!(
        at_gateway.is_clean(),
        "P's copy must still be there: {at_gateway:?}"
    );

    // Q's rows are gone from the file, and one row names no readable person: it could be
    // Q's, so nothing is deleted; through the whole-master sync this time, with the guard
    // built from the read's bad rows.
    let q_gone_and_a_nameless_row = rewrite(&|l| {
        if uan_of(l) == q {
            None
        } else if uan_of(l) == p {
            Some(l.replacen(&p, "not-a-number", 1))
        } else {
            Some(l.to_owned())
        }
    });
    std::fs::write(&path, &q_gone_and_a_nameless_row).unwrap();
    let read_back = read_ledger(&path, &ReadOptions::default()).unwrap();
    assert!(read_back.errors.iter().any(|e| e.person.is_none()));
    let guarded = SyncOptions {
        guard: DeletionGuard::from_errors(&read_back.errors),
        ..sync_opts.clone()
    };
    let r = sync(
        tc.backoffice(YOKOHAMA),
        &read_back.master,
        &guarded,
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(r.complete);
    assert_eq!(r.deleted, 0);
    assert_eq!(r.withheld, 2, "P and Q are both kept");
    assert!(
        reconcile(tc.backoffice(YOKOHAMA), &master, &NoProgress)
            .await
            .unwrap()
            .is_clean()
    );

    // The clean file without Q: Q's copy is deleted now, P's content is unchanged.
    let without_q = rewrite(&|l| (uan_of(l) != q).then(|| l.to_owned()));
    let (r, stream) = streamed(without_q).await.unwrap();
    assert!(stream.errors.is_empty());
    assert_eq!((r.deleted, r.withheld, r.sent), (1, 0, 0));
    let mut expected = master.clone();
    expected.persons.remove(&q);
    assert!(
        reconcile(tc.backoffice(YOKOHAMA), &expected, &NoProgress)
            .await
            .unwrap()
            .is_clean()
    );
}
