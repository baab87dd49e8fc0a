//! Cancelling many scheduled calls at once: the customer's bulk cancel
//! (`POST /api/integrations/api-webhooks/calls/cancel-scheduled`) and a key rotation's
//! revocation of what the old key scheduled. Through the account's call index (never a scan),
//! newest first, each call one conditional write, at most [`BULK_CANCEL_BUDGET`] a request.

use crate::held_calls::cancel_scheduled_call;
use crate::ids::AgentId;
use crate::model::CallStatus;
use crate::ports::store::Store;
use crate::revoke::revoke_call;
use chrono::{DateTime, Utc};

/// How many scheduled calls one bulk cancel (a key rotation, `cancel-scheduled`) cancels at
/// most in one request; the rest are left to the next request or, for a rotated key, to the
/// reconciler, which re-checks the key before it dials.
pub const BULK_CANCEL_BUDGET: usize = 500;

/// What a bulk cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Canceled {
    pub canceled: u64,
    /// Every scheduled call it was to cancel was looked at (`false`: the budget ran out).
    pub complete: bool,
}

/// Which scheduled calls a bulk cancel takes.
#[derive(Debug, Clone, Copy)]
pub enum Revoke<'a> {
    /// The customer's own bulk cancel: every scheduled call, cancelled like `DELETE
    /// /api/calls/{id}` (no reason, no event).
    All,
    /// A rotation: the calls the old key (this hash) created, `canceled` with reason
    /// `key_rotated` and their event (`event_rules::failure_ending`).
    Key(&'a str),
}

/// Cancels the account's scheduled calls (`which`), newest first through the account's call
/// index, at most [`BULK_CANCEL_BUDGET`]. Each is one conditional write (`scheduled` ->
/// `canceled`), so a call the reconciler claimed meanwhile is left to it (it re-checks the
/// key before dialing). A rotation's events are stored with their calls and queued when a
/// queue is given (else the reconciler queues them after `ENQUEUE_GRACE`).
pub async fn cancel_scheduled_calls(
    store: &dyn Store,
    queue: Option<&dyn crate::ports::queue::EventQueue>,
    account: &crate::model::Account,
    which: Revoke<'_>,
    now: DateTime<Utc>,
) -> Result<Canceled, crate::error::ApiError> {
    use crate::ports::store::calls::{CallCursor, CallQuery};
    let mut done = Canceled::default();
    let mut agents: Option<std::collections::HashMap<AgentId, String>> = None;
    let mut after: Option<CallCursor> = None;
    let mut looked = 0usize;
    loop {
        let page = store
            .calls_of(
                &account.id,
                &CallQuery {
                    status: Some(CallStatus::Scheduled),
                    created_after: None,
                    created_before: None,
                    limit: crate::ports::store::calls::MAX_CALL_PAGE,
                    after: after.take(),
                },
            )
            .await?;
        for call in page.calls {
            if looked >= BULK_CANCEL_BUDGET {
                return Ok(done);
            }
            looked += 1;
            let moved = match which {
                Revoke::All => cancel_scheduled_call(store, call.id, None, now).await?,
                Revoke::Key(hash) => {
                    if call.key_hash.as_deref() != Some(hash) {
                        continue;
                    }
                    if agents.is_none() {
                        agents = Some(
                            store
                                .agents(&account.id)
                                .await?
                                .into_iter()
                                .map(|a| (a.id, a.name))
                                .collect(),
                        );
                    }
                    let name = agents
                        .as_ref()
                        .and_then(|m| m.get(&call.agent_id).cloned())
                        .unwrap_or_default();
                    revoke_call(store, queue, account, &call, &name, now).await?
                }
            };
            if moved {
                done.canceled += 1;
            }
        }
        match page.next_cursor {
            Some(c) => {
                after = Some(CallCursor::decode(&c).map_err(crate::error::ApiError::internal)?)
            }
            None => {
                done.complete = true;
                return Ok(done);
            }
        }
    }
}
