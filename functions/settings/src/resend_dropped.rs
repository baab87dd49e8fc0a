//! `POST /api/integrations/api-webhooks/deliveries/recover`: re-sends, as new attempt series,
//! every event of the caller's account whose last series ended `dropped` or `skipped` in the
//! range `{"since": RFC 3339, "until": RFC 3339 (optional, default now)}`.
//!
//! How the events are found: the delivery log's outcome index (`DeliveryLog::
//! deliveries_between`), never a scan. The `dropped` and `skipped` rows from `since` to now are
//! the candidates; an event whose newest row is later than its last `dropped`/`skipped` row
//! (a redelivery that was delivered, or a series still retrying) is left alone, so those rows
//! (`delivered`, `failed`) are read only from the oldest candidate on, and only when there is
//! one. An event is recovered when its newest row is `dropped` or `skipped` and falls in the
//! range.
//!
//! Why calling it twice gives each event one new series:
//!
//! - The series id is derived from the event's ending (the log row that ended its last series;
//!   a hash of its key, see [`recovery_id`]), so the same ending always gives the same series,
//!   and the delivery function's per-(event, series, attempt) claim never runs one series twice,
//!   however often its message is queued.
//! - Before queueing, the call claims attempt 0 of that series in the attempt ledger (attempt
//!   numbers start at 1, so the delivery function never uses it): a conditional marker per
//!   (event, ending). A second call finds it taken, queues nothing and does not count the event.
//!   The marker is a lease of [`RECOVERY_LEASE`]: if queueing failed (the call answered 500),
//!   the same events can be recovered again once it has passed, and a re-queued series is still
//!   run once (first point).
//! - Once the recovered series has logged its first attempt, the event's newest row is no longer
//!   the old ending and it is no candidate at all. If the recovered series ends `dropped`
//!   again, that is a new ending, and a later call sends a new series for it.
//!
//! One call recovers at most [`MAX_RECOVER_EVENTS`] events. A range with more is refused with
//! `422 too_many_events` (`field: since`) before anything is claimed or queued, so the caller
//! can split it into narrower ranges and nothing is half done.

use crate::ctx::{Ctx, Handler};
use chrono::{DateTime, Utc};
use domain::answer::Success;
use domain::ids::EventId;
use domain::model::{DeliveryAttempt, DeliveryOutcome, DeliveryTrigger};
use domain::ports::queue::DeliveryMessage;
use domain::ports::store::deliveries::{delivery_sort_key, RETENTION_DAYS};
use domain::ports::store::Claim;
use domain::ApiError;
use domain::ErrorCode;
use futures::stream::{self, StreamExt, TryStreamExt};
use lambda_glue::body::{parse_body, RequestBody};
use lambda_glue::http::{json_response, json_type, refuse_unknown_fields};
use lambda_glue::route;
use lambda_glue::router::Route;
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// This module's routes; `crate::router` serves every module's.
pub fn router() -> &'static [Route<Handler>] {
    static ROUTES: &[Route<Handler>] =
        &[route!(POST "/api/integrations/api-webhooks/deliveries/recover" => recover)];
    ROUTES
}

const FIELDS: [&str; 2] = ["since", "until"];

/// How long a recovery marker blocks another recovery of the same ending (see the module
/// comment): long enough for the queued series to log its first attempt.
pub const RECOVERY_LEASE: Duration = Duration::from_secs(300);

/// Events one call may recover. Each costs a conditional write and a queue message, so this
/// keeps a call well inside the settings function's 20 s timeout (1,000 events, 16 at once, are
/// about 63 rounds of claims and 63 of sends) and one call from flooding the events queue.
pub const MAX_RECOVER_EVENTS: usize = 1000;

/// Markers claimed, and messages queued, at once (each is independent; this bounds the open
/// connections).
const CONCURRENCY: usize = 16;

/// The validated range, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

fn timestamp(body: &Map<String, Value>, field: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                ApiError::bad_request(
                    ErrorCode::InvalidTimestamp,
                    field,
                    format!("{field} must be an RFC 3339 time, e.g. \"2025-06-15T14:30:00Z\""),
                )
            }),
        Some(other) => Err(ApiError::bad_request(
            ErrorCode::InvalidType,
            field,
            format!(
                "{field} must be an RFC 3339 string, not {}",
                json_type(other)
            ),
        )),
    }
}

/// The body: the range to recover, as sent. [`RequestBody::parse`] checks it against the
/// clock's now; [`RecoverRequest::range`] resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields, description = ""))]
pub struct RecoverRequest {
    /// the start of the range: within the delivery log's retention, not in the future
    pub since: DateTime<Utc>,
    /// the end of the range (default now; a future one means now), not before `since`
    #[cfg_attr(feature = "openapi", schemars(transform = lambda_glue::body::not_null))]
    pub until: Option<DateTime<Utc>>,
}

