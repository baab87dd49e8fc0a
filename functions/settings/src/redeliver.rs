//! `POST /api/integrations/api-webhooks/deliveries/{event_id}/redeliver`: sends a stored event
//! again, dropped or not, as a new attempt series (attempt 1 and its retries) through the
//! delivery function. Another account's event is a 404, like one that does not exist.

use crate::router::Ctx;
use domain::model::DeliveryTrigger;
use domain::ports::queue::DeliveryMessage;
use domain::ApiError;
use lambda_glue::http::json_response;
use lambda_http::{Body, Response};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

pub async fn redeliver(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let raw = ctx.params.get("event_id").unwrap_or_default();
    let not_found = || {
        ApiError::not_found(
            "event_not_found",
            Some("event_id"),
            format!("event {raw} not found (events are kept 30 days)"),
        )
    };
    let event_id = Uuid::parse_str(raw).map_err(|_| not_found())?;
    let event = ctx
        .deps
        .store
        .event(event_id)
        .await?
        .filter(|e| e.record.account_id == ctx.account.id && e.expires_at > ctx.deps.clock.now())
        .ok_or_else(not_found)?;
    let redelivery = Uuid::new_v4();
    let mut msg = DeliveryMessage::first(
        event.record.id,
        ctx.account.id.clone(),
        event.record.call_id,
    );
    msg.redelivery = Some(redelivery);
    msg.trigger = Some(DeliveryTrigger::Redelivery);
    ctx.deps.queue.send(&msg, Duration::ZERO).await?;
    tracing::info!(event_id = %event_id, redelivery = %redelivery, "redelivery queued");
    Ok(json_response(
        202,
        &json!({"success": true, "event_id": event_id.to_string(), "redelivery_id": redelivery.to_string()}),
    ))
}
