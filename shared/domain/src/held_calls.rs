//! Held and scheduled calls (`"when_closed": "hold"`, `"not_before"` on trigger-call): when a
//! call may be dialed, what trigger-call answers for one, and the moves the reconciler and
//! the calls API make on a `scheduled` call.
//!
//! A scheduled call is a call record in status `scheduled` whose `due_at` is its
//! `scheduled_for` (due kind `scheduled`). The reconciler claims it when due (`scheduled` ->
//! `queued`, conditional, so two reconcilers never both dial), re-checks it
//! ([`HeldCheck`]) and dials it through `domain::dial`, exactly as trigger-call does.
//! `DELETE /api/calls/{id}` cancels it with the same kind of conditional write, so a cancel
//! and a claim cannot both win.

use crate::answer;
use crate::calling_window::CallingWindow;
use crate::error::StoreError;
use crate::ids::{AccountId, CallId};
use crate::model::CallStatus;
use crate::phone::PhoneNumber;
use crate::ports::store::Store;
use crate::recipient_hours::RecipientHours;
use crate::ErrorCode;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The furthest ahead `not_before` may be (a later one is a 400 `invalid_not_before`).
pub const MAX_SCHEDULE_AHEAD_DAYS: i64 = 30;

pub fn max_schedule_ahead() -> chrono::Duration {
    chrono::Duration::days(MAX_SCHEDULE_AHEAD_DAYS)
}

/// Why a scheduled call was cancelled (`failure_reason` of the `canceled` call). Why a held
/// call that no longer passes when due `failed`: `domain::event_rules::FailureReason` (also its
/// `call.failed` reason).
pub mod reason {
    /// The number was put on the account's do-not-call list (the call is `canceled`).
    pub const NUMBER_SUPPRESSED: &str = "number_suppressed";
    /// The API key that created the call was regenerated (the call is `canceled`, with its
    /// event: `crate::event_rules::FailureReason::KeyRotated`).
    pub const KEY_ROTATED: &str = "key_rotated";
}

/// The earliest instant at or after `at` when a call to `phone` may be dialed under every
/// dialing rule (the account's calling window and the recipient's hours:
/// [`crate::dial_rules::check`]), or `None` if none comes within the rules' search horizon.
/// The reconciler asks it to re-schedule a held call whose rules closed again; trigger-call
/// uses `dial_rules::check` itself, because it also answers which rule refused.
pub fn earliest_dial_time(
    window: Option<&CallingWindow>,
    recipient: &RecipientHours,
    phone: &PhoneNumber,
    at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match crate::dial_rules::check(window, recipient, phone, at) {
        Ok(()) => Some(at),
        Err(closed) => closed.next_allowed_at,
    }
}

/// `202` of `POST /api/trigger-call`, remembered for the request's Idempotency-Key in the same
/// write as the call, so built here below trigger-call.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "openapi",
    schemars(
        deny_unknown_fields,
        description = "the call is held or scheduled: the reconciler places it at `scheduled_for`"
    )
)]
pub struct CallScheduled {
    pub success: answer::Success,
    pub call_id: Uuid,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "scheduled_schema"))]
    pub status: CallStatus,
    /// when the reconciler places the call (normally at most a minute later; a large batch due at once over a few minutes)
    #[serde(serialize_with = "answer::time")]
    pub scheduled_for: DateTime<Utc>,
}

#[cfg(feature = "openapi")]
fn scheduled_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"const": "scheduled"})
}

/// The answer trigger-call gives for a held or scheduled call (202), remembered for its
/// Idempotency-Key in the same write as the call.
pub fn scheduled_answer(
    call_id: CallId,
    scheduled_for: DateTime<Utc>,
) -> crate::model::StoredResponse {
    crate::model::StoredResponse {
        status: 202,
        body: crate::answer::body(&CallScheduled {
            success: answer::Success,
            call_id: call_id.into(),
            status: CallStatus::Scheduled,
            scheduled_for,
        }),
    }
}

/// Cancels a call still `scheduled` (`canceled`, deadline cleared, `reason` stored when
/// given). `Ok(false)` when it is no longer scheduled: the reconciler claimed it first, or it
/// was cancelled already.
pub async fn cancel_scheduled_call(
    store: &dyn Store,
    call_id: CallId,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    store
        .settle_call(
            call_id,
            CallStatus::Scheduled,
            CallStatus::Canceled,
            reason,
            now,
            None,
        )
        .await
}