/// The context is the clock's now: `since` required, within the log's retention and not in
/// the future; `until` (default now) not before `since`; a future `until` means now.
impl RequestBody for RecoverRequest {
    const FIELDS: &'static [&'static str] = &FIELDS;
    type Context = DateTime<Utc>;

    fn parse(body: &Map<String, Value>, now: &DateTime<Utc>) -> Result<Self, ApiError> {
        let now = *now;
        refuse_unknown_fields(body, &FIELDS)?;
        let since = timestamp(body, "since")?.ok_or_else(|| {
            ApiError::bad_request(
                ErrorCode::MissingField,
                "since",
                "since is required: the start of the range, RFC 3339",
            )
        })?;
        let horizon = now - chrono::Duration::days(RETENTION_DAYS);
        if since < horizon {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRange,
                "since",
                format!(
                    "since must be within the delivery log's retention ({RETENTION_DAYS} days)"
                ),
            ));
        }
        if since > now {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRange,
                "since",
                "since is in the future",
            ));
        }
        let until = timestamp(body, "until")?;
        if until.unwrap_or(now).min(now) < since {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRange,
                "until",
                "until must not be before since",
            ));
        }
        Ok(RecoverRequest { since, until })
    }
}

impl RecoverRequest {
    /// The range to recover at `now` (the now it was parsed against): `until` defaults to
    /// now, and a future one means now.
    pub fn range(self, now: DateTime<Utc>) -> Range {
        Range {
            since: self.since,
            until: self.until.unwrap_or(now).min(now),
        }
    }
}

/// Parses and checks the body against `now` ([`RecoverRequest`]) and resolves its range.
pub fn parse(body: &Map<String, Value>, now: DateTime<Utc>) -> Result<Range, ApiError> {
    RecoverRequest::parse(body, &now).map(|r| r.range(now))
}

