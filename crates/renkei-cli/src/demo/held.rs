//! Scenario e: a DV-protected child (支援措置対象者). 横浜市's address system has flagged the
//! child; 岡崎市's inquiry is held, an approver at a 横浜市 terminal confirms and approves
//! it, and the answer arrives late through the hub. A second inquiry is refused.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use renkei_proto::v1::auto_response_block_client::AutoResponseBlockClient;
use renkei_proto::v1::inquiries_client::InquiriesClient;
use renkei_proto::v1::operators_client::OperatorsClient;
use renkei_proto::v1::records_client::RecordsClient;
use renkei_proto::v1::{
    AddUserRequest, ChangePasswordRequest, Confirmations, DecideRequest, Decision, FlagReason,
    GetInquiryRequest, Grant, HeldInquiry, Inquiry, InquiryState, ListHeldRequest,
    ListRecordsRequest, LoginRequest, OperatorRole, Outcome, SetFlagRequest, SubmitInquiryRequest,
};
use renkei_testkit::population::{self, Resident, Rng};
use renkei_transport::ClientOptions;
use tonic::transport::Channel;

use super::{Demo, OKAZAKI, YOKOHAMA, outcome_name, print_record, state_name};

/// A logged-in operator at a 横浜市 terminal.
struct Operator {
    channel: Channel,
    token: String,
}

impl Operator {
    fn req<T>(&self, msg: T) -> anyhow::Result<tonic::Request<T>> {
        let mut r = tonic::Request::new(msg);
        r.metadata_mut()
            .insert("authorization", format!("Bearer {}", self.token).parse()?);
        Ok(r)
    }
}

impl Demo {
    fn terminal(&self, code: &str) -> anyhow::Result<Channel> {
        let creds = self.cluster.credentials(&format!("terminal-{code}"))?;
        Ok(renkei_transport::channel(
            &self.cluster.gateway_local_addr.to_string(),
            renkei_cli::cluster::GATEWAY_SERVER_NAME,
            &creds,
            &ClientOptions::default(),
        )?)
    }

    /// Logs in with a one-time password and replaces it, as every first login must.
    async fn first_login(&self, user: &str, otp: &str) -> anyhow::Result<Operator> {
        let channel = self.terminal(YOKOHAMA)?;
        let token = OperatorsClient::new(channel.clone())
            .login(LoginRequest {
                user: user.into(),
                password: otp.into(),
            })
            .await?
            .into_inner()
            .token;
        let op = Operator { channel, token };
        OperatorsClient::new(op.channel.clone())
            .change_password(op.req(ChangePasswordRequest {
                current_password: otp.into(),
                new_password: format!("{user}: a demo passphrase"),
            })?)
            .await?;
        Ok(op)
    }

    async fn enrol(&self, code: &str, r: &Resident) -> anyhow::Result<()> {
        let ch = self.cluster.backoffice(code)?;
        renkei_testkit::enrol(&ch, std::slice::from_ref(r), renkei_testkit::Calls::Single).await?;
        Ok(())
    }

    async fn ask_okazaki(&self, key: &str, uan: &str) -> anyhow::Result<Inquiry> {
        Ok(InquiriesClient::new(self.cluster.backoffice(OKAZAKI)?)
            .submit_inquiry(SubmitInquiryRequest {
                idempotency_key: key.into(),
                unified_address_number: uan.into(),
                provider: YOKOHAMA.into(),
                procedure: "vaccination".into(),
                item: 25,
                case_reference: format!("転入-{key}"),
                disclose_after_ms: 0,
            })
            .await?
            .into_inner())
    }