/// The account's call named by a path's `call_id`: 404 `call_not_found` for an id that is not
/// a UUID, not there, or another account's (the same answer, so ids cannot be probed).
pub async fn owned_call(
    store: &dyn Store,
    account_id: &AccountId,
    raw_id: &str,
) -> Result<crate::model::Call, crate::ApiError> {
    let not_found = || {
        crate::ApiError::not_found(
            ErrorCode::CallNotFound,
            Some("call_id"),
            format!("call {raw_id} not found"),
        )
    };
    let id = CallId::parse(raw_id).map_err(|_| not_found())?;
    store
        .call(id)
        .await?
        .filter(|c| c.account_id == account_id)
        .ok_or_else(not_found)
}

/// A call re-read after a conditional write on it.
pub async fn reread_call(
    store: &dyn Store,
    id: CallId,
) -> Result<crate::model::Call, crate::ApiError> {
    store
        .call(id)
        .await?
        .ok_or_else(|| crate::ApiError::internal(std::io::Error::other("call vanished")))
}

/// Cancels the account's scheduled call named by a path's `call_id`, for both cancel routes
/// (`DELETE /api/calls/{call_id}` and the integration page's): the `canceled` call; 404
/// `call_not_found` ([`owned_call`]); 409 `call_not_scheduled` with the status it has now when
/// it is no longer scheduled (the reconciler claimed it first, or it was cancelled already).
/// One conditional write, as is the reconciler's claim: exactly one of them wins.
pub async fn cancel_owned_call(
    store: &dyn Store,
    account_id: &AccountId,
    raw_id: &str,
    now: DateTime<Utc>,
) -> Result<crate::model::Call, crate::ApiError> {
    let call = owned_call(store, account_id, raw_id).await?;
    let canceled = call.status == CallStatus::Scheduled
        && cancel_scheduled_call(store, call.id, None, now).await?;
    let after = reread_call(store, call.id).await?;
    if !canceled {
        return Err(crate::ApiError::CallNotScheduled {
            status: after.status.as_str(),
        });
    }
    tracing::info!(call_id = %call.id, account_id = %call.account_id, "scheduled call canceled");
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calling_window::CallingWindowJson;
    use chrono::TimeZone;

    fn weekdays_9_to_17_new_york() -> CallingWindow {
        let json: CallingWindowJson = serde_json::from_value(serde_json::json!({
            "time_zone": "America/New_York",
            "days": {"mon": {"start": "09:00", "end": "17:00"}, "tue": {"start": "09:00", "end": "17:00"},
                     "wed": {"start": "09:00", "end": "17:00"}, "thu": {"start": "09:00", "end": "17:00"},
                     "fri": {"start": "09:00", "end": "17:00"}}
        }))
        .unwrap();
        CallingWindow::try_from(json).unwrap()
    }

    #[test]
    fn earliest_dial_time_table() {
        let w = weekdays_9_to_17_new_york();
        // Mon 2026-03-02 (EST, UTC-5).
        let t = |d, h, m| Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap();
        let cases = [
            (None, t(2, 3, 0), Some(t(2, 3, 0))),
            (Some(&w), t(2, 15, 0), Some(t(2, 15, 0))), // 10:00 local: open
            (Some(&w), t(2, 13, 0), Some(t(2, 14, 0))), // 08:00 local: opens 09:00
            (Some(&w), t(2, 23, 0), Some(t(3, 14, 0))), // 18:00 local: next morning
            (Some(&w), t(7, 15, 0), Some(t(9, 13, 0))), // Saturday: Monday 09:00 EDT (DST)
        ];
        // A +1 212 (New York) number: the recipient's default hours (08:00-21:00) are open
        // whenever this window is, so the window decides; with them off, the same answers.
        let phone = PhoneNumber::parse("+12125550123").unwrap();
        let off = RecipientHours {
            applies_to: crate::recipient_hours::AppliesTo::Off,
            ..RecipientHours::default()
        };
        for (i, recipient) in [off, RecipientHours::default()].into_iter().enumerate() {
            // The first case has no window at 22:00 New York time: only `off` allows it.
            for (window, at, want) in cases.into_iter().skip(i) {
                assert_eq!(
                    earliest_dial_time(window, &recipient, &phone, at),
                    want,
                    "{at}"
                );
            }
        }
        // No window: the recipient's hours alone (03:00 in New York -> 08:00 EST).
        assert_eq!(
            earliest_dial_time(None, &RecipientHours::default(), &phone, t(2, 8, 0)),
            Some(t(2, 13, 0))
        );
    }

    #[test]
    fn the_scheduled_answer_is_the_documented_202() {
        let id = crate::ids::CallId::nil();
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 14, 0, 0).unwrap();
        let a = scheduled_answer(id, at);
        assert_eq!(a.status, 202);
        let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["status"], "scheduled");
        assert_eq!(v["scheduled_for"], "2026-03-02T14:00:00Z");
        assert_eq!(v["success"], true);
    }
}
