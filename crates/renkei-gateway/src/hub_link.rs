//! The gateway's one seam to the hub. Tenants hold an `Arc<dyn HubLink>` rather than the
//! tonic client, so a test can answer for the hub without a socket, and the exchange logic
//! cannot depend on anything about the link but these calls.

use renkei_proto::v1::hub_client::HubClient;
use renkei_proto::v1::{
    DeliverLateAnswerRequest, DeliverLateAnswerResponse, ExchangeRequest, ExchangeResponse,
    GetMasterDataRequest, GetMasterDataResponse, IssueSymbolsRequest, IssueSymbolsResponse,
};
use tonic::async_trait;
use tonic::transport::Channel;
use tonic::{Response, Status};

/// The hub calls a gateway makes. Signatures follow the generated client, so a call site
/// reads the same whichever link stands behind it.
#[async_trait]
pub(crate) trait HubLink: Send + Sync + std::fmt::Debug {
    async fn exchange(&self, req: ExchangeRequest) -> Result<Response<ExchangeResponse>, Status>;
    async fn deliver_late_answer(
        &self,
        req: DeliverLateAnswerRequest,
    ) -> Result<Response<DeliverLateAnswerResponse>, Status>;
    async fn issue_symbols(
        &self,
        req: IssueSymbolsRequest,
    ) -> Result<Response<IssueSymbolsResponse>, Status>;
    async fn get_master_data(
        &self,
        req: GetMasterDataRequest,
    ) -> Result<Response<GetMasterDataResponse>, Status>;
}

/// The hub over mTLS: the generated client on one channel (cloning it is cheap and lets
/// concurrent calls share the connection).
#[async_trait]
impl HubLink for HubClient<Channel> {
    async fn exchange(&self, req: ExchangeRequest) -> Result<Response<ExchangeResponse>, Status> {
        HubClient::exchange(&mut self.clone(), req).await
    }

    async fn deliver_late_answer(
        &self,
        req: DeliverLateAnswerRequest,
    ) -> Result<Response<DeliverLateAnswerResponse>, Status> {
        HubClient::deliver_late_answer(&mut self.clone(), req).await
    }

    async fn issue_symbols(
        &self,
        req: IssueSymbolsRequest,
    ) -> Result<Response<IssueSymbolsResponse>, Status> {
        HubClient::issue_symbols(&mut self.clone(), req).await
    }

    async fn get_master_data(
        &self,
        req: GetMasterDataRequest,
    ) -> Result<Response<GetMasterDataResponse>, Status> {
        HubClient::get_master_data(&mut self.clone(), req).await
    }
}
