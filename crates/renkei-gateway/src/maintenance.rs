//! Maintenance mode (保守モード): the whole gateway refuses new work with UNAVAILABLE and
//! the administrator's message, while calls already running finish and everything an
//! operator needs to watch and end maintenance stays up
//! (docs/decisions/0041-maintenance-mode.md).
//!
//! The refusal happens in the transport's edge gate, before any handler runs, by method
//! path: a call admitted before maintenance began is never looked at again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prost::Message as _;
use renkei_core::SharedClock;
use renkei_proto::v1::MaintenanceState;
use renkei_store::Tree;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::GatewayError;

/// Methods that start new work, refused during maintenance. Everything else stays
/// available: reads (inquiry results, records, exports), operator services (held-answer
/// decisions finish work in flight), answers delivered for inquiries already sent
/// (`DeliverAnswer`), health, diagnostics and system management.
pub(crate) const NEW_WORK: [&str; 10] = [
    "/renkei.v1.Symbols/RegisterAddressNumber",
    "/renkei.v1.Symbols/RegisterAddressNumbers",
    "/renkei.v1.Symbols/AcquireSymbol",
    "/renkei.v1.Symbols/AcquireSymbols",
    "/renkei.v1.ProvisionCopies/PutCopy",
    "/renkei.v1.ProvisionCopies/ImportCopies",
    "/renkei.v1.ProvisionCopies/DeleteCopy",
    "/renkei.v1.Inquiries/SubmitInquiry",
    "/renkei.v1.AutoResponseBlock/ImportFlags",
    "/renkei.v1.GatewayNetwork/DeliverInquiry",
];

/// Services whose health turns NOT_SERVING during maintenance (they take new work).
pub(crate) const WORK_SERVICES: [&str; 4] = [
    "renkei.v1.Symbols",
    "renkei.v1.ProvisionCopies",
    "renkei.v1.Inquiries",
    "renkei.v1.GatewayNetwork",
];

/// How long a refused client is told to wait before retrying.
const RETRY_AFTER: Duration = Duration::from_secs(60);

const KEY: &[u8] = b"maintenance";
const MAX_MESSAGE_CHARS: usize = 500;

#[derive(Debug)]
pub(crate) struct Maintenance {
    tree: Tree,
    on: AtomicBool,
    state: Mutex<MaintenanceState>,
    /// Stamps `since_ms` (a `FakeClock` in tests).
    clock: SharedClock,
}

impl Maintenance {
    /// Loads the persisted state: a gateway restarted during maintenance stays in it.
    pub(crate) fn open(tree: Tree, clock: SharedClock) -> Result<Maintenance, GatewayError> {
        let state = match tree.get(KEY)? {
            Some(v) => MaintenanceState::decode(v.as_ref())
                .map_err(|e| GatewayError::Corrupt(format!("maintenance state: {e}")))?,
            None => MaintenanceState::default(),
        };
        if state.on {
            tracing::warn!(message = %state.message, "starting in maintenance mode");
        }
        Ok(Maintenance {
            tree,
            on: AtomicBool::new(state.on),
            state: Mutex::new(state),
            clock,
        })
    }

    pub(crate) fn is_on(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    pub(crate) fn get(&self) -> MaintenanceState {
        match self.state.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Validates and stores the new state; the caller commits the store before answering.
    pub(crate) fn set(
        &self,
        on: bool,
        message: &str,
        set_by: String,
    ) -> Result<MaintenanceState, GatewayError> {
        let message = message.trim();
        if on && message.is_empty() {
            return Err(GatewayError::invalid(
                "message",
                "say why and until when (it is shown to every refused caller)",
            ));
        }
        if message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(GatewayError::invalid(
                "message",
                format!("at most {MAX_MESSAGE_CHARS} characters"),
            ));
        }
        if message.chars().any(char::is_control) {
            return Err(GatewayError::invalid(
                "message",
                "must not contain control characters (it is sent as a gRPC status message)",
            ));
        }
        let state = MaintenanceState {
            on,
            message: if on {
                message.to_owned()
            } else {
                String::new()
            },
            since_ms: self.clock.now_ms(),
            set_by,
        };
        self.tree.insert(KEY, state.encode_to_vec())?;
        match self.state.lock() {
            Ok(mut s) => *s = state.clone(),
            Err(p) => *p.into_inner() = state.clone(),
        }
        self.on.store(on, Ordering::Release);
        tracing::warn!(on, set_by = %state.set_by, "maintenance mode changed");
        Ok(state)
    }

    /// The refusal of new work: UNAVAILABLE with the operator's message, an ErrorInfo
    /// (reason `MAINTENANCE`) and a RetryInfo.
    pub(crate) fn refusal(&self) -> Status {
        let state = self.get();
        let mut details = ErrorDetails::new();
        details.set_error_info(
            "MAINTENANCE",
            "renkei.gateway",
            HashMap::from([("since_ms".to_owned(), state.since_ms.to_string())]),
        );
        details.set_retry_info(Some(RETRY_AFTER));
        Status::with_error_details(
            Code::Unavailable,
            format!(
                "the gateway is in maintenance and takes no new work: {}",
                state.message
            ),
            details,
        )
    }
}

/// The gateway's admission check, installed as the transport's [`renkei_transport::RequestGate`].
#[derive(Debug)]
pub(crate) struct Gate(pub(crate) std::sync::Arc<Maintenance>);

impl renkei_transport::RequestGate for Gate {
    fn check(&self, path: &str) -> Result<(), Status> {
        let m = &self.0;
        if m.is_on() && NEW_WORK.contains(&path) {
            return Err(m.refusal());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use renkei_core::FakeClock;
    use renkei_store::{Store, StoreOptions};

    use super::*;

    #[test]
    fn the_state_is_stamped_by_the_clock_and_kept_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let clock = FakeClock::at(1_700_000_000_000);
        let m = Maintenance::open(store.global("system").unwrap(), clock.clone()).unwrap();
        assert!(!m.is_on());
        let on = m.set(true, "until 10:00", "011002/admin".into()).unwrap();
        assert_eq!(on.since_ms, 1_700_000_000_000);
        clock.advance(Duration::from_secs(60));
        let m = Maintenance::open(store.global("system").unwrap(), clock.clone()).unwrap();
        assert!(m.is_on(), "a reopened gateway stays in maintenance");
        assert_eq!(m.get().since_ms, 1_700_000_000_000);
        let off = m.set(false, "", "011002/admin".into()).unwrap();
        assert_eq!(off.since_ms, 1_700_000_060_000);
        assert!(!m.is_on());
    }
}
