//! `POST /api/integrations/api-webhooks/deliveries/{event_id}/redeliver`: sends a stored event
//! again, dropped or not, as a new attempt series (attempt 1 and its retries) through the
//! delivery function. Another account's event is a 404, like one that does not exist.
//!
//! One redelivery at a time per event: while a redelivery or recovery series of the event is
//! still running (read from the attempt ledger: `domain::webhook::series`, which says exactly
//! what running means), the answer is `409 redelivery_in_progress` and nothing is queued.
//! The new series' id is fixed by how many the event has had (`series::redelivery_id`), and
//! its marker (attempt 0) is claimed before the message is queued: of two requests that both
//! found nothing running, only the one that claims the marker queues; the other is a 409.

use crate::ctx::{Ctx, Handler};
use domain::answer::Success;
use domain::ids::EventId;
use domain::model::DeliveryTrigger;
use domain::ports::queue::DeliveryMessage;
use domain::ports::store::Claim;
use domain::webhook::series::{self, REDELIVERY_MARKER_LEASE};
use domain::ApiError;
use domain::ErrorCode;
use lambda_glue::http::json_response;
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Response};
use serde::Serialize;
use std::time::Duration;
use uuid::Uuid;

/// This module's routes; `crate::router` serves every module's.
pub fn router() -> &'static [Route<Handler>] {
    static ROUTES: &[Route<Handler>] = &[
        route!(POST "/api/integrations/api-webhooks/deliveries/{event_id}/redeliver" => redeliver),
    ];
    ROUTES
}

pub async fn redeliver(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let raw = ctx.params.get("event_id").unwrap_or_default();
    let not_found = || {
        ApiError::not_found(
            ErrorCode::EventNotFound,
            Some("event_id"),
            format!("event {raw} not found (events are kept 30 days)"),
        )
    };
    let event_id = EventId::parse(raw).map_err(|_| not_found())?;
    let store = ctx.deps.store.as_ref();
    let now = ctx.deps.clock.now();
    let event = store
        .event(event_id)
        .await?
        .filter(|e| e.record.account_id == ctx.account.id && e.expires_at > now)
        .ok_or_else(not_found)?;
    let claims = store.series_claims(event_id).await?;
    if let Some(running) = series::running_redelivery(&claims, now) {
        tracing::info!(event_id = %event_id, redelivery = %running.redelivery, "redelivery refused: one is still running");
        return Err(ApiError::RedeliveryInProgress {
            redelivery: running.redelivery,
        });
    }
    let redelivery = series::redelivery_id(event_id, series::redelivery_count(&claims));
    let mut msg = DeliveryMessage::first(
        event.record.id,
        ctx.account.id.clone(),
        event.record.call_id,
    );
    msg.redelivery = Some(redelivery);
    msg.trigger = Some(DeliveryTrigger::Redelivery);
    let series_name = msg.series();
    if store
        .claim_attempt(event_id, &series_name, 0, now, REDELIVERY_MARKER_LEASE)
        .await?
        != Claim::Won
    {
        // A concurrent request found nothing running either, and queued this very series.
        tracing::info!(event_id = %event_id, redelivery = %redelivery, "redelivery refused: a concurrent request queued it");
        return Err(ApiError::RedeliveryInProgress {
            redelivery: redelivery.to_string(),
        });
    }
    if let Err(e) = ctx.deps.queue.send(&msg, Duration::ZERO).await {
        // Close the series in the ledger, so the failed request can be retried at once. If
        // that fails too, the marker's lease ends it (the request is refused until then).
        if let Err(close) = store
            .finish_attempt(&series_name, &series::unqueued_marker(&msg, now))
            .await
        {
            tracing::warn!(event_id = %event_id, error = %close, "could not close the unqueued redelivery");
        }
        return Err(e.into());
    }
    tracing::info!(event_id = %event_id, redelivery = %redelivery, "redelivery queued");
    crate::metrics::redelivery(&ctx.account).emit();
    Ok(json_response(
        202,
        &RedeliveryQueued {
            success: Success,
            event_id: event_id.into(),
            redelivery_id: redelivery,
        },
    ))
}

/// `202`: the redelivery is queued; its attempts appear in the delivery log.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct RedeliveryQueued {
    pub success: Success,
    pub event_id: Uuid,
    pub redelivery_id: Uuid,
}
