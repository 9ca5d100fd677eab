use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt as _};
use renkei_proto::v1::inquiries_server::Inquiries;
use renkei_proto::v1::provision_copies_server::ProvisionCopies;
use renkei_proto::v1::records_server::Records;
use renkei_proto::v1::symbols_server::Symbols;
use renkei_proto::v1::{
    AcquireSymbolRequest, Acquisition, BulkSummary, DeleteCopyRequest, DeleteCopyResponse,
    ExportCopiesRequest, GetAcquisitionRequest, GetInquiryRequest, Inquiry, JobKind,
    ListInquiriesRequest, ListInquiriesResponse, ListRecordsRequest, ListRecordsResponse,
    ProvisionCopy, PutCopyRequest, PutCopyResponse, RegisterAddressNumberRequest,
    RegisterAddressNumberResponse, SubmitInquiryRequest,
};
use renkei_records::RecordQuery;
use renkei_transport::{Role, peer};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::inquiry::is_final;
use crate::jobs::BulkJob;
use crate::tenant::Tenant;
use crate::{GatewayError, Inner};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[derive(Debug, Clone)]
pub(crate) struct Local {
    pub(crate) gw: Arc<Inner>,
}

impl Local {
    /// The caller's tenant, from its certificate. Nothing in a request can name another.
    pub(super) fn tenant<T>(&self, req: &Request<T>) -> Result<Arc<Tenant>, Status> {
        let id = peer(req)?;
        let Role::BackOffice { agency, .. } = &id.role else {
            return Err(GatewayError::WrongRole {
                message: format!(
                    "the local side serves back-office systems; your certificate is for {}",
                    id.role
                ),
            }
            .into_status());
        };
        self.gw
            .tenants
            .get(agency.as_str())
            .cloned()
            .ok_or_else(|| {
                GatewayError::ForeignAgency {
                    agency: agency.to_string(),
                }
                .into_status()
            })
    }
}

/// Who started a batch job, as the connection proves it (a system name, never a person).
fn started_by<T>(req: &Request<T>) -> String {
    match peer(req).map(|p| p.role.clone()) {
        Ok(Role::BackOffice { system, .. }) => format!("backoffice:{system}"),
        Ok(other) => other.to_string(),
        Err(_) => "unknown".into(),
    }
}

fn status(e: GatewayError) -> Status {
    e.into_status()
}

#[tonic::async_trait]
impl Symbols for Local {
    async fn register_address_number(
        &self,
        req: Request<RegisterAddressNumberRequest>,
    ) -> Result<Response<RegisterAddressNumberResponse>, Status> {
        let t = self.tenant(&req)?;
        let newly_registered = t
            .register(&req.get_ref().unified_address_number)
            .await
            .map_err(status)?;
        Ok(Response::new(RegisterAddressNumberResponse {
            newly_registered,
        }))
    }

    async fn register_address_numbers(
        &self,
        req: Request<Streaming<RegisterAddressNumberRequest>>,
    ) -> Result<Response<BulkSummary>, Status> {
        let t = self.tenant(&req)?;
        let job = t
            .jobs
            .start(JobKind::RegisterAddressNumbers, started_by(&req))
            .map_err(status)?;
        let mut bulk = BulkJob::new(job, req.into_inner());
        while let Some(chunk) = bulk.next_chunk().await {
            let uans: Vec<String> = chunk
                .items
                .into_iter()
                .map(|r| r.unified_address_number)
                .collect();
            if let Err(e) = t
                .register_batch(chunk.first, &uans, &mut bulk.summary)
                .await
            {
                return Err(status(bulk.fail(e)));
            }
            bulk.progress();
        }
        let end = bulk.end();
        t.commit().await.map_err(status)?;
        end.into_result("request").map(Response::new)
    }

    async fn acquire_symbol(
        &self,
        req: Request<AcquireSymbolRequest>,
    ) -> Result<Response<Acquisition>, Status> {
        let t = self.tenant(&req)?;
        t.acquire(req.get_ref())
            .await
            .map(Response::new)
            .map_err(status)
    }

    type AcquireSymbolsStream = BoxStream<Acquisition>;

