//! `EventStore`: `enqueued` only for existing events; large payloads compressed and returned
//! byte for byte; payloads too large even compressed refused.

use super::{call, event_record, is_conflict, unique_account, violated, Kept};
use chrono::{DateTime, SubsecRound, Utc};
use domain::error::StoreError;
use domain::ids::EventId;
use domain::model::{Call, CallStatus, EventRecord};
use domain::ports::store::calls::{CallCompletion, CallProgress};
use domain::ports::store::event_store::{EVENT_TTL, PLAIN_PAYLOAD_MAX_BYTES};
use domain::ports::store::Store;

/// Creates a call of a fresh account and completes it with an event carrying `payload`;
/// returns the call, the event and the completion's own result.
async fn complete(
    store: &dyn Store,
    now: DateTime<Utc>,
    payload: String,
) -> Result<(Call, EventRecord, Result<bool, StoreError>), StoreError> {
    let t = now.trunc_subsecs(3);
    let c = call(unique_account("acct"), t);
    store.create_call(&c, None, now).await?;
    let event = event_record(&c, payload, t);
    let completion = CallCompletion {
        summary: "",
        sentiment: "unknown",
        event: &event,
        event_expires_at: now + EVENT_TTL,
        event_due_at: now + EVENT_TTL,
    };
    let done = store
        .complete_call(c.id, &CallProgress::default(), &completion, t)
        .await;
    Ok((c, event, done))
}

/// Only an existing event can be marked enqueued.
pub async fn marking_an_unknown_event_enqueued_conflicts(
    store: &dyn Store,
    _now: DateTime<Utc>,
) -> Kept {
    ensure!(
        is_conflict(&store.mark_event_enqueued(EventId::new_v4()).await),
        "marking an unknown event enqueued must be a Conflict"
    );
    Ok(())
}

/// A payload over the plain limit is stored compressed and read back byte for byte, with
/// its expiry in whole seconds; marking it enqueued reads back.
pub async fn a_large_payload_is_compressed_and_round_trips(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let large: String = (0..20_000)
        .map(|i| format!("{{\"role\":\"agent\",\"content\":\"word {i} é\"}},"))
        .collect();
    ensure!(
        large.len() > PLAIN_PAYLOAD_MAX_BYTES,
        "test payload is large"
    );
    let (_, event, done) = complete(store, now, large.clone()).await?;
    ensure!(done?, "completion with a large payload");
    let stored = store
        .event(event.id)
        .await?
        .ok_or_else(|| violated("large event missing"))?;
    ensure!(
        stored.compressed,
        "a large payload must be stored compressed"
    );
    ensure!(
        stored.record.payload == large,
        "a large payload must round-trip"
    );
    ensure_eq!(
        stored.expires_at,
        (now + EVENT_TTL).trunc_subsecs(0),
        "event expiry (whole seconds)"
    );
    store.mark_event_enqueued(event.id).await?;
    ensure_eq!(
        store.event(event.id).await?.map(|e| e.enqueued),
        Some(true),
        "enqueued flag"
    );
    Ok(())
}

/// Pseudo-random hex compresses to about half: a megabyte of it cannot be stored, and the
/// completion that carried it writes nothing.
pub async fn a_payload_too_large_even_compressed_is_refused(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Kept {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: String = (0..1_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_digit((x % 16) as u32, 16).unwrap_or('0')
        })
        .collect();
    let (c, event, done) = complete(store, now, noise).await?;
    ensure!(
        matches!(done, Err(StoreError::Backend(_))),
        "an event too large even compressed must be a Backend error, got {done:?}"
    );
    ensure_eq!(store.event(event.id).await?, None, "the refused event");
    ensure_eq!(
        store.call(c.id).await?.map(|c| c.status),
        Some(CallStatus::Queued),
        "the call of the refused event"
    );
    Ok(())
}
