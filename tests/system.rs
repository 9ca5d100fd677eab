//! System management end to end: batch job status with live progress, tenant isolation and
//! history across a restart; maintenance mode refusing new work while work in flight
//! finishes, reported by health and kept across a restart.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use renkei_e2e::ops::*;
use renkei_e2e::*;
use renkei_proto::v1::operators_client::OperatorsClient;
use renkei_proto::v1::system_management_client::SystemManagementClient;
use renkei_proto::v1::{
    BulkSummary, GetJobRequest, GetMaintenanceRequest, Job, JobKind, JobState, ListJobsRequest,
    LoginRequest, LogoutRequest, ProvisionCopy, PutCopyRequest, QueryAuditRequest,
    RegisterAddressNumberRequest, SetMaintenanceRequest, WhoAmIRequest,
};
use renkei_testkit::cluster::{Cluster, ClusterOptions};
use renkei_testkit::population::{self, Resident};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt as _;

fn system(s: &Session) -> SystemManagementClient<tonic::transport::Channel> {
    SystemManagementClient::new(s.channel.clone())
}

fn copy_request(r: &Resident, item: u32) -> PutCopyRequest {
    PutCopyRequest {
        copy: Some(ProvisionCopy {
            unified_address_number: r.unified_address_number.clone(),
            item,
            content: Some(population::content(&r.history.clone().unwrap_or_default())),
            ..Default::default()
        }),
    }
}

async fn register_all(tc: &TestCluster, code: &str, residents: &[Resident]) -> BulkSummary {
    let reqs: Vec<_> = residents
        .iter()
        .map(|r| RegisterAddressNumberRequest {
            unified_address_number: r.unified_address_number.clone(),
        })
        .collect();
    tc.symbols(code)
        .register_address_numbers(tokio_stream::iter(reqs))
        .await
        .unwrap()
        .into_inner()
}

async fn list_jobs(s: &Session, kind: JobKind, state: JobState) -> Vec<Job> {
    system(s)
        .list_jobs(s.req(ListJobsRequest {
            kind: kind as i32,
            state: state as i32,
            limit: 0,
        }))
        .await
        .unwrap()
        .into_inner()
        .jobs
}

async fn get_job(s: &Session, id: &str) -> Result<Job, tonic::Status> {
    system(s)
        .get_job(s.req(GetJobRequest { job_id: id.into() }))
        .await
        .map(|r| r.into_inner())
}

