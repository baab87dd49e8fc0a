//! What a callback says about the call's progress, as the store records it with each move
//! (`crate::callback`) and with the completion (`crate::complete`).

use chrono::{DateTime, Utc};
use domain::callback::ProviderCallObject;
use domain::ports::store::calls::CallProgress;

/// What a callback's call object tells about the call's progress, and the call's next
/// reconciler deadline (`None` clears it).
pub fn progress(obj: &ProviderCallObject, due_at: Option<DateTime<Utc>>) -> CallProgress {
    CallProgress {
        due_at,
        provider_call_id: Some(obj.call_id.clone()),
        started_at: obj.started_at(),
        ended_at: obj.ended_at(),
        duration_seconds: obj.duration_seconds(),
        disconnection_reason: obj.disconnection_reason.clone(),
    }
}