    async fn acquire_symbols(
        &self,
        req: Request<Streaming<AcquireSymbolRequest>>,
    ) -> Result<Response<Self::AcquireSymbolsStream>, Status> {
        let t = self.tenant(&req)?;
        let job = t
            .jobs
            .start(JobKind::AcquireSymbols, started_by(&req))
            .map_err(status)?;
        let mut bulk = BulkJob::new(job, req.into_inner());
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            // Results stream back as they come, so a failed record is its own answer
            // (an Acquisition with an error), counted as rejected.
            while let Some(chunk) = bulk.next_chunk().await {
                let results = match t.acquire_many(chunk.first, &chunk.items).await {
                    Ok(results) => results,
                    Err(e) => {
                        let e = bulk.fail(e);
                        let _ = tx.send(Err(status(e))).await;
                        return;
                    }
                };
                let failed = results.iter().filter(|a| !a.error.is_empty()).count() as u64;
                bulk.summary.rejected += failed;
                bulk.summary.accepted += results.len() as u64 - failed;
                bulk.progress();
                for a in results {
                    if tx.send(Ok(a)).await.is_err() {
                        bulk.cancel("the client went away before reading every result");
                        return;
                    }
                }
            }
            let broken = bulk.broken().cloned();
            bulk.end();
            if let Some(s) = broken {
                let _ = tx.send(Err(s)).await;
                return;
            }
            if let Err(e) = t.commit().await {
                tracing::warn!(tenant = %t.code, error = %e, "job state not committed");
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_acquisition(
        &self,
        req: Request<GetAcquisitionRequest>,
    ) -> Result<Response<Acquisition>, Status> {
        let t = self.tenant(&req)?;
        t.get_acquisition(&req.get_ref().processing_serial)
            .await
            .map(Response::new)
            .map_err(status)
    }

    type GetAcquisitionsStream = BoxStream<Acquisition>;

    async fn get_acquisitions(
        &self,
        req: Request<Streaming<GetAcquisitionRequest>>,
    ) -> Result<Response<Self::GetAcquisitionsStream>, Status> {
        let t = self.tenant(&req)?;
        let stream = req.into_inner().enumerate().then(move |(i, item)| {
            let t = t.clone();
            async move {
                let r = item?;
                Ok(match t.get_acquisition(&r.processing_serial).await {
                    Ok(mut a) => {
                        a.index = i as u64;
                        a
                    }
                    // An unknown serial is that item's answer, not the stream's end.
                    Err(e) => match status(e) {
                        s if s.code() == tonic::Code::NotFound => Acquisition {
                            processing_serial: r.processing_serial,
                            error: s.message().to_owned(),
                            index: i as u64,
                            ..Default::default()
                        },
                        s => return Err(s),
                    },
                })
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

#[tonic::async_trait]
impl ProvisionCopies for Local {
    async fn put_copy(
        &self,
        req: Request<PutCopyRequest>,
    ) -> Result<Response<PutCopyResponse>, Status> {
        let t = self.tenant(&req)?;
        let master = self.gw.master.get().map_err(status)?;
        let copy = req
            .into_inner()
            .copy
            .ok_or_else(|| status(GatewayError::invalid("copy", "is required")))?;
        let allowed = master.items_provided_by(t.code.as_str());
        let replaced = t.put_copy(copy, &allowed).await.map_err(status)?;
        Ok(Response::new(PutCopyResponse { replaced }))
    }

    async fn import_copies(
        &self,
        req: Request<Streaming<PutCopyRequest>>,
    ) -> Result<Response<BulkSummary>, Status> {
        let t = self.tenant(&req)?;
        let master = self.gw.master.get().map_err(status)?;
        let allowed = master.items_provided_by(t.code.as_str());
        let job = t
            .jobs
            .start(JobKind::ImportCopies, started_by(&req))
            .map_err(status)?;
        let mut bulk = BulkJob::new(job, req.into_inner());
        while let Some(chunk) = bulk.next_chunk().await {
            // A record without a copy is reported like any other bad copy.
            let copies = chunk.items.into_iter().map(|r| r.copy.unwrap_or_default());
            let chunk_result = t
                .import_batch(chunk.first, copies.collect(), &allowed, &mut bulk.summary)
                .await;
            if let Err(e) = chunk_result {
                return Err(status(bulk.fail(e)));
            }
            bulk.progress();
        }
        let end = bulk.end();
        t.commit().await.map_err(status)?;
        let summary = &end.summary;
        tracing::info!(tenant = %t.code, accepted = summary.accepted, rejected = summary.rejected, "provision copies imported");
        end.into_result("request").map(Response::new)
    }

    type ExportCopiesStream = BoxStream<ProvisionCopy>;

    async fn export_copies(
        &self,
        req: Request<ExportCopiesRequest>,
    ) -> Result<Response<Self::ExportCopiesStream>, Status> {
        let t = self.tenant(&req)?;
        let copies = t
            .export_copies(req.get_ref().item)
            .map(|c| c.map_err(status));
        Ok(Response::new(Box::pin(copies)))
    }

    async fn delete_copy(
        &self,
        req: Request<DeleteCopyRequest>,
    ) -> Result<Response<DeleteCopyResponse>, Status> {
        let t = self.tenant(&req)?;
        let r = req.get_ref();
        let existed = t
            .delete_copy(&r.unified_address_number, r.item)
            .await
            .map_err(status)?;
        Ok(Response::new(DeleteCopyResponse { existed }))
    }
}

#[tonic::async_trait]
impl Inquiries for Local {
    async fn submit_inquiry(
        &self,
        req: Request<SubmitInquiryRequest>,
    ) -> Result<Response<Inquiry>, Status> {
        let t = self.tenant(&req)?;
        let master = self.gw.master.get().map_err(status)?;
        t.submit(&master, req.into_inner())
            .await
            .map(Response::new)
            .map_err(status)
    }

    async fn get_inquiry(
        &self,
        req: Request<GetInquiryRequest>,
    ) -> Result<Response<Inquiry>, Status> {
        let t = self.tenant(&req)?;
        t.get_inquiry(&req.get_ref().inquiry_id)
            .await
            .map(Response::new)
            .map_err(status)
    }

    type WatchInquiryStream = BoxStream<Inquiry>;

    async fn watch_inquiry(
        &self,
        req: Request<GetInquiryRequest>,
    ) -> Result<Response<Self::WatchInquiryStream>, Status> {
        let t = self.tenant(&req)?;
        let id = req.into_inner().inquiry_id;
        // Subscribe before reading, so no change between the two is missed.
        let mut updates = t.updates.subscribe();
        let current = t.get_inquiry(&id).await.map_err(status)?;
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(async move {
            let done = is_final(current.state);
            if tx.send(Ok(current)).await.is_err() || done {
                return;
            }
            loop {
                let next = match updates.recv().await {
                    Ok(inq) if inq.inquiry_id == id => (*inq).clone(),
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        match t.get_inquiry(&id).await {
                            Ok(i) => i,
                            Err(e) => {
                                let _ = tx.send(Err(status(e))).await;
                                return;
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let done = is_final(next.state);
                if tx.send(Ok(next)).await.is_err() || done {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list_inquiries(
        &self,
        req: Request<ListInquiriesRequest>,
    ) -> Result<Response<ListInquiriesResponse>, Status> {
        let t = self.tenant(&req)?;
        let (inquiries, next_page_token) = t.list_inquiries(req.get_ref()).await.map_err(status)?;
        Ok(Response::new(ListInquiriesResponse {
            inquiries,
            next_page_token,
        }))
    }
}

#[tonic::async_trait]
impl Records for Local {
    async fn list_records(
        &self,
        req: Request<ListRecordsRequest>,
    ) -> Result<Response<ListRecordsResponse>, Status> {
        let t = self.tenant(&req)?;
        let r = req.into_inner();
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let q = RecordQuery {
            unified_address_number: non_empty(r.unified_address_number),
            inquiry_id: non_empty(r.inquiry_id),
            since_ms: (r.since_ms != 0).then_some(r.since_ms),
            until_ms: (r.until_ms != 0).then_some(r.until_ms),
            limit: r.limit.min(10_000) as usize,
            ..Default::default()
        };
        let records = t.records.query(&q).map_err(|e| status(e.into()))?;
        Ok(Response::new(ListRecordsResponse { records }))
    }
}