    async fn completed(&self, inquiry_id: &str) -> anyhow::Result<Inquiry> {
        let mut client = InquiriesClient::new(self.cluster.backoffice(OKAZAKI)?);
        for _ in 0..200 {
            let i = client
                .get_inquiry(GetInquiryRequest {
                    inquiry_id: inquiry_id.into(),
                })
                .await?
                .into_inner();
            if i.state != InquiryState::Pending as i32 {
                return Ok(i);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("inquiry {inquiry_id} stayed pending")
    }

    async fn the_held_one(&self, approver: &Operator) -> anyhow::Result<HeldInquiry> {
        let held = AutoResponseBlockClient::new(approver.channel.clone())
            .list_held(approver.req(ListHeldRequest::default())?)
            .await?
            .into_inner()
            .held;
        ensure!(
            held.len() == 1,
            "expected one held inquiry, found {}",
            held.len()
        );
        let h = held.into_iter().next().context("no held inquiry")?;
        println!(
            "    held: permit {} from {} {} — procedure {}, item {}, received {}, expires {}",
            h.permit_id,
            h.inquirer,
            h.inquirer_name,
            h.procedure,
            h.item,
            renkei_core::format_ms(h.received_at_ms),
            renkei_core::format_ms(h.expires_at_ms)
        );
        println!("    legal basis: {}", h.legal_basis);
        Ok(h)
    }

    pub(super) async fn scenario_e(&self) -> anyhow::Result<()> {
        // A child who moved from 横浜市 to 岡崎市 and is under a support measure.
        let mut rng = Rng::new(0xD0_7EC7);
        let birth = self.today - time::Duration::days(1500);
        let my = population::my_number(&mut rng);
        let history = population::childhood_history(&mut rng, birth, self.today, "1410099999");
        let yokohama = Resident {
            unified_address_number: "1410039000101".into(),
            my_number: my.clone(),
            birth,
            history: Some(history.clone()),
        };
        let okazaki = Resident {
            unified_address_number: "2320259000101".into(),
            my_number: my,
            birth,
            history: None,
        };
        self.enrol(YOKOHAMA, &yokohama).await?;
        self.enrol(OKAZAKI, &okazaki).await?;
        println!(
            "  A child moved from 横浜市 ({}) to 岡崎市 ({}). 横浜市's address system lists the child",
            yokohama.unified_address_number, okazaki.unified_address_number
        );
        println!("  as 支援措置対象者 (DV protection) and sets the auto-response-block flag.");
        AutoResponseBlockClient::new(self.cluster.backoffice(YOKOHAMA)?)
            .set_flag(SetFlagRequest {
                unified_address_number: yokohama.unified_address_number.clone(),
                item: 0,
                reason: FlagReason::SupportMeasure as i32,
                note: "住民基本台帳 支援措置".into(),
            })
            .await?;

        let otp = self
            .cluster
            .gateway
            .bootstrap_admin(YOKOHAMA, "admin", "横浜市 administrator")
            .await?;
        let admin = self.first_login("admin", &otp).await?;
        let sato_otp = OperatorsClient::new(admin.channel.clone())
            .add_user(admin.req(AddUserRequest {
                user: "sato".into(),
                display_name: "佐藤 (健康福祉局)".into(),
                grants: vec![Grant {
                    role: OperatorRole::Approver as i32,
                    procedure: "vaccination".into(),
                }],
            })?)
            .await?
            .into_inner()
            .one_time_password;
        let sato = self.first_login("sato", &sato_otp).await?;
        println!(
            "  横浜市's administrator (created with `renkei ops bootstrap-admin`) added sato, approver for vaccination."
        );

        let first = self
            .ask_okazaki("demo-e1", &okazaki.unified_address_number)
            .await?;
        println!(
            "  岡崎市 asks 横浜市 for the history: inquiry {} is {} — as for any answer that takes time.",
            first.inquiry_id,
            state_name(first.state)
        );
        ensure!(
            first.state == InquiryState::Pending as i32,
            "expected pending, got {}",
            state_name(first.state)
        );
        println!(
            "  sato lists the held inquiries at a 横浜市 terminal (no data is shown before approval):"
        );
        let h = self.the_held_one(&sato).await?;
        println!(
            "  sato calls 岡崎市, confirms the legal basis (番号法第19条), the necessity and careful handling, and approves."
        );
        AutoResponseBlockClient::new(sato.channel.clone())
            .decide(sato.req(DecideRequest {
                permit_id: h.permit_id.clone(),
                decision: Decision::Approve as i32,
                confirmations: Some(Confirmations {
                    legal_basis: true,
                    necessity: true,
                    careful_handling: true,
                    note: "岡崎市 子ども部に電話で確認".into(),
                }),
                manual_content: None,
            })?)
            .await?;
        let first = self.completed(&first.inquiry_id).await?;
        let doses = match first.content.as_ref().and_then(|c| c.body.as_ref()) {
            Some(renkei_proto::v1::content::Body::Vaccination(v)) => v.doses.len(),
            None => 0,
        };
        println!(
            "  The sealed answer went late through the hub; 岡崎市's inquiry is {} ({doses} doses).",
            state_name(first.state)
        );
        ensure!(
            first.state == InquiryState::Answered as i32 && doses == history.doses.len(),
            "expected the approved history"
        );

        let second = self
            .ask_okazaki("demo-e2", &okazaki.unified_address_number)
            .await?;
        println!(
            "  A second request, inquiry {}, is {} too; sato finds no reason for it and refuses.",
            second.inquiry_id,
            state_name(second.state)
        );
        let h = self.the_held_one(&sato).await?;
        AutoResponseBlockClient::new(sato.channel.clone())
            .decide(sato.req(DecideRequest {
                permit_id: h.permit_id,
                decision: Decision::Refuse as i32,
                ..Default::default()
            })?)
            .await?;
        let second = self.completed(&second.inquiry_id).await?;
        println!("  岡崎市's second inquiry is {}.", state_name(second.state));
        ensure!(
            second.state == InquiryState::NotProvided as i32,
            "expected not provided"
        );

        println!("  The records of both inquiries, at 岡崎市 and at 横浜市:");
        let mut all = Vec::new();
        for code in [OKAZAKI, YOKOHAMA] {
            for i in [&first, &second] {
                let records = RecordsClient::new(self.cluster.backoffice(code)?)
                    .list_records(ListRecordsRequest {
                        inquiry_id: i.inquiry_id.clone(),
                        ..Default::default()
                    })
                    .await?
                    .into_inner()
                    .records;
                for r in &records {
                    print_record(r);
                }
                all.push((code, i.inquiry_id.clone(), records));
            }
        }
        let expect = |code: &str, id: &str, outcomes: &[Outcome]| {
            all.iter()
                .find(|(c, i, _)| *c == code && i == id)
                .map(|(_, _, r)| {
                    r.iter().map(|r| r.outcome).collect::<Vec<_>>()
                        == outcomes.iter().map(|o| *o as i32).collect::<Vec<_>>()
                })
                .unwrap_or(false)
        };
        ensure!(
            expect(
                OKAZAKI,
                &first.inquiry_id,
                &[Outcome::Pending, Outcome::Provided]
            ) && expect(
                YOKOHAMA,
                &first.inquiry_id,
                &[Outcome::Held, Outcome::Provided]
            ) && expect(
                OKAZAKI,
                &second.inquiry_id,
                &[Outcome::Pending, Outcome::NotProvided]
            ) && expect(
                YOKOHAMA,
                &second.inquiry_id,
                &[Outcome::Held, Outcome::NotProvided]
            ),
            "the records do not show both decisions (expected {}/{} then {}/{})",
            outcome_name(Outcome::Held as i32),
            outcome_name(Outcome::Provided as i32),
            outcome_name(Outcome::Held as i32),
            outcome_name(Outcome::NotProvided as i32),
        );
        println!(
            "  横浜市's records name sato as the operator who decided; 岡崎市 never learned why it waited."
        );
        Ok(())
    }
}