/// Polls until `check` holds for the job (the server reads the stream asynchronously).
async fn wait_job(s: &Session, id: &str, check: impl Fn(&Job) -> bool) -> Job {
    for _ in 0..200 {
        let j = get_job(s, id).await.unwrap();
        if check(&j) {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "job {id} never reached the expected state: {:?}",
        get_job(s, id).await
    );
}

/// The one running import job of the tenant, once the gateway has seen it.
async fn running_import(s: &Session) -> Job {
    for _ in 0..200 {
        let running = list_jobs(s, JobKind::ImportCopies, JobState::Running).await;
        if let [j] = running.as_slice() {
            return j.clone();
        }
        assert!(running.len() < 2, "{running:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no running import job");
}

/// Starts ImportCopies with a stream the test feeds; returns the sender and the call.
fn streaming_import(
    tc: &TestCluster,
    code: &str,
) -> (
    mpsc::Sender<PutCopyRequest>,
    tokio::task::JoinHandle<Result<BulkSummary, tonic::Status>>,
) {
    let (tx, rx) = mpsc::channel(64);
    let mut client = tc.copies(code);
    let call = tokio::spawn(async move {
        client
            .import_copies(ReceiverStream::new(rx))
            .await
            .map(|r| r.into_inner())
    });
    (tx, call)
}

async fn restart(dir: &std::path::Path) -> Cluster {
    Cluster::start(ClusterOptions::new(certs_dir(), dir))
        .await
        .unwrap()
}

async fn login_again(cluster: &Cluster, code: &str, s: &Session) -> Session {
    let channel = {
        let creds = cluster.credentials(&format!("terminal-{code}")).unwrap();
        renkei_transport::channel(
            &cluster.gateway_local_addr.to_string(),
            renkei_testkit::cluster::GATEWAY_SERVER_NAME,
            &creds,
            &renkei_transport::ClientOptions::default(),
        )
        .unwrap()
    };
    let token = OperatorsClient::new(channel.clone())
        .login(LoginRequest {
            user: s.user.clone(),
            password: s.password.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .token;
    Session {
        channel,
        token,
        ..s.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_jobs_show_live_progress_final_counts_and_survive_a_restart() {
    let tc = TestCluster::start().await;
    let admin = tc.admin(YOKOHAMA).await;
    let residents = population::municipality(YOKOHAMA, 40, today());
    let registered = register_all(&tc, YOKOHAMA, &residents).await;
    assert_eq!((registered.accepted, registered.rejected), (40, 0));
    // Symbols in bulk, one request with a malformed My Number.
    let reqs: Vec<_> = residents[..10]
        .iter()
        .enumerate()
        .map(|(i, r)| renkei_proto::v1::AcquireSymbolRequest {
            unified_address_number: r.unified_address_number.clone(),
            my_number: if i == 3 {
                "12345".into()
            } else {
                r.my_number.clone()
            },
        })
        .collect();
    let mut acquired = tc
        .symbols(YOKOHAMA)
        .acquire_symbols(tokio_stream::iter(reqs))
        .await
        .unwrap()
        .into_inner();
    let mut failed = 0;
    while let Some(a) = acquired.message().await.unwrap() {
        failed += usize::from(!a.error.is_empty());
    }
    assert_eq!(failed, 1);
    let symbols = list_jobs(&admin, JobKind::AcquireSymbols, JobState::Unspecified).await;
    assert_eq!(symbols.len(), 1, "{symbols:#?}");
    let symbols = wait_job(&admin, &symbols[0].job_id, |j| {
        j.state != JobState::Running as i32
    })
    .await;
    assert_eq!(symbols.state, JobState::Succeeded as i32, "{symbols:?}");
    assert_eq!((symbols.processed, symbols.rejected), (10, 1));

    // Half a batch, with two bad rows (an item 横浜市 does not provide), then a pause.
    let (tx, call) = streaming_import(&tc, YOKOHAMA);
    for (i, r) in residents[..20].iter().enumerate() {
        let item = if i == 3 || i == 7 { 28 } else { 25 };
        tx.send(copy_request(r, item)).await.unwrap();
    }
    let running = running_import(&admin).await;
    let half = wait_job(&admin, &running.job_id, |j| j.processed == 20).await;
    assert_eq!(half.state, JobState::Running as i32, "{half:?}");
    assert_eq!(half.rejected, 2);
    assert_eq!(half.finished_at_ms, 0);
    assert_eq!(half.tenant, YOKOHAMA);
    assert!(half.started_by.starts_with("backoffice:"), "{half:?}");
    assert!(!call.is_finished(), "the import must still be in flight");

    // The rest, with one more bad row, and the end of the stream.
    for (i, r) in residents[20..].iter().enumerate() {
        tx.send(copy_request(r, if i == 5 { 28 } else { 25 }))
            .await
            .unwrap();
    }
    drop(tx);
    let summary = call.await.unwrap().unwrap();
    assert_eq!((summary.accepted, summary.rejected), (37, 3));
    let done = get_job(&admin, &running.job_id).await.unwrap();
    assert_eq!(done.state, JobState::Succeeded as i32, "{done:?}");
    assert_eq!((done.processed, done.rejected), (40, 3));
    assert!(done.finished_at_ms >= done.started_at_ms);

    // A stream that breaks mid-import (here: a message over the gateway's size limit)
    // leaves a cancelled job with what was processed before.
    let (tx, call) = streaming_import(&tc, YOKOHAMA);
    for r in &residents[..5] {
        tx.send(copy_request(r, 25)).await.unwrap();
    }
    let gone = running_import(&admin).await;
    wait_job(&admin, &gone.job_id, |j| j.processed == 5).await;
    let mut huge = copy_request(&residents[5], 25);
    huge.copy.as_mut().unwrap().unified_address_number = "9".repeat(5 * 1024 * 1024);
    tx.send(huge).await.unwrap();
    let err = call.await.unwrap().unwrap_err();
    assert!(err.message().contains("5 accepted"), "{err:?}");
    let cancelled = wait_job(&admin, &gone.job_id, |j| {
        j.state != JobState::Running as i32
    })
    .await;
    assert_eq!(cancelled.state, JobState::Cancelled as i32, "{cancelled:?}");
    assert_eq!(cancelled.processed, 5);
    assert!(!cancelled.error.is_empty());
    drop(tx);

    // Listing: newest first, filters by kind and state.
    let all = list_jobs(&admin, JobKind::Unspecified, JobState::Unspecified).await;
    let ids: Vec<_> = all.iter().map(|j| j.job_id.as_str()).collect();
    assert_eq!(ids.len(), 4, "{all:#?}");
    assert_eq!(ids[0], gone.job_id);
    assert_eq!(ids[1], running.job_id);
    let registers = list_jobs(&admin, JobKind::RegisterAddressNumbers, JobState::Succeeded).await;
    assert_eq!(registers.len(), 1);
    assert_eq!(registers[0].processed, 40);
    assert_eq!(
        list_jobs(&admin, JobKind::ImportCopies, JobState::Succeeded)
            .await
            .len(),
        1
    );

    // Tenant isolation: 札幌市 sees none of 横浜市's jobs, not even by id...
    let sapporo = tc.admin(SAPPORO).await;
    assert!(
        list_jobs(&sapporo, JobKind::Unspecified, JobState::Unspecified)
            .await
            .is_empty()
    );
    let err = get_job(&sapporo, &running.job_id).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    // ...and a 札幌市 session cannot be used from a 横浜市 terminal.
    let borrowed = Session {
        channel: tc.terminal(YOKOHAMA),
        ..sapporo.clone()
    };
    let err = system(&borrowed)
        .list_jobs(borrowed.req(ListJobsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let audit = admin.audit(QueryAuditRequest::default()).await;
    assert_audited(&audit, "admin", "jobs.list", "ok");
    assert_audited(&audit, "admin", "jobs.get", "ok");

    // Finished jobs are still there after a restart.
    // Sessions are durable too: log out so the same operator can log in after the restart.
    admin
        .ops()
        .logout(admin.req(LogoutRequest {}))
        .await
        .unwrap();
    let dir = tc.stop().await;
    let cluster = restart(dir.path()).await;
    let admin = login_again(&cluster, YOKOHAMA, &admin).await;
    let after = list_jobs(&admin, JobKind::Unspecified, JobState::Unspecified).await;
    assert_eq!(after, all);
    cluster.shutdown().await.unwrap();
}

async fn health(channel: tonic::transport::Channel, service: &str) -> i32 {
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

async fn wait_health(channel: &tonic::transport::Channel, service: &str, want: ServingStatus) {
    for _ in 0..100 {
        if health(channel.clone(), service).await == want as i32 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("health of {service:?} never became {want:?}");
}

fn assert_maintenance_refusal(err: &tonic::Status, message: &str) {
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(err.message().contains(message), "{}", err.message());
    let details = err.get_error_details();
    assert_eq!(
        details.error_info().map(|i| i.reason.as_str()),
        Some("MAINTENANCE"),
        "{details:?}"
    );
    assert!(details.retry_info().is_some(), "{details:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_refuses_new_work_while_work_in_flight_finishes_and_survives_a_restart() {
    const WHY: &str = "OS patching until 22:00";
    let tc = TestCluster::start().await;
    let admin = tc.admin(YOKOHAMA).await;
    let clerk = tc
        .operator(YOKOHAMA, &admin, "clerk", approver("vaccination"))
        .await;
    let movers = tc.movers().await;
    let residents = population::municipality(YOKOHAMA, 20, today());
    register_all(&tc, YOKOHAMA, &residents).await;
    let bo = tc.backoffice(YOKOHAMA);
    wait_health(&bo, "renkei.v1.Inquiries", ServingStatus::Serving).await;

    // An import that began before maintenance...
    let (tx, call) = streaming_import(&tc, YOKOHAMA);
    for r in &residents[..10] {
        tx.send(copy_request(r, 25)).await.unwrap();
    }
    let job = running_import(&admin).await;
    wait_job(&admin, &job.job_id, |j| j.processed == 10).await;

    // Only administrators switch maintenance, and a reason is required.
    let err = system(&clerk)
        .set_maintenance(clerk.req(SetMaintenanceRequest {
            on: true,
            message: WHY.into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = system(&admin)
        .set_maintenance(admin.req(SetMaintenanceRequest {
            on: true,
            message: " ".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let state = system(&admin)
        .set_maintenance(admin.req(SetMaintenanceRequest {
            on: true,
            message: WHY.into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(state.on);
    assert_eq!(state.set_by, format!("{YOKOHAMA}/admin"));

    // New work is refused, with the message and rich details, in every tenant...
    let err = tc
        .ask(
            SAPPORO,
            "m1",
            &movers[0].1.unified_address_number,
            YOKOHAMA,
            25,
        )
        .await
        .unwrap_err();
    assert_maintenance_refusal(&err, WHY);
    let err = tc
        .copies(YOKOHAMA)
        .import_copies(tokio_stream::iter(vec![copy_request(&residents[0], 25)]))
        .await
        .unwrap_err();
    assert_maintenance_refusal(&err, WHY);
    let err = tc
        .symbols(OKAZAKI)
        .register_address_number(RegisterAddressNumberRequest {
            unified_address_number: residents[0].unified_address_number.clone(),
        })
        .await
        .unwrap_err();
    assert_maintenance_refusal(&err, WHY);
    // ...including inquiries the hub delivers from other agencies, while answers to
    // inquiries already sent are still taken (an empty one is refused for what it is).
    let mut network = renkei_proto::v1::gateway_network_client::GatewayNetworkClient::new(
        tc.cluster.network_channel("hub").unwrap(),
    );
    let err = network
        .deliver_inquiry(renkei_proto::v1::DeliverInquiryRequest::default())
        .await
        .unwrap_err();
    assert_maintenance_refusal(&err, WHY);
    let err = network
        .deliver_answer(renkei_proto::v1::DeliverAnswerRequest::default())
        .await
        .unwrap_err();
    assert_ne!(err.code(), Code::Unavailable, "{err:?}");
    // ...health says so for the services that take work and for the whole server...
    wait_health(&bo, "renkei.v1.Inquiries", ServingStatus::NotServing).await;
    wait_health(&bo, "", ServingStatus::NotServing).await;
    assert_eq!(
        health(bo.clone(), "renkei.v1.Operators").await,
        ServingStatus::Serving as i32
    );
    // ...operators keep working, and anyone logged in can see why.
    clerk
        .ops()
        .who_am_i(clerk.req(WhoAmIRequest {}))
        .await
        .unwrap();
    let seen = system(&clerk)
        .get_maintenance(clerk.req(GetMaintenanceRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(seen.on);
    assert_eq!(seen.message, WHY);

    // The import that was in flight completes normally.
    for r in &residents[10..] {
        tx.send(copy_request(r, 25)).await.unwrap();
    }
    drop(tx);
    let summary = call.await.unwrap().unwrap();
    assert_eq!((summary.accepted, summary.rejected), (20, 0));
    let finished = get_job(&admin, &job.job_id).await.unwrap();
    assert_eq!(finished.state, JobState::Succeeded as i32);

    let audit = admin.audit(QueryAuditRequest::default()).await;
    assert_audited(&audit, "admin", "maintenance.on", "ok");
    assert_audited(&audit, "admin", "maintenance.on", "invalid");
    assert_audited(&audit, "clerk", "maintenance.on", "denied");

    // Maintenance outlives a restart.
    // Sessions are durable too: log out so the same operator can log in after the restart.
    admin
        .ops()
        .logout(admin.req(LogoutRequest {}))
        .await
        .unwrap();
    let dir = tc.stop().await;
    let cluster = restart(dir.path()).await;
    let admin = login_again(&cluster, YOKOHAMA, &admin).await;
    let state = system(&admin)
        .get_maintenance(admin.req(GetMaintenanceRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(state.on, "{state:?}");
    assert_eq!(state.message, WHY);
    let err = renkei_proto::v1::inquiries_client::InquiriesClient::new(
        cluster.backoffice(SAPPORO).unwrap(),
    )
    .submit_inquiry(ask_request(
        "m2",
        &movers[0].1.unified_address_number,
        YOKOHAMA,
        25,
    ))
    .await
    .unwrap_err();
    assert_maintenance_refusal(&err, WHY);

    // Off: work resumes at once.
    let state = system(&admin)
        .set_maintenance(admin.req(SetMaintenanceRequest {
            on: false,
            message: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!state.on);
    let inquiry = renkei_proto::v1::inquiries_client::InquiriesClient::new(
        cluster.backoffice(SAPPORO).unwrap(),
    )
    .submit_inquiry(ask_request(
        "m3",
        &movers[0].1.unified_address_number,
        YOKOHAMA,
        25,
    ))
    .await
    .unwrap()
    .into_inner();
    assert!(!inquiry.inquiry_id.is_empty());
    let bo = cluster.backoffice(YOKOHAMA).unwrap();
    wait_health(&bo, "renkei.v1.Inquiries", ServingStatus::Serving).await;
    cluster.shutdown().await.unwrap();
}
