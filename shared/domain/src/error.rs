//! The one error type every HTTP function renders, and the typed errors of the adapters.
//!
//! Functions return `ApiError`; `http::error_response` is the only place it becomes a status
//! code and a JSON body, so two routes can never disagree on how an error looks.

pub use crate::error_code::ErrorCode;
use chrono::{DateTime, Utc};

/// A request that could not be served, with everything the client needs to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body or a field is invalid. `code` is stable and machine-readable.
    #[error("{message}")]
    BadRequest {
        code: ErrorCode,
        message: String,
        field: Option<String>,
    },
    /// 401: no authenticated dashboard session (settings API).
    #[error("authentication required")]
    Unauthenticated,
    /// 403: no Authorization header at all.
    #[error("missing Authorization header; send 'Authorization: Bearer <api key>'")]
    MissingApiKey,
    /// 403: an Authorization header that is not `Bearer <token>`.
    #[error(
        "the Authorization header must use the Bearer scheme: 'Authorization: Bearer <api key>'"
    )]
    InvalidAuthScheme,
    /// 403: a Bearer token that matches no current key.
    #[error("the API key is not valid; it may have been regenerated")]
    InvalidApiKey,
    /// 403: the key is valid but the account switched API access off.
    #[error("API access is disabled for this account; enable it on the integration page")]
    ApiAccessDisabled,
    /// 403: the account's plan does not include the integration.
    #[error("the API & Webhooks integration requires the Agency plan")]
    PlanRequired,
    /// 403: an operator suspended the account (`bvai-admin suspend`). The reason is not
    /// shown: it is the operator's note.
    #[error("this account is suspended; contact support")]
    AccountSuspended,
    /// 404, with a code naming what was not found (`agent_not_found`, `call_not_found`, ...).
    #[error("{message}")]
    NotFound {
        code: ErrorCode,
        message: String,
        field: Option<String>,
    },
    /// 405: the route exists with another method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: an Idempotency-Key reused with a different body.
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    /// 409: the first request with this Idempotency-Key is still being processed.
    #[error("a request with this Idempotency-Key is still in progress; retry shortly")]
    IdempotencyKeyInProgress,
    /// 409: `DELETE /api/calls/{id}` on a call that is no longer `scheduled` (the reconciler
    /// placed it, or it was cancelled already); `status` is where it is now.
    #[error(
        "call is no longer scheduled (status {status}); only a scheduled call can be cancelled"
    )]
    CallNotScheduled { status: &'static str },
    /// 409: a redelivery of the event is still running (`webhook::series`): another one would
    /// send the event twice in parallel. `redelivery` is the running series' id.
    #[error(
        "redelivery {redelivery} of this event is still running; ask again once it has ended \
         (delivered, dropped or skipped in the delivery log)"
    )]
    RedeliveryInProgress { redelivery: String },
    /// 409: a concurrent change won; the client should re-read and retry.
    #[error("{0}")]
    Conflict(String),
    /// 413
    #[error("request body is {size} bytes; the limit is {limit} bytes")]
    PayloadTooLarge { size: usize, limit: usize },
    /// 415
    #[error("the request body must be JSON; send 'Content-Type: application/json'")]
    UnsupportedMediaType,
    /// 422: a valid request that cannot be served now.
    #[error("{message}")]
    Unprocessable {
        code: ErrorCode,
        message: String,
        field: Option<String>,
        /// For `outside_calling_window`: when the window opens next (RFC 3339).
        next_window_opens_at: Option<DateTime<Utc>>,
        /// For `outside_calling_window` and `outside_recipient_hours`: the earliest instant at
        /// which every dialing rule allows the call (`domain::dial_rules`).
        next_allowed_at: Option<DateTime<Utc>>,
    },
    /// 429
    #[error("too many requests; retry later")]
    Throttled,
    /// 429: the caller's per-minute rate limit is used up until the window ends.
    #[error("rate limit of {} requests per minute exceeded; retry in {} s", .0.limit, .0.reset_secs)]
    RateLimited(RateStatus),
    /// 502: the voice provider failed or timed out.
    #[error("the voice provider could not place the call; retry later")]
    ProviderUnavailable,
    /// 502: the provider was asked to place the call but its answer was lost; the call may
    /// or may not ring. The call exists (`dial_unknown`) and is named, so the client can
    /// follow it with `GET /api/calls/{call_id}` instead of dialing again.
    #[error("the voice provider's answer was lost: the call may or may not have been placed. Do not place it again; follow it with GET /api/calls/{call_id} (a retry with the same Idempotency-Key gets this answer again)")]
    ProviderOutcomeUnknown { call_id: crate::ids::CallId },
    /// 500: anything else. The source is logged, never returned.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// The error body: `{"success": false, "error": {"code", "message", "field"?, ...}}`.
    /// Built here (not in the HTTP glue) so an answer remembered for an Idempotency-Key
    /// (`crate::dead_request::unknown_answer`) is byte for byte the one the API renders.
    pub fn to_json(&self) -> serde_json::Value {
        let mut e = serde_json::Map::new();
        e.insert("code".into(), self.code().into());
        e.insert("message".into(), self.to_string().into());
        if let Some(f) = self.field() {
            e.insert("field".into(), f.into());
        }
        if let ApiError::Unprocessable {
            next_window_opens_at: Some(t),
            ..
        } = self
        {
            e.insert(
                "next_window_opens_at".into(),
                crate::clock::rfc3339(*t).into(),
            );
        }
        if let ApiError::Unprocessable {
            next_allowed_at: Some(t),
            ..
        } = self
        {
            e.insert("next_allowed_at".into(), crate::clock::rfc3339(*t).into());
        }
        if let ApiError::ProviderOutcomeUnknown { call_id } = self {
            e.insert("call_id".into(), call_id.to_string().into());
        }
        serde_json::json!({"success": false, "error": e})
    }

    pub fn bad_request(code: ErrorCode, field: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
            field: Some(field.to_string()),
        }
    }

    pub fn body(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn not_found(code: ErrorCode, field: Option<&str>, message: impl Into<String>) -> Self {
        ApiError::NotFound {
            code,
            message: message.into(),
            field: field.map(str::to_string),
        }
    }

    pub fn unprocessable(code: ErrorCode, field: Option<&str>, message: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            code,
            message: message.into(),
            field: field.map(str::to_string),
            next_window_opens_at: None,
            next_allowed_at: None,
        }
    }

    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(e))
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::Unauthenticated => 401,
            ApiError::MissingApiKey
            | ApiError::InvalidAuthScheme
            | ApiError::InvalidApiKey
            | ApiError::ApiAccessDisabled
            | ApiError::PlanRequired
            | ApiError::AccountSuspended => 403,
            ApiError::NotFound { .. } => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::IdempotencyKeyReused
            | ApiError::IdempotencyKeyInProgress
            | ApiError::CallNotScheduled { .. }
            | ApiError::RedeliveryInProgress { .. }
            | ApiError::Conflict(_) => 409,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::Unprocessable { .. } => 422,
            ApiError::Throttled | ApiError::RateLimited(_) => 429,
            ApiError::ProviderUnavailable | ApiError::ProviderOutcomeUnknown { .. } => 502,
            ApiError::Internal(_) => 500,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Unprocessable { code, .. } => *code,
            ApiError::Unauthenticated => ErrorCode::Unauthenticated,
            ApiError::MissingApiKey => ErrorCode::MissingApiKey,
            ApiError::InvalidAuthScheme => ErrorCode::InvalidAuthScheme,
            ApiError::InvalidApiKey => ErrorCode::InvalidApiKey,
            ApiError::ApiAccessDisabled => ErrorCode::ApiAccessDisabled,
            ApiError::PlanRequired => ErrorCode::PlanRequired,
            ApiError::AccountSuspended => ErrorCode::AccountSuspended,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            ApiError::IdempotencyKeyInProgress => ErrorCode::IdempotencyKeyInProgress,
            ApiError::CallNotScheduled { .. } => ErrorCode::CallNotScheduled,
            ApiError::RedeliveryInProgress { .. } => ErrorCode::RedeliveryInProgress,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            ApiError::Throttled => ErrorCode::Throttled,
            ApiError::RateLimited(_) => ErrorCode::RateLimited,
            ApiError::ProviderUnavailable => ErrorCode::ProviderUnavailable,
            ApiError::ProviderOutcomeUnknown { .. } => ErrorCode::ProviderOutcomeUnknown,
            ApiError::Internal(_) => ErrorCode::InternalError,
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::BadRequest { field, .. }
            | ApiError::NotFound { field, .. }
            | ApiError::Unprocessable { field, .. } => field.as_deref(),
            _ => None,
        }
    }
}

