//! The baseline: the same three RPC legs as a real exchange (back office → inquirer's
//! gateway → hub → provider's gateway, and back), over the same mTLS transport with the same
//! rate limiter, performing the same cryptography — symbol open and derivation at the hub,
//! permit signing and verification, answer padding, sealing, signing, verification and
//! opening — but with no storage, no records, no master data and no validation.
//!
//! `renkei bench e2e --vs-baseline` divides the real throughput by this one, measured in
//! the same run, so the ratio says how much the product's own work costs on top of the
//! unavoidable transport and cryptography, whatever the machine.
//!
//! It hosts the same pairs of tenants as the real run, each inquirer with its own mTLS
//! connection to the hub (as a gateway has one per tenant), so that with many tenants the
//! baseline spreads its load over as many connections as the real servers do. Per inquiry it
//! adds only map look-ups by agency code for that.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use prost::Message;
use renkei_core::{AgencyCode, IdKind, MyNumber, SharedClock, new_id};
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

/// Who asks whom, the person every baseline inquiry is about, and the answer the provider
/// seals.
#[derive(Clone, Debug)]
pub struct BaselineSpec {
    /// (inquirer, provider): each inquirer asks exactly one provider; a tenant may be both.
    pub pairs: Vec<(AgencyCode, AgencyCode)>,
    /// Any valid My Number: the baseline derives the inquirer's symbol from it once.
    pub my_number: String,
    /// The content the provider answers with (the same size as the real bench's copies).
    pub content: Content,
    /// The same per-caller limit the real servers run with in the bench.
    pub rate_limit: RateLimit,
    /// Where envelope, permit and answer times come from, as in the real servers.
    pub clock: SharedClock,
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
        let symbols = renkei_crypto::read_symbol_key(&keys.join("hub.symbol.key"))?;
        let my = MyNumber::parse(&spec.my_number).map_err(|e| BenchError::Setup(e.to_string()))?;
        if spec.pairs.is_empty() {
            return Err(BenchError::Setup(
                "the baseline needs at least one pair".into(),
            ));
        }

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
        let mut provider = Provider {
            permit_key: hub_signing.public_key(),
            signing: HashMap::new(),
            inquirer_enc: HashMap::new(),
            content: spec.content.clone(),
        };
        let mut inquirer = Inquirer {
            sides: HashMap::new(),
            clock: spec.clock.clone(),
        };
        let mut providers = HashMap::new();
        for (inq, prov) in &spec.pairs {
            provider.signing.insert(
                prov.to_string(),
                renkei_crypto::read_signing_key(&keys.join(format!("{prov}.sign.key")))?,
            );
            provider.inquirer_enc.insert(
                inq.to_string(),
                renkei_crypto::read_encryption_public_key(&keys.join(format!("{inq}.enc.pub")))?,
            );
            providers.insert(prov.to_string(), prov.clone());
            let side = InquirerSide {
                code: inq.to_string(),
                provider: prov.to_string(),
                symbol: symbols.symbol_for(inq, &my),
                encryption: renkei_crypto::read_encryption_key(
                    &keys.join(format!("{inq}.enc.key")),
                )?,
                provider_key: renkei_crypto::read_verifying_key(
                    &keys.join(format!("{prov}.sign.pub")),
                )?,
                to_hub: HubClient::new(channel(
                    hub_addr,
                    HUB_NAME,
                    &load_creds(certs, &format!("tenant-{inq}"))?,
                )?),
            };
            if inquirer.sides.insert(inq.to_string(), side).is_some() {
                return Err(BenchError::Setup(format!(
                    "{inq} is listed as an inquirer twice; each asks one provider"
                )));
            }
        }
        let hub = BaselineHub {
            clock: spec.clock.clone(),
            signing: hub_signing,
            symbols,
            providers,
            to_provider: GatewayNetworkClient::new(channel(
                provider_addr,
                GATEWAY_NAME,
                &load_creds(certs, "hub")?,
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
    /// By the back office's agency code.
    sides: HashMap<String, InquirerSide>,
    clock: SharedClock,
}

struct InquirerSide {
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
        let caller = renkei_transport::peer(&req)?
            .role
            .agency()
            .ok_or_else(|| Status::permission_denied("not a back office"))?;
        let me = self
            .sides
            .get(caller.as_str())
            .ok_or_else(|| Status::permission_denied("not an inquirer of this baseline"))?;
        let req = req.into_inner();
        let now = self.clock.now_ms();
        let inquiry_id = new_id(
            IdKind::Inquiry,
            now,
            renkei_crypto::random_bytes::<8>().map_err(internal)?,
        );
        let envelope = InquiryEnvelope {
            inquiry_id: inquiry_id.clone(),
            inquirer: me.code.clone(),
            provider: me.provider.clone(),
            procedure: req.procedure.clone(),
            item: req.item,
            created_at_ms: now,
            nonce: renkei_crypto::random_bytes::<16>()
                .map_err(internal)?
                .to_vec(),
            disclose_after_ms: 0,
        }
        .encode_to_vec();
        let resp = me
            .to_hub
            .clone()
            .exchange(ExchangeRequest {
                envelope,
                inquirer_symbol: me.symbol.clone(),
            })
            .await?
            .into_inner();
        let Some(exchange_response::Result::Answer(sealed)) = resp.result else {
            return Err(Status::internal("the baseline hub did not answer"));
        };
        let ctx = AnswerContext {
            permit_id: resp.permit_id.clone(),
            inquirer: me.code.clone(),
            provider: me.provider.clone(),
        };
        let plain =
            open_answer(&sealed, &ctx, &me.encryption, &me.provider_key).map_err(internal)?;
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
            completed_at_ms: self.clock.now_ms(),
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
    clock: SharedClock,
    signing: SigningKey,
    symbols: SymbolKey,
    /// The providers' codes, parsed once.
    providers: HashMap<String, AgencyCode>,
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
        let provider_code = self
            .providers
            .get(&env.provider)
            .ok_or_else(|| Status::not_found("not a provider of this baseline"))?
            .clone();
        let person = self
            .symbols
            .open_symbol(&caller, &req.inquirer_symbol)
            .map_err(internal)?;
        let now = self.clock.now_ms();
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
            provider_symbol: self.symbols.symbol(&provider_code, &person),
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
                to: provider_code.to_string(),
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

    async fn witness_tree_head(
        &self,
        _: Request<renkei_proto::v1::WitnessTreeHeadRequest>,
    ) -> Result<Response<renkei_proto::v1::WitnessedHead>, Status> {
        Err(Status::unimplemented("baseline"))
    }

    async fn get_witnessed_head(
        &self,
        _: Request<renkei_proto::v1::GetWitnessedHeadRequest>,
    ) -> Result<Response<renkei_proto::v1::GetWitnessedHeadResponse>, Status> {
        Err(Status::unimplemented("baseline"))
    }
}

struct Provider {
    permit_key: VerifyingKey,
    /// By provider code.
    signing: HashMap<String, SigningKey>,
    /// By inquirer code.
    inquirer_enc: HashMap<String, [u8; 32]>,
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
        let (Some(inquirer_enc), Some(signing)) = (
            self.inquirer_enc.get(&ctx.inquirer),
            self.signing.get(&ctx.provider),
        ) else {
            return Err(Status::not_found("not a pair of this baseline"));
        };
        let sealed =
            seal_answer(&payload.encode_to_vec(), &ctx, inquirer_enc, signing).map_err(internal)?;
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
