//! Health that means something: the gateway reports `NOT_SERVING` (for the whole server,
//! service name `""`) while it cannot do its job — no master data, master data past its
//! expiry, or the hub unreachable at the last attempt — so load balancers and monitoring
//! see the problem before back offices do. Re-evaluated on every background tick.
//! Maintenance mode also reports `NOT_SERVING`, for `""` and for each service that takes
//! new work.

use std::sync::atomic::{AtomicBool, Ordering};

use renkei_transport::HealthHandle;

use crate::{Gateway, GatewayError};

#[derive(Debug, Default)]
pub(crate) struct HealthState {
    pub(crate) handle: HealthHandle,
    /// Whether the last call to the hub (a master-data refresh) got through.
    pub(crate) hub_reachable: AtomicBool,
    /// What was last evaluated, so a change is logged once.
    serving: AtomicBool,
}

impl Gateway {
    /// Why the gateway cannot serve now, if it cannot.
    pub fn health_problem(&self) -> Option<String> {
        let inner = &self.inner;
        if inner.maintenance.is_on() {
            return Some(format!(
                "maintenance mode: {}",
                inner.maintenance.get().message
            ));
        }
        // The same judgement that refuses requests, so health cannot disagree with it.
        match inner.master.get() {
            Ok(_) => {}
            Err(GatewayError::MasterDataExpired {
                version,
                expired_at,
            }) => {
                return Some(format!(
                    "master data version {version} expired at {expired_at}"
                ));
            }
            Err(_) => return Some("no master data yet: the hub has not been reached".into()),
        }
        if !inner.health.hub_reachable.load(Ordering::Relaxed) {
            return Some("the hub was unreachable at the last attempt".into());
        }
        None
    }

    pub(crate) async fn update_health(&self) {
        let problem = self.health_problem();
        let serving = problem.is_none();
        let health = &self.inner.health;
        if health.serving.swap(serving, Ordering::Relaxed) != serving {
            match &problem {
                Some(why) => tracing::warn!(reason = %why, "gateway health: not serving"),
                None => tracing::info!("gateway health: serving"),
            }
        }
        // Set on every tick, not only on change: the server sets SERVING when it starts,
        // which may land after the first check. Quietly: the change is logged above.
        let status = if serving {
            renkei_transport::ServingStatus::Serving
        } else {
            renkei_transport::ServingStatus::NotServing
        };
        health
            .handle
            .reporter()
            .set_service_status("", status)
            .await;
        // The services that take new work follow maintenance mode too, so a balancer
        // watching one of them drains it (docs/decisions/0041-maintenance-mode.md).
        let work = if self.inner.maintenance.is_on() {
            renkei_transport::ServingStatus::NotServing
        } else {
            renkei_transport::ServingStatus::Serving
        };
        for name in crate::maintenance::WORK_SERVICES {
            health
                .handle
                .reporter()
                .set_service_status(name, work)
                .await;
        }
    }
}
