//! The outermost layer of every server: a gate the owner controls (maintenance mode) and the
//! per-method, per-outcome metrics.
//!
//! The outcome of a gRPC call is only known at its end: `grpc-status` comes in the response
//! headers for an immediate error, otherwise in the trailers after the last message. The
//! response body is therefore wrapped, and the call is counted when the body ends (or is
//! dropped: a client that went away is counted as `CANCELLED`).

use std::collections::HashSet;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use http_body::{Body, Frame, SizeHint};

use crate::PeerIdentity;
use crate::metrics::{IN_FLIGHT, Metrics, REQUEST_DURATION, REQUESTS_TOTAL, code_name};

/// Decides, before any handler runs, whether a call is admitted (e.g. refused during
/// maintenance). Sees only the method path, never the request.
pub trait RequestGate: Send + Sync + fmt::Debug + 'static {
    /// `Err(status)` refuses the call with that status.
    fn check(&self, path: &str) -> Result<(), tonic::Status>;
}

#[derive(Clone, Debug)]
pub(crate) struct EdgeLayer {
    pub(crate) metrics: Option<Metrics>,
    pub(crate) gate: Option<Arc<dyn RequestGate>>,
}

impl<S> tower::Layer<S> for EdgeLayer {
    type Service = EdgeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EdgeService {
            inner,
            metrics: self.metrics.clone(),
            gate: self.gate.clone(),
            methods: crate::metrics::known_methods(),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct EdgeService<S> {
    inner: S,
    metrics: Option<Metrics>,
    gate: Option<Arc<dyn RequestGate>>,
    methods: &'static HashSet<String>,
}

/// One call being measured; counted once, when dropped.
struct Recording {
    metrics: Metrics,
    method: String,
    caller: &'static str,
    tenant: String,
    started: Instant,
    code: Option<tonic::Code>,
}

impl Recording {
    fn set_code_from(&mut self, headers: &http::HeaderMap) {
        if let Some(v) = headers.get("grpc-status") {
            let code = v
                .to_str()
                .ok()
                .and_then(|s| s.parse::<i32>().ok())
                .map_or(tonic::Code::Unknown, tonic::Code::from_i32);
            self.code = Some(code);
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let code = code_name(self.code.unwrap_or(tonic::Code::Cancelled));
        let seconds = self.started.elapsed().as_secs_f64();
        let method = std::mem::take(&mut self.method);
        let tenant = std::mem::take(&mut self.tenant);
        let caller = self.caller;
        self.metrics.record(|| {
            metrics::gauge!(IN_FLIGHT, "method" => method.clone()).decrement(1.0);
            metrics::counter!(
                REQUESTS_TOTAL,
                "method" => method.clone(),
                "code" => code,
                "caller" => caller,
                "tenant" => tenant
            )
            .increment(1);
            metrics::histogram!(REQUEST_DURATION, "method" => method, "code" => code)
                .record(seconds);
        });
    }
}

/// The role kind of a caller: a fixed word, never its name.
fn caller_kind(peer: &PeerIdentity) -> &'static str {
    use crate::Role::*;
    match peer.role {
        Hub => "hub",
        Gateway { .. } => "gateway",
        Tenant { .. } => "tenant",
        BackOffice { .. } => "backoffice",
        Auditor { .. } => "auditor",
        Portal { .. } => "portal",
        Terminal { .. } => "terminal",
    }
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for EdgeService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<EdgeBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let path = req.uri().path();
        let mut recording = self.metrics.as_ref().map(|metrics| {
            let method = if self.methods.contains(path) {
                path.to_owned()
            } else {
                "unknown".to_owned()
            };
            let peer = req.extensions().get::<PeerIdentity>();
            let caller = peer.map_or("none", caller_kind);
            let tenant = peer
                .and_then(|p| p.role.agency())
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default();
            metrics
                .record(|| metrics::gauge!(IN_FLIGHT, "method" => method.clone()).increment(1.0));
            Recording {
                metrics: metrics.clone(),
                method,
                caller,
                tenant,
                started: Instant::now(),
                code: None,
            }
        });
        if let Some(gate) = &self.gate
            && let Err(status) = gate.check(path)
        {
            if let Some(r) = &mut recording {
                r.code = Some(status.code());
            }
            let (parts, body) = status.into_http::<ResBody>().into_parts();
            let response = http::Response::from_parts(
                parts,
                EdgeBody {
                    inner: body,
                    recording,
                },
            );
            return Box::pin(async move { Ok(response) });
        }
        let fut = self.inner.call(req);
        Box::pin(async move {
            let response = fut.await?;
            let (parts, body) = response.into_parts();
            if let Some(r) = &mut recording {
                r.set_code_from(&parts.headers);
            }
            Ok(http::Response::from_parts(
                parts,
                EdgeBody {
                    inner: body,
                    recording,
                },
            ))
        })
    }
}

/// A response body that reports the call's outcome when it ends.
pub(crate) struct EdgeBody<B> {
    inner: B,
    recording: Option<Recording>,
}

impl<B> fmt::Debug for EdgeBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeBody").finish_non_exhaustive()
    }
}

impl<B> Body for EdgeBody<B>
where
    B: Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(trailers), Some(r)) = (frame.trailers_ref(), &mut this.recording) {
                    r.set_code_from(trailers);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(r) = &mut this.recording
                    && r.code.is_none()
                {
                    r.code = Some(tonic::Code::Unknown);
                }
                this.recording = None;
            }
            Poll::Ready(None) => {
                if let Some(r) = &mut this.recording
                    && r.code.is_none()
                {
                    // A body that ends without a status: gRPC says that is OK only with
                    // trailers, so count it as UNKNOWN.
                    r.code = Some(tonic::Code::Unknown);
                }
                this.recording = None;
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