/// The redelivery id of the series that recovers `ending` (the row that ended the event's last
/// series): the same ending always gives the same id.
pub fn recovery_id(ending: &DeliveryAttempt) -> Uuid {
    let key = delivery_sort_key(ending.attempted_at, &ending.event_id, ending.attempt);
    let digest = Sha256::digest(format!("recover:{key}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

fn sort_key(a: &DeliveryAttempt) -> String {
    delivery_sort_key(a.attempted_at, &a.event_id, a.attempt)
}

/// Keeps, per event, the row with the greatest sort key (the newest).
fn keep_newest(
    newest: &mut HashMap<EventId, (String, DeliveryAttempt)>,
    rows: Vec<DeliveryAttempt>,
) {
    for row in rows {
        let key = sort_key(&row);
        match newest.get(&row.event_id) {
            Some((k, _)) if *k >= key => {}
            _ => {
                newest.insert(row.event_id, (key, row));
            }
        }
    }
}

/// The endings to recover: per event its newest row, kept when that row is `dropped` or
/// `skipped` and within the range.
async fn endings(ctx: &Ctx<'_>, range: Range) -> Result<Vec<DeliveryAttempt>, ApiError> {
    let store = ctx.deps.store.as_ref();
    let account = &ctx.account.id;
    let now = ctx.deps.clock.now();
    let mut newest: HashMap<EventId, (String, DeliveryAttempt)> = HashMap::new();
    for outcome in [DeliveryOutcome::Dropped, DeliveryOutcome::Skipped] {
        keep_newest(
            &mut newest,
            store
                .deliveries_between(account, outcome, range.since, now, now)
                .await?,
        );
    }
    let Some(oldest) = newest.values().map(|(_, a)| a.attempted_at).min() else {
        return Ok(Vec::new());
    };
    for outcome in [DeliveryOutcome::Delivered, DeliveryOutcome::Failed] {
        keep_newest(
            &mut newest,
            store
                .deliveries_between(account, outcome, oldest, now, now)
                .await?,
        );
    }
    let mut out: Vec<DeliveryAttempt> = newest
        .into_values()
        .map(|(_, a)| a)
        .filter(|a| {
            matches!(
                a.outcome,
                DeliveryOutcome::Dropped | DeliveryOutcome::Skipped
            ) && a.attempted_at >= range.since
                && a.attempted_at <= range.until
        })
        .collect();
    out.sort_by_key(sort_key);
    Ok(out)
}

/// The answer to a range holding more than [`MAX_RECOVER_EVENTS`] events to recover.
pub fn too_many_events(found: usize) -> ApiError {
    ApiError::unprocessable(
        ErrorCode::TooManyEvents,
        Some("since"),
        format!(
            "the range holds {found} events to recover; one request recovers at most \
             {MAX_RECOVER_EVENTS}. Nothing was queued: narrow the range (a later since or an \
             earlier until) and recover it in parts"
        ),
    )
}

/// Claims the recovery series of `ending` (attempt 0, the marker): its first attempt's message
/// when this call won the claim, `None` when another call claimed it already.
async fn claim(
    ctx: &Ctx<'_>,
    ending: &DeliveryAttempt,
    now: DateTime<Utc>,
) -> Result<Option<DeliveryMessage>, ApiError> {
    let mut msg = DeliveryMessage::first(ending.event_id, ctx.account.id.as_str(), ending.call_id);
    msg.redelivery = Some(recovery_id(ending));
    msg.trigger = Some(DeliveryTrigger::Recovery);
    let claim = ctx
        .deps
        .store
        .claim_attempt(ending.event_id, &msg.series(), 0, now, RECOVERY_LEASE)
        .await?;
    Ok((claim == Claim::Won).then_some(msg))
}

pub async fn recover(ctx: Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let now = ctx.deps.clock.now();
    let range = parse_body::<RecoverRequest>(ctx.req, &now)?.range(now);
    let endings = endings(&ctx, range).await?;
    if endings.len() > MAX_RECOVER_EVENTS {
        return Err(too_many_events(endings.len()));
    }
    let queue = ctx.deps.queue.as_ref();
    let account = &ctx.account.id;
    let now = ctx.deps.clock.now();
    // Every marker first, then the messages: a failed send leaves its event claimed (see the
    // module comment). The futures are collected before they are streamed: a stream mapping
    // borrowed endings is not provably `Send` for every lifetime, which the route's must be.
    let claims = endings
        .iter()
        .map(|ending| claim(&ctx, ending, now))
        .collect::<Vec<_>>();
    let messages: Vec<DeliveryMessage> = stream::iter(claims)
        .buffer_unordered(CONCURRENCY)
        .try_filter_map(|msg| async move { Ok(msg) })
        .try_collect()
        .await?;
    let sends = messages
        .iter()
        .map(|msg| queue.send(msg, Duration::ZERO))
        .collect::<Vec<_>>();
    let recovered = stream::iter(sends)
        .buffer_unordered(CONCURRENCY)
        .try_fold(0usize, |n, ()| async move { Ok(n + 1) })
        .await?;
    tracing::info!(account_id = %account, recovered, "recovery series queued");
    crate::metrics::recovery(&ctx.account, recovered).emit();
    Ok(json_response(
        202,
        &Recovered {
            success: Success,
            recovered,
        },
    ))
}

/// `202`: how many dropped or skipped events were queued again.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct Recovered {
    pub success: Success,
    pub recovered: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 30, 12, 0, 0).unwrap()
    }

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn ranges_are_checked_naming_the_field() {
        let cases = [
            (json!({}), "missing_field", "since"),
            (json!({"since": 5}), "invalid_type", "since"),
            (json!({"since": "yesterday"}), "invalid_timestamp", "since"),
            (
                json!({"since": "2025-05-01T00:00:00Z"}),
                "invalid_range",
                "since",
            ),
            (
                json!({"since": "2025-07-01T00:00:00Z"}),
                "invalid_range",
                "since",
            ),
            (
                json!({"since": "2025-06-29T00:00:00Z", "until": "2025-06-28T00:00:00Z"}),
                "invalid_range",
                "until",
            ),
            (
                json!({"since": "2025-06-29T00:00:00Z", "until": "soon"}),
                "invalid_timestamp",
                "until",
            ),
            (
                json!({"since": "2025-06-29T00:00:00Z", "from": "x"}),
                "unknown_field",
                "from",
            ),
        ];
        for (b, code, field) in cases {
            let e = parse(&body(b.clone()), now()).unwrap_err();
            assert_eq!(
                (e.status(), e.code().as_str(), e.field()),
                (400, code, Some(field)),
                "{b}"
            );
        }
    }

    #[test]
    fn until_defaults_to_now_and_is_capped_there() {
        let r = parse(&body(json!({"since": "2025-06-29T00:00:00+02:00"})), now()).unwrap();
        assert_eq!(
            r.since,
            Utc.with_ymd_and_hms(2025, 6, 28, 22, 0, 0).unwrap()
        );
        assert_eq!(r.until, now());
        let r = parse(
            &body(json!({"since": "2025-06-29T00:00:00Z", "until": "2030-01-01T00:00:00Z"})),
            now(),
        )
        .unwrap();
        assert_eq!(r.until, now());
    }
}
