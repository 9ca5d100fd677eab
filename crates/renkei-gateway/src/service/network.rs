use std::sync::Arc;

use renkei_proto::v1::gateway_network_server::GatewayNetwork;
use renkei_proto::v1::{
    DeliverAnswerRequest, DeliverAnswerResponse, DeliverInquiryRequest, DeliverInquiryResponse,
    Refusal, RefusalCode, deliver_inquiry_response,
};
use renkei_transport::{Role, peer};
use tonic::{Request, Response, Status};

use crate::{GatewayError, Inner};

#[derive(Debug, Clone)]
pub(crate) struct Network {
    pub(crate) gw: Arc<Inner>,
}

fn require_hub<T>(req: &Request<T>) -> Result<(), Status> {
    let id = peer(req)?;
    if matches!(id.role, Role::Hub) {
        Ok(())
    } else {
        Err(GatewayError::WrongRole {
            message: format!(
                "the network side accepts only the hub; your certificate is for {}",
                id.role
            ),
        }
        .into_status())
    }
}

fn refusal(code: RefusalCode, message: String) -> Response<DeliverInquiryResponse> {
    Response::new(DeliverInquiryResponse {
        result: Some(deliver_inquiry_response::Result::Refused(Refusal {
            code: code as i32,
            message,
            refused_by: "gateway".into(),
        })),
    })
}

#[tonic::async_trait]
impl GatewayNetwork for Network {
    async fn deliver_inquiry(
        &self,
        req: Request<DeliverInquiryRequest>,
    ) -> Result<Response<DeliverInquiryResponse>, Status> {
        require_hub(&req)?;
        let req = req.into_inner();
        let Some(tenant) = self.gw.tenants.get(&req.to) else {
            return Ok(refusal(
                RefusalCode::PermitMisaddressed,
                format!("this gateway does not host agency {:?}", req.to),
            ));
        };
        let master = match self.gw.master.get() {
            Ok(m) => m,
            Err(e) => return Ok(refusal(RefusalCode::Unavailable, e.to_string())),
        };
        let key = self.gw.master.permit_key(&master);
        tenant
            .provide(&master, &key, req)
            .await
            .map(Response::new)
            .map_err(GatewayError::into_status)
    }

    async fn deliver_answer(
        &self,
        req: Request<DeliverAnswerRequest>,
    ) -> Result<Response<DeliverAnswerResponse>, Status> {
        require_hub(&req)?;
        let answer = req
            .into_inner()
            .answer
            .ok_or_else(|| GatewayError::invalid("answer", "is required").into_status())?;
        let tenant = self.gw.tenants.get(&answer.inquirer).ok_or_else(|| {
            GatewayError::UnknownTenant {
                agency: answer.inquirer.clone(),
                hosted: self
                    .gw
                    .tenants
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            }
            .into_status()
        })?;
        let master = self.gw.master.get().map_err(GatewayError::into_status)?;
        tenant
            .complete_late(&master, &answer)
            .await
            .map_err(GatewayError::into_status)?;
        Ok(Response::new(DeliverAnswerResponse {}))
    }
}
