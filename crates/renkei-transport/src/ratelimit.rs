//! Per-caller, per-method rate limiting (ARCHITECTURE §4 property 7).
//!
//! The key is (caller identity URI, gRPC method path): one noisy back office cannot starve
//! another tenant, and a flood of one method (say, bulk symbol acquisition) does not lock the
//! same caller out of unrelated calls such as health checks.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::{Either, Ready, ready};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tonic::metadata::{MetadataMap, MetadataValue};

use crate::{PeerIdentity, TransportError};

/// Allowed request rate for one (caller, method) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Requests that may arrive at once after a quiet period.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: 200,
            burst: 400,
        }
    }
}

/// How often idle keys are dropped from the limiter's map, so memory stays proportional to
/// the callers active in the last moments rather than to every path ever requested.
pub(crate) const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(60);

type Key = (String, String);

/// Tower layer answering `RESOURCE_EXHAUSTED` once a (caller, method) pair exceeds its quota.
///
/// Needs the [`PeerIdentity`] in the request extensions, which tonic inserts from the
/// connection's `ConnectInfo` *outside* every `Server::layer` (see `tonic::transport::server`
/// `MakeSvc::call`: the `ConnectInfoLayer` wraps the layered service). A request without one
/// is refused with `UNAUTHENTICATED`, so a wiring mistake fails closed.
#[derive(Clone, Debug)]
pub(crate) struct RateLimitLayer {
    limiter: Arc<DefaultKeyedRateLimiter<Key>>,
    limit: RateLimit,
}

impl RateLimitLayer {
    pub(crate) fn new(limit: RateLimit) -> Result<Self, TransportError> {
        let nz = |v: u32, what: &str| {
            NonZeroU32::new(v).ok_or_else(|| TransportError::Options {
                reason: format!("rate_limit.{what} must be at least 1"),
            })
        };
        let quota = Quota::per_second(nz(limit.per_second, "per_second")?)
            .allow_burst(nz(limit.burst, "burst")?);
        Ok(RateLimitLayer {
            limiter: Arc::new(RateLimiter::keyed(quota)),
            limit,
        })
    }

    /// Drops keys whose bucket has refilled completely (they behave exactly like absent
    /// keys). Runs until the task is aborted.
    pub(crate) async fn housekeeping(self) {
        let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limiter: self.limiter.clone(),
            limit: self.limit,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct RateLimitService<S> {
    inner: S,
    limiter: Arc<DefaultKeyedRateLimiter<Key>>,
    limit: RateLimit,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for RateLimitService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Self::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        match self.check(&req) {
            Ok(()) => Either::Left(self.inner.call(req)),
            Err(status) => Either::Right(ready(Ok(status.into_http()))),
        }
    }
}

impl<S> RateLimitService<S> {
    fn check<B>(&self, req: &http::Request<B>) -> Result<(), tonic::Status> {
        let path = req.uri().path();
        let Some(peer) = req.extensions().get::<PeerIdentity>() else {
            tracing::error!(
                path,
                "request without a peer identity reached the rate limiter; refusing it"
            );
            return Err(tonic::Status::unauthenticated(
                "no authenticated peer identity on this connection",
            ));
        };
        let uri = peer.role.to_uri();
        let key = (uri, path.to_owned());
        match self.limiter.check_key(&key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let (uri, path) = key;
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
                tracing::debug!(
                    peer = %uri,
                    remote = ?peer.remote_addr,
                    path = %path,
                    retry_after_ms = wait_ms,
                    "rate limit exceeded"
                );
                let mut metadata = MetadataMap::new();
                // gRPC's retry pushback header: a retrying client waits this long.
                metadata.insert("grpc-retry-pushback-ms", MetadataValue::from(wait_ms));
                Err(tonic::Status::with_metadata(
                    tonic::Code::ResourceExhausted,
                    format!(
                        "rate limit exceeded: {uri} may call {path} at most {} requests per \
                         second (burst {}); retry in {wait_ms} ms",
                        self.limit.per_second, self.limit.burst
                    ),
                    metadata,
                ))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::convert::Infallible;

    use tower::{Layer, Service, ServiceExt};

    use super::*;
    use crate::Role;

    fn request(peer: Option<Role>) -> http::Request<()> {
        let mut req = http::Request::builder()
            .uri("/renkei.v1.Hub/RequestPermit")
            .body(())
            .unwrap();
        if let Some(role) = peer {
            req.extensions_mut().insert(PeerIdentity {
                role,
                remote_addr: None,
                cert_sha256: [0; 32],
            });
        }
        req
    }

    fn grpc_status(resp: &http::Response<String>) -> Option<&str> {
        resp.headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn refuses_without_identity_and_limits_per_identity() {
        let layer = RateLimitLayer::new(RateLimit {
            per_second: 1,
            burst: 2,
        })
        .unwrap();
        let inner = tower::service_fn(|_req: http::Request<()>| async {
            Ok::<_, Infallible>(http::Response::new("handled".to_owned()))
        });
        let mut svc = layer.layer(inner);

        let resp = svc
            .ready()
            .await
            .unwrap()
            .call(request(None))
            .await
            .unwrap();
        assert_eq!(grpc_status(&resp), Some("16"), "UNAUTHENTICATED");

        for _ in 0..2 {
            let resp = svc
                .ready()
                .await
                .unwrap()
                .call(request(Some(Role::Hub)))
                .await
                .unwrap();
            assert_eq!(resp.body(), "handled");
        }
        let resp = svc
            .ready()
            .await
            .unwrap()
            .call(request(Some(Role::Hub)))
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            http::StatusCode::OK,
            "gRPC errors are HTTP 200"
        );
        assert_eq!(grpc_status(&resp), Some("8"), "RESOURCE_EXHAUSTED");
        let msg = resp
            .headers()
            .get("grpc-message")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(msg.contains("urn:renkei:hub"), "{msg}");

        let other = Role::Gateway { name: "gw1".into() };
        let resp = svc
            .ready()
            .await
            .unwrap()
            .call(request(Some(other)))
            .await
            .unwrap();
        assert_eq!(resp.body(), "handled");
    }

    #[test]
    fn zero_rates_are_refused() {
        assert!(
            RateLimitLayer::new(RateLimit {
                per_second: 0,
                burst: 1
            })
            .is_err()
        );
        assert!(
            RateLimitLayer::new(RateLimit {
                per_second: 1,
                burst: 0
            })
            .is_err()
        );
    }
}