/// What a 409 `conflict` says: stable, without the store's detail.
pub const CONFLICT_MESSAGE: &str =
    "the resource changed while the request was processed; re-read it and retry";

/// Failures of the storage adapter.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost (the item changed or exists); callers decide what it means.
    #[error("conditional write failed: {0}")]
    Conflict(String),
    #[error("DynamoDB throttled the request")]
    Throttled,
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    #[error("DynamoDB error: {0}")]
    Backend(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled => ApiError::Throttled,
            StoreError::Conflict(m) => {
                // The store's detail (DynamoDB's cancellation reasons) is for the logs only.
                tracing::warn!(detail = %crate::scrub::scrub(&m), "store conflict");
                ApiError::Conflict(CONFLICT_MESSAGE.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}

/// Failures of Secrets Manager.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {0} not found")]
    NotFound(String),
    #[error("secret {0} is malformed")]
    Malformed(String),
    /// The provider secret's `api_key` is empty or too short to sign callbacks safely.
    #[error(
        "secret {name}: api_key is empty or shorter than {min} characters; it signs the voice \
         provider's callbacks (HMAC), so a short key would let anyone sign them. Set the \
         provider's API key (docs/deploy.md, step 4)"
    )]
    ProviderKeyTooShort { name: String, min: usize },
    #[error("Secrets Manager error: {0}")]
    Backend(String),
}

