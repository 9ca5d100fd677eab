//! The periodic work on held and deferred provisions: expire undecided held inquiries,
//! deliver deferred answers that are due, send again answers that were stored but not
//! sent (a hub that was down, a crash between store and send), and forget decided ones
//! past the result retention. When is due is `renkei_exchange::expiry`'s to say.

use std::sync::Arc;
use std::time::Duration;

use renkei_exchange::expiry;
use renkei_exchange::held::{Event, TransitionError};
use renkei_master::MasterData;
use renkei_proto::v1::HeldState;

use super::to_entry;
use crate::GatewayError;
use crate::tenant::Tenant;

impl Tenant {
    /// Expires undecided held inquiries, delivers deferred answers that are due, and
    /// re-sends stored answers the hub has not taken. Failures (hub unreachable) leave
    /// the entry for the next sweep. Returns how many entries were completed or sent.
    pub(crate) async fn sweep_held(&self, master: &MasterData) -> Result<u64, GatewayError> {
        let now = self.clock.now_ms();
        let mut done = 0;
        let all = self.exchange.all_held().await?;
        let waiting = all
            .iter()
            .filter(|e| !e.deferred && e.held.state == HeldState::Waiting as i32)
            .count();
        self.held_waiting
            .store(waiting as u64, std::sync::atomic::Ordering::Relaxed);
        for e in all {
            let permit_id = e.held.permit_id.clone();
            let result = if e.unsent.is_some() {
                self.deliver_unsent(&e).await.map(|()| true)
            } else if e.held.state == HeldState::Waiting as i32
                && expiry::sweep_due(e.deferred, e.ready_at_ms, e.held.expires_at_ms, now)
            {
                self.complete_automatically(master, &permit_id).await
            } else {
                Ok(false)
            };
            match result {
                Ok(true) => done += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(tenant = %self.code, permit_id = %permit_id, error = %e, "late answer not delivered; will retry")
                }
            }
        }
        Ok(done)
    }

    /// Delivers a due deferred answer, or expires a held inquiry past its expiry.
    /// Returns false if there was nothing (left) to do. Like a decision, the completion
    /// is stored before it is sent, and the send happens outside the decide lock.
    pub(crate) async fn complete_automatically(
        &self,
        master: &MasterData,
        permit_id: &str,
    ) -> Result<bool, GatewayError> {
        let stored = {
            let _guard = self.decide_lock.lock().await;
            let Some(entry) = self.exchange.held(permit_id).await? else {
                return Ok(false);
            };
            if entry.unsent.is_some() || entry.held.state != HeldState::Waiting as i32 {
                return Ok(false);
            }
            let copy = if entry.deferred {
                Some(self.copy_now(&entry.held).await?)
            } else {
                None
            };
            let completion = match renkei_exchange::held::transition(
                &to_entry(&entry),
                Event::Due { copy },
                self.code.as_str(),
                self.clock.now_ms(),
            ) {
                Ok(c) => c,
                Err(TransitionError::NotDue | TransitionError::AlreadyDecided { .. }) => {
                    return Ok(false);
                }
                Err(e) => return Err(GatewayError::Corrupt(e.to_string())),
            };
            self.store_completion(master, &entry, completion).await?
        };
        self.deliver_unsent(&stored).await?;
        Ok(true)
    }

    /// Forgets decided held inquiries whose decision is older than the result retention;
    /// their records stay in the record log. An answer not yet sent is kept until it is.
    pub(crate) async fn purge_decided_held(&self, now: i64) -> Result<u64, GatewayError> {
        let cutoff = expiry::retention_cutoff(now, self.retention.as_millis() as i64);
        let mut removed = 0;
        for e in self.exchange.all_held().await? {
            if e.unsent.is_none()
                && e.held.state != HeldState::Waiting as i32
                && expiry::result_expired(e.held.decided_at_ms, cutoff)
                && self.exchange.delete_held(&e.held.permit_id).await?
            {
                removed += 1;
            }
        }
        if removed > 0 {
            self.commit().await?;
        }
        Ok(removed)
    }

    /// Delivers a deferred answer when it is due (the sweep is the fallback after a restart).
    pub(crate) fn schedule_deferred(
        self: &Arc<Self>,
        master: Arc<MasterData>,
        permit_id: String,
        ready_at_ms: i64,
    ) {
        let t = self.clone();
        tokio::spawn(async move {
            let wait = expiry::wait_ms(ready_at_ms, t.clock.now_ms());
            tokio::time::sleep(Duration::from_millis(wait)).await;
            if let Err(e) = t.complete_automatically(&master, &permit_id).await {
                tracing::warn!(tenant = %t.code, permit_id = %permit_id, error = %e, "deferred answer not delivered; the sweep will retry");
            }
        });
    }
}
