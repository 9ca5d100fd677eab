//! The baseline: the same three RPC legs as a real exchange (back office → inquirer's
//! gateway → hub → provider's gateway, and back), over the same mTLS transport with the same
//! rate limiter, performing the same cryptography — symbol open and derivation at the hub,
//! permit signing and verification, answer padding, sealing, signing, verification and
//! opening — but with no storage, no records, no master data and no validation.
//!
//! `renkei bench e2e --vs-baseline` divides the real throughput by this one, measured in
//! the same run, so the ratio says how much the product's own work costs on top of the
//! unavoidable transport and cryptography, whatever the machine.

use std::net::SocketAddr;
use std::path::Path;

use prost::Message;
use renkei_core::{AgencyCode, IdKind, MyNumber, new_id, now_ms};
use renkei_crypto::{
    AnswerContext, EncryptionKey, SigningKey, SymbolKey, VerifyingKey, open_answer,
    pad_answer_payload, seal_answer, sign_permit, verify_permit,
};
use renkei_proto::v1::gateway_network_client::GatewayNetworkClient;
use renkei_proto::v1::gateway_network_server::{GatewayNetwork, GatewayNetworkServer};
use renkei_proto::v1::hub_client::HubClient;
use renkei_proto::v1::hub_server::{Hub, HubServer};
use renkei_proto::v1::inquiries_server::{Inquiries, InquiriesServer};
use renkei_proto::v1::{
    AnswerPayload, Content, DeliverAnswerRequest, DeliverAnswerResponse, DeliverInquiryRequest,
    DeliverInquiryResponse, DeliverLateAnswerRequest, DeliverLateAnswerResponse, ExchangeRequest,
    ExchangeResponse, GetInquiryRequest, GetMasterDataRequest, GetMasterDataResponse, Inquiry,
    InquiryEnvelope, InquiryState, IssueSymbolsRequest, IssueSymbolsResponse, ListInquiriesRequest,
    ListInquiriesResponse, Permit, SubmitInquiryRequest, answer_payload, deliver_inquiry_response,
    exchange_response,
};
use renkei_transport::{ClientOptions, Credentials, RateLimit, ServerOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::BenchError;

const GATEWAY_NAME: &str = "gateway.renkei.local";
const HUB_NAME: &str = "hub.renkei.local";

/// Where the baseline's servers listen; the bench talks to `local` as a back office.
#[derive(Debug)]
pub struct Baseline {
    pub local: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Result<(), renkei_transport::TransportError>>>,
}

/// The person every baseline inquiry is about, and the answer the provider seals.
#[derive(Clone, Debug)]
pub struct BaselineSpec {
    pub inquirer: AgencyCode,
    pub provider: AgencyCode,
    /// Any valid My Number: the baseline derives the inquirer's symbol from it once.
    pub my_number: String,
    /// The content the provider answers with (the same size as the real bench's copies).
    pub content: Content,
    /// The same per-caller limit the real servers run with in the bench.
    pub rate_limit: RateLimit,
}

fn options(rate_limit: RateLimit) -> ServerOptions {
    ServerOptions {
        rate_limit,
        ..ServerOptions::default()
    }
}

fn load_creds(certs: &Path, name: &str) -> Result<Credentials, BenchError> {
    Ok(Credentials::load(
        &certs.join("ca.pem"),
        &certs.join(format!("{name}.pem")),
        &certs.join(format!("{name}.key.pem")),
    )?)
}

fn channel(addr: SocketAddr, name: &str, creds: &Credentials) -> Result<Channel, BenchError> {
    Ok(renkei_transport::channel(
        &addr.to_string(),
        name,
        creds,
        &ClientOptions::default(),
    )?)
}

async fn shutdown(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

impl Baseline {
    /// Starts the three servers on loopback with the keys and certificates in `certs`.
    pub async fn start(certs: &Path, spec: BaselineSpec) -> Result<Baseline, BenchError> {
        let keys = certs.join("keys");
        let code = |c: &AgencyCode| c.as_str().to_owned();
        let symbols = renkei_crypto::read_symbol_key(&keys.join("hub.symbol.key"))?;
        let my = MyNumber::parse(&spec.my_number).map_err(|e| BenchError::Setup(e.to_string()))?;
        let inquirer_symbol = symbols.symbol_for(&spec.inquirer, &my);

        let bind = || TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)));
        let (provider_l, hub_l, local_l) = (
            bind().await.map_err(|e| BenchError::Setup(e.to_string()))?,
            bind().await.map_err(|e| BenchError::Setup(e.to_string()))?,
            bind().await.map_err(|e| BenchError::Setup(e.to_string()))?,
        );
        let provider_addr = provider_l
            .local_addr()
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        let hub_addr = hub_l
            .local_addr()
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        let local = local_l
            .local_addr()
            .map_err(|e| BenchError::Setup(e.to_string()))?;

        let hub_signing = renkei_crypto::read_signing_key(&keys.join("hub.sign.key"))?;
        let provider = Provider {
            permit_key: hub_signing.public_key(),
            signing: renkei_crypto::read_signing_key(
                &keys.join(format!("{}.sign.key", spec.provider)),
            )?,
            inquirer_enc: renkei_crypto::read_encryption_public_key(
                &keys.join(format!("{}.enc.pub", spec.inquirer)),
            )?,
            content: spec.content.clone(),
        };
        let hub = BaselineHub {
            signing: hub_signing,
            symbols,
            provider_code: spec.provider.clone(),
            to_provider: GatewayNetworkClient::new(channel(
                provider_addr,
                GATEWAY_NAME,
                &load_creds(certs, "hub")?,
            )?),
        };
        let inquirer = Inquirer {
            code: code(&spec.inquirer),
            provider: code(&spec.provider),
            symbol: inquirer_symbol,
            encryption: renkei_crypto::read_encryption_key(
                &keys.join(format!("{}.enc.key", spec.inquirer)),
            )?,
            provider_key: renkei_crypto::read_verifying_key(
                &keys.join(format!("{}.sign.pub", spec.provider)),
            )?,
            to_hub: HubClient::new(channel(
                hub_addr,
                HUB_NAME,
                &load_creds(certs, &format!("tenant-{}", spec.inquirer))?,
            )?),
        };

        let gateway_creds = load_creds(certs, "gateway")?;
        let hub_creds = load_creds(certs, "hub")?;
        let (stop, rx) = watch::channel(false);
        let opts = options(spec.rate_limit);
        let mut tasks = Vec::new();
        let routes = tonic::service::Routes::new(GatewayNetworkServer::new(provider));
        let (c, o, r) = (gateway_creds.clone(), opts.clone(), rx.clone());
        tasks.push(tokio::spawn(async move {
            renkei_transport::serve(provider_l, &c, routes, &[], o, shutdown(r)).await
        }));
        let routes = tonic::service::Routes::new(HubServer::new(hub));
        let (o, r) = (opts.clone(), rx.clone());
        tasks.push(tokio::spawn(async move {
            renkei_transport::serve(hub_l, &hub_creds, routes, &[], o, shutdown(r)).await
        }));
        let routes = tonic::service::Routes::new(InquiriesServer::new(inquirer));
        tasks.push(tokio::spawn(async move {
            renkei_transport::serve(local_l, &gateway_creds, routes, &[], opts, shutdown(rx)).await
        }));
        Ok(Baseline { local, stop, tasks })
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

struct Inquirer {
    code: String,
    provider: String,
    symbol: Vec<u8>,
    encryption: EncryptionKey,
    provider_key: VerifyingKey,
    to_hub: HubClient<Channel>,
}

#[tonic::async_trait]
impl Inquiries for Inquirer {
    async fn submit_inquiry(
        &self,
        req: Request<SubmitInquiryRequest>,
    ) -> Result<Response<Inquiry>, Status> {
        let req = req.into_inner();
        let now = now_ms();
        let inquiry_id = new_id(
            IdKind::Inquiry,
            now,
            renkei_crypto::random_bytes::<8>().map_err(internal)?,
        );
        let envelope = InquiryEnvelope {
            inquiry_id: inquiry_id.clone(),
            inquirer: self.code.clone(),
            provider: self.provider.clone(),
            procedure: req.procedure.clone(),
            item: req.item,
            created_at_ms: now,
            nonce: renkei_crypto::random_bytes::<16>()
                .map_err(internal)?
                .to_vec(),
            disclose_after_ms: 0,
        }
        .encode_to_vec();
        let resp = self
            .to_hub
            .clone()
            .exchange(ExchangeRequest {
                envelope,
                inquirer_symbol: self.symbol.clone(),
            })
            .await?
            .into_inner();
        let Some(exchange_response::Result::Answer(sealed)) = resp.result else {
            return Err(Status::internal("the baseline hub did not answer"));
        };
        let ctx = AnswerContext {
            permit_id: resp.permit_id.clone(),
            inquirer: self.code.clone(),
            provider: self.provider.clone(),
        };
        let plain =
            open_answer(&sealed, &ctx, &self.encryption, &self.provider_key).map_err(internal)?;
        let payload = AnswerPayload::decode(plain.as_slice()).map_err(internal)?;
        Ok(Response::new(Inquiry {
            inquiry_id,
            idempotency_key: req.idempotency_key,
            unified_address_number: req.unified_address_number,
            provider: req.provider,
            procedure: req.procedure,
            item: req.item,
            state: InquiryState::Answered as i32,
            content: payload.content,
            permit_id: resp.permit_id,
            submitted_at_ms: now,
            completed_at_ms: now_ms(),
            ..Default::default()
        }))
    }

    async fn get_inquiry(
        &self,
        _: Request<GetInquiryRequest>,
    ) -> Result<Response<Inquiry>, Status> {
        Err(Status::unimplemented("baseline"))
    }

    type WatchInquiryStream = tokio_stream::Empty<Result<Inquiry, Status>>;

    async fn watch_inquiry(
        &self,
        _: Request<GetInquiryRequest>,
    ) -> Result<Response<Self::WatchInquiryStream>, Status> {
        Err(Status::unimplemented("baseline"))
    }

    async fn list_inquiries(
        &self,
        _: Request<ListInquiriesRequest>,
    ) -> Result<Response<ListInquiriesResponse>, Status> {
        Err(Status::unimplemented("baseline"))
    }
}

struct BaselineHub {
    signing: SigningKey,
    symbols: SymbolKey,
    provider_code: AgencyCode,
    to_provider: GatewayNetworkClient<Channel>,
}

#[tonic::async_trait]
impl Hub for BaselineHub {
    async fn issue_symbols(
        &self,
        _: Request<IssueSymbolsRequest>,
    ) -> Result<Response<IssueSymbolsResponse>, Status> {
        Err(Status::unimplemented("baseline"))
    }

    async fn get_master_data(
        &self,
        _: Request<GetMasterDataRequest>,
    ) -> Result<Response<GetMasterDataResponse>, Status> {
        Err(Status::unimplemented("baseline"))
    }

    async fn exchange(
        &self,
        req: Request<ExchangeRequest>,
    ) -> Result<Response<ExchangeResponse>, Status> {
        let caller = renkei_transport::peer(&req)?
            .role
            .agency()
            .cloned()
            .ok_or_else(|| Status::permission_denied("not a tenant"))?;
        let req = req.into_inner();
        let env = InquiryEnvelope::decode(req.envelope.as_slice()).map_err(internal)?;
        let person = self
            .symbols
            .open_symbol(&caller, &req.inquirer_symbol)
            .map_err(internal)?;
        let now = now_ms();
        let permit = Permit {
            permit_id: new_id(
                IdKind::Permit,
                now,
                renkei_crypto::random_bytes::<8>().map_err(internal)?,
            ),
            inquiry_id: env.inquiry_id,
            inquirer: env.inquirer,
            provider: env.provider,
            procedure: env.procedure,
            item: env.item,
            provider_symbol: self.symbols.symbol(&self.provider_code, &person),
            envelope_sha256: renkei_crypto::sha256(&req.envelope).to_vec(),
            issued_at_ms: now,
            expires_at_ms: now + 60_000,
            master_version: 1,
        };
        let permit_id = permit.permit_id.clone();
        let signed = sign_permit(&self.signing, &permit);
        let delivered = self
            .to_provider
            .clone()
            .deliver_inquiry(DeliverInquiryRequest {
                to: self.provider_code.to_string(),
                envelope: req.envelope,
                permit: Some(signed),
            })
            .await?
            .into_inner();
        let Some(deliver_inquiry_response::Result::Answer(answer)) = delivered.result else {
            return Err(Status::internal("the baseline provider did not answer"));
        };
        let _ = renkei_crypto::sha256(&answer.ciphertext);
        Ok(Response::new(ExchangeResponse {
            permit_id,
            result: Some(exchange_response::Result::Answer(answer)),
        }))
    }

    async fn deliver_late_answer(
        &self,
        _: Request<DeliverLateAnswerRequest>,
    ) -> Result<Response<DeliverLateAnswerResponse>, Status> {
        Err(Status::unimplemented("baseline"))
    }
}

struct Provider {
    permit_key: VerifyingKey,
    signing: SigningKey,
    inquirer_enc: [u8; 32],
    content: Content,
}

#[tonic::async_trait]
impl GatewayNetwork for Provider {
    async fn deliver_inquiry(
        &self,
        req: Request<DeliverInquiryRequest>,
    ) -> Result<Response<DeliverInquiryResponse>, Status> {
        let req = req.into_inner();
        let signed = req
            .permit
            .ok_or_else(|| Status::invalid_argument("no permit"))?;
        let permit = verify_permit(&self.permit_key, &signed).map_err(internal)?;
        if renkei_crypto::sha256(&req.envelope).as_slice() != permit.envelope_sha256.as_slice() {
            return Err(Status::invalid_argument("envelope mismatch"));
        }
        let mut payload = AnswerPayload {
            permit_id: permit.permit_id.clone(),
            inquiry_id: permit.inquiry_id.clone(),
            status: answer_payload::Status::Found as i32,
            content: Some(self.content.clone()),
            padding: Vec::new(),
        };
        pad_answer_payload(&mut payload);
        let ctx = AnswerContext {
            permit_id: permit.permit_id,
            inquirer: permit.inquirer,
            provider: permit.provider,
        };
        let sealed = seal_answer(
            &payload.encode_to_vec(),
            &ctx,
            &self.inquirer_enc,
            &self.signing,
        )
        .map_err(internal)?;
        let _ = renkei_crypto::sha256(&sealed.ciphertext);
        Ok(Response::new(DeliverInquiryResponse {
            result: Some(deliver_inquiry_response::Result::Answer(sealed)),
        }))
    }

    async fn deliver_answer(
        &self,
        _: Request<DeliverAnswerRequest>,
    ) -> Result<Response<DeliverAnswerResponse>, Status> {
        Err(Status::unimplemented("baseline"))
    }
}
