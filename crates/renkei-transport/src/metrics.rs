//! Prometheus metrics of a Renkei server, without personal data in any label.
//!
//! Each server process owns one [`Metrics`] registry (not the `metrics` crate's global
//! recorder), so a hub and a gateway in one process — as in `renkei demo` and the tests —
//! keep separate counts. The edge layer of [`crate::serve_with_health`] records every gRPC
//! call; the owner adds its own gauges through [`Metrics::record`].
//!
//! Labels are limited by construction: `method` is a gRPC method path only when it names a
//! method of the Renkei API, health or reflection (anything else a client sends becomes
//! `unknown`, so a caller cannot write free text into a label), `code` is a gRPC status
//! name, `caller` a role kind and `tenant` an agency code. No request field is ever read.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use prost::Message as _;
use tokio::net::TcpListener;

use crate::TransportError;

/// Request counter, labelled `method`, `code`, `caller`, `tenant`.
pub const REQUESTS_TOTAL: &str = "renkei_grpc_requests_total";
/// Latency histogram (seconds, request received to last response byte), `method` and `code`.
pub const REQUEST_DURATION: &str = "renkei_grpc_request_duration_seconds";
/// Calls being handled now, by `method`.
pub const IN_FLIGHT: &str = "renkei_grpc_requests_in_flight";

/// Buckets of [`REQUEST_DURATION`]: a local call takes around a millisecond, an inquiry
/// through the hub tens of milliseconds, a bulk import many seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A server's metrics registry. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let builder = PrometheusBuilder::new();
        // Only fails for an empty bucket list.
        let builder = match builder.set_buckets(&DURATION_BUCKETS) {
            Ok(b) => b,
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        Metrics {
            recorder: Arc::new(recorder),
            handle,
        }
    }

    /// Runs `f` with this registry as the recorder, so the `metrics` macros in it
    /// (`counter!`, `gauge!`, `histogram!`) land here. Never put a request field in a label.
    pub fn record<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&*self.recorder, f)
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// Every gRPC method path this build serves ("/renkei.v1.Inquiries/SubmitInquiry", …), read
/// from the API's descriptors; the only paths allowed into a label.
pub(crate) fn known_methods() -> &'static HashSet<String> {
    static METHODS: OnceLock<HashSet<String>> = OnceLock::new();
    METHODS.get_or_init(|| {
        let mut set = HashSet::new();
        for encoded in [
            renkei_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ] {
            let Ok(fds) = prost_types::FileDescriptorSet::decode(encoded) else {
                continue;
            };
            for file in fds.file {
                let package = file.package();
                for service in &file.service {
                    for method in &service.method {
                        set.insert(format!("/{package}.{}/{}", service.name(), method.name()));
                    }
                }
            }
        }
        set.insert("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo".into());
        set.insert("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo".into());
        set
    })
}

/// Serves `GET /metrics` (Prometheus text format) over plain HTTP/1.1 on `listener` until
/// `shutdown` completes. `refresh` runs before each render, to set gauges that are cheaper
/// to read on demand than to keep current (held inquiries, ledger sizes).
///
/// Plain HTTP on purpose: Prometheus scrapers rarely hold client certificates. Bind it to
/// loopback or a management network; it carries counts, never personal data.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: Metrics,
    refresh: Arc<dyn Fn() + Send + Sync>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TransportError> {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(addr = ?addr, "serving Prometheus metrics at /metrics");
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "accepting a metrics connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let metrics = metrics.clone();
        let refresh = refresh.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                let refresh = refresh.clone();
                async move {
                    if req.uri().path() == "/metrics" {
                        refresh();
                        http::Response::builder()
                            .header("content-type", "text/plain; version=0.0.4")
                            .body(metrics.render())
                    } else {
                        http::Response::builder()
                            .status(http::StatusCode::NOT_FOUND)
                            .body("only /metrics is served here\n".to_owned())
                    }
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service);
            if let Err(error) = conn.await {
                tracing::debug!(%error, "metrics connection ended with an error");
            }
        });
    }
}

/// The canonical name of a gRPC status code, as Prometheus users expect it ("OK",
/// "UNAVAILABLE").
pub(crate) fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_methods_are_known_and_free_text_is_not() {
        let m = known_methods();
        assert!(m.contains("/renkei.v1.Inquiries/SubmitInquiry"));
        assert!(m.contains("/grpc.health.v1.Health/Check"));
        assert!(!m.contains("/renkei.v1.Inquiries/山田太郎"));
    }

    #[test]
    fn a_registry_renders_what_was_recorded_in_it_only() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.record(|| metrics::counter!("renkei_test_total", "code" => "OK").increment(2));
        assert!(a.render().contains("renkei_test_total{code=\"OK\"} 2"));
        assert!(!b.render().contains("renkei_test_total"));
    }
}
