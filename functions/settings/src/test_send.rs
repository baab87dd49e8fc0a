//! `POST /api/integrations/api-webhooks/test`: sends a sample `call.completed` (marked
//! `"test": true`) to the saved webhook URL now, through the same guarded client and signer
//! as real deliveries, logs the attempt, and says how it went. Never retried.

use crate::ctx::{Ctx, Handler};
use domain::answer::Success;
use domain::clock::rfc3339;
use domain::ids::{CallId, EventId};
use domain::model::{DeliveryAttempt, DeliveryErrorClass, DeliveryOutcome, DeliveryTrigger};
use domain::webhook::headers::webhook_headers;
use domain::webhook::signing_secret;
use domain::ApiError;
use domain::ErrorCode;
use lambda_glue::http::json_response;
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

/// This module's routes; `crate::router` serves every module's.
pub fn router() -> &'static [Route<Handler>] {
    static ROUTES: &[Route<Handler>] =
        &[route!(POST "/api/integrations/api-webhooks/test" => send)];
    ROUTES
}

pub async fn send(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let deps = ctx.deps;
    let account = &ctx.account;
    let url = account.webhook_url.clone().ok_or_else(|| {
        ApiError::unprocessable(
            ErrorCode::NoWebhookUrl,
            Some("webhook_url"),
            "no webhook URL is saved; set one first",
        )
    })?;
    let key = account.api_key.as_ref().ok_or_else(|| {
        ApiError::unprocessable(
            ErrorCode::NoApiKey,
            None,
            "webhooks are signed with the API key; generate one first",
        )
    })?;
    let api_key = deps
        .key_cache
        .get(
            deps.secrets.as_ref(),
            &deps.secret_prefix,
            &account.id,
            &key.hash,
        )
        .await
        .map_err(ApiError::internal)?;
    let now = deps.clock.now();
    // Signed like a delivery (the signing secret created first if the account has none).
    let signing = signing_secret::delivery_keys(
        deps.store.as_ref(),
        deps.secrets.as_ref(),
        &deps.webhook_secret_prefix,
        &deps.secret_cache,
        account,
        &api_key,
        now,
    )
    .await?;
    let event_id = EventId::new_v4();
    let call_id = CallId::new_v4();
    let payload = sample_payload(call_id, now).to_string();
    let headers = webhook_headers(
        domain::event_type::EventType::CallCompleted.as_str(),
        &api_key,
        &signing,
        event_id,
        1,
        deps.clock.now(),
        payload.as_bytes(),
    );
    let result = deps
        .webhook_client
        .post(&url, &headers, payload.into_bytes())
        .await;
    let attempt = DeliveryAttempt {
        account_id: account.id.clone(),
        event_id,
        call_id,
        attempt: 1,
        attempted_at: now,
        url: Some(url),
        outcome: if result.delivered() {
            DeliveryOutcome::Delivered
        } else {
            DeliveryOutcome::Failed
        },
        http_status: result.status,
        duration_ms: result.duration_ms,
        error_class: result.error_class,
        response_excerpt: result.excerpt.clone(),
        next_attempt_at: None,
        trigger: DeliveryTrigger::Test,
    };
    deps.store.record_attempt(&attempt).await?;
    let error = result.error_class.map(|class| TestSendError {
        class,
        message: result.excerpt.as_deref().unwrap_or_default(),
    });
    Ok(json_response(
        200,
        &TestSendResult {
            success: Success,
            delivered: result.delivered(),
            event_id: event_id.into(),
            status_code: result.status,
            duration_ms: result.duration_ms,
            error,
        },
    ))
}

/// `200`: how the test send went (a failed send is still a 200: the request itself worked).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct TestSendResult<'a> {
    pub success: Success,
    pub delivered: bool,
    pub event_id: Uuid,
    /// `null` when no response came
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    /// `null` when delivered
    pub error: Option<TestSendError<'a>>,
}

/// Why a test send failed.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct TestSendError<'a> {
    pub class: DeliveryErrorClass,
    pub message: &'a str,
}

/// A `call.completed` in the spec's shape, plus `"test": true` so receivers can tell it apart.
pub fn sample_payload(call_id: CallId, now: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    let started = now - chrono::Duration::seconds(185);
    json!({
        "event": "call.completed",
        "call_id": call_id.to_string(),
        "agent_id": "00000000-0000-4000-8000-000000000000",
        "agent_name": "Sample Agent",
        "direction": "outbound",
        "phone_number": "+15551234567",
        "duration_seconds": 185,
        "started_at": rfc3339(started),
        "ended_at": rfc3339(now),
        "sentiment": "positive",
        "summary": "This is a test event sent from the integration page.",
        "transcript": [
            {"role": "agent", "content": "Hello, this is a test call.", "timestamp": rfc3339(started + chrono::Duration::seconds(1))},
            {"role": "human", "content": "Hi, the webhook works.", "timestamp": rfc3339(started + chrono::Duration::seconds(5))}
        ],
        "metadata": {"source": "webhook-test"},
        "test": true
    })
}