impl From<SecretError> for ApiError {
    fn from(e: SecretError) -> Self {
        ApiError::internal(e)
    }
}

/// Failures of the queue adapter.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("SQS error: {0}")]
    Backend(String),
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        ApiError::internal(e)
    }
}

/// Configuration that is missing or unreadable at cold start.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Why a function could not start: its configuration, a secret it needs at cold start, or a
/// client it could not build.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("reading a secret at start: {0}")]
    Secret(#[from] SecretError),
    #[error("building the {what} client: {reason}")]
    Client { what: &'static str, reason: String },
}

/// What the rate-limit headers say after a request was counted (`crate::rate_limit`): on
/// every answer of a limited route, and inside the 429 `rate_limited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStatus {
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u32,
}

impl RateStatus {
    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("ratelimit-limit", self.limit.to_string()),
            ("ratelimit-remaining", self.remaining.to_string()),
            ("ratelimit-reset", self.reset_secs.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_conflict_answers_without_the_store_detail() {
        let e: ApiError = StoreError::Conflict(
            "transaction cancelled: [\"ConditionalCheckFailed\", \"None\"]".into(),
        )
        .into();
        assert_eq!(e.status(), 409);
        assert_eq!(e.code(), "conflict");
        assert_eq!(e.to_string(), CONFLICT_MESSAGE);
        assert!(!e.to_string().contains("Conditional"));
    }

    #[test]
    fn rate_limited_is_a_429_with_its_own_code() {
        let e = ApiError::RateLimited(RateStatus {
            limit: 100,
            remaining: 0,
            reset_secs: 12,
        });
        assert_eq!((e.status(), e.code().as_str()), (429, "rate_limited"));
        assert!(e.to_string().contains("100") && e.to_string().contains("12 s"));
    }
}
