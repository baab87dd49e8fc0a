//! The endpoint summary the settings GET shows, computed from the delivery log.
//!
//! Definitions (docs/settings-api.md says the same):
//! - an attempt **counts** when it reached a verdict on the customer's endpoint: its row is
//!   `delivered`, `failed` or `dropped`, and it did not fail on our side (error class
//!   `internal`). `skipped` rows (nothing was sent) and internal failures never count. Test
//!   sends count: they reach the endpoint like any other attempt;
//! - `last_success_at`: when the newest `delivered` attempt of the log (30 days) was made;
//! - `consecutive_failures`: counted failed or dropped attempts made after that one (after the
//!   start of the log when nothing was ever delivered);
//! - `success_rate_24h`: delivered attempts / counted attempts made in the 24 hours up to now
//!   (a number from 0 to 1), `null` when there are none; `attempts_24h` is the denominator.
//!
//! Reads: the newest `delivered` row (one row), then the `delivered`, `failed` and `dropped`
//! rows of the window through the log's outcome index (`DeliveryLog::deliveries_between`, never
//! a scan). The failed and dropped rows are read back to the last success when that is older
//! than 24 hours, so a long outage reads its failures once per page view.

use crate::answer;
use crate::error::StoreError;
use crate::ids::AccountId;
use crate::model::{DeliveryAttempt, DeliveryErrorClass, DeliveryOutcome};
use crate::ports::store::deliveries::{DeliveryLog, DeliveryQuery, RETENTION_DAYS};
use chrono::{DateTime, Utc};

/// The window of `success_rate_24h`.
pub const RATE_WINDOW: chrono::Duration = chrono::Duration::hours(24);

#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSummary {
    pub last_success_at: Option<DateTime<Utc>>,
    pub consecutive_failures: u64,
    /// Counted attempts of the last 24 hours, and how many of them were delivered.
    pub attempts_24h: u64,
    pub delivered_24h: u64,
}

impl EndpointSummary {
    /// delivered / counted over the last 24 hours; `None` when nothing counted.
    pub fn success_rate_24h(&self) -> Option<f64> {
        (self.attempts_24h > 0).then(|| self.delivered_24h as f64 / self.attempts_24h as f64)
    }

    /// The summary as the settings API shows it.
    pub fn view(&self) -> EndpointView {
        EndpointView {
            last_success_at: self.last_success_at,
            consecutive_failures: self.consecutive_failures,
            success_rate_24h: self.success_rate_24h(),
            attempts_24h: self.attempts_24h,
        }
    }
}

/// The webhook endpoint's health, from the delivery log (30 days). An attempt counts when
/// the endpoint gave a verdict: a `delivered`, `failed` or `dropped` row that did not fail
/// on our side (error class `internal`); `skipped` rows and internal failures never count,
/// test sends do.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "openapi",
    schemars(rename = "EndpointSummary", deny_unknown_fields)
)]
pub struct EndpointView {
    /// when the newest delivered attempt was made; `null` when none in the log
    #[serde(serialize_with = "answer::opt_time")]
    pub last_success_at: Option<DateTime<Utc>>,
    /// counted failed or dropped attempts made after the newest delivered one
    pub consecutive_failures: u64,
    /// delivered attempts / counted attempts made in the last 24 hours; `null` when there were none
    #[cfg_attr(feature = "openapi", schemars(range(min = 0.0, max = 1.0)))]
    pub success_rate_24h: Option<f64>,
    /// counted attempts made in the last 24 hours (the rate's denominator)
    pub attempts_24h: u64,
}

/// Counted: the endpoint gave a verdict (see the module comment).
fn counts(row: &DeliveryAttempt) -> bool {
    row.error_class != Some(DeliveryErrorClass::Internal)
}

pub async fn endpoint_summary(
    log: &dyn DeliveryLog,
    account_id: &AccountId,
    now: DateTime<Utc>,
) -> Result<EndpointSummary, StoreError> {
    let newest_delivered = log
        .deliveries(
            account_id,
            &DeliveryQuery {
                outcome: Some(DeliveryOutcome::Delivered),
                limit: 1,
                after: None,
            },
            now,
        )
        .await?;
    let last_success_at = newest_delivered.attempts.first().map(|a| a.attempted_at);
    let window_start = now - RATE_WINDOW;
    let failures_from = last_success_at
        .unwrap_or(now - chrono::Duration::days(RETENTION_DAYS))
        .min(window_start);
    let delivered = log
        .deliveries_between(
            account_id,
            DeliveryOutcome::Delivered,
            window_start,
            now,
            now,
        )
        .await?;
    let mut failures = log
        .deliveries_between(account_id, DeliveryOutcome::Failed, failures_from, now, now)
        .await?;
    failures.extend(
        log.deliveries_between(
            account_id,
            DeliveryOutcome::Dropped,
            failures_from,
            now,
            now,
        )
        .await?,
    );
    let failures: Vec<&DeliveryAttempt> = failures.iter().filter(|r| counts(r)).collect();
    let consecutive_failures = failures
        .iter()
        .filter(|r| last_success_at.is_none_or(|t| r.attempted_at > t))
        .count() as u64;
    let in_window = |r: &&DeliveryAttempt| r.attempted_at >= window_start && r.attempted_at <= now;
    let delivered_24h = delivered.iter().filter(in_window).count() as u64;
    let failed_24h = failures.iter().copied().filter(in_window).count() as u64;
    Ok(EndpointSummary {
        last_success_at,
        consecutive_failures,
        attempts_24h: delivered_24h + failed_24h,
        delivered_24h,
    })
}

/// The span of the endpoint-health chart (`GET .../endpoint-health?range=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthRange {
    /// The last 24 hours, one bar an hour.
    Day,
    /// The last 7 days, one bar an hour.
    Week,
}

impl HealthRange {
    pub fn parse(s: &str) -> Option<HealthRange> {
        match s {
            "24h" => Some(HealthRange::Day),
            "7d" => Some(HealthRange::Week),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HealthRange::Day => "24h",
            HealthRange::Week => "7d",
        }
    }

    /// How many one-hour buckets the range has (the current, partial hour is the last).
    pub fn hours(self) -> i64 {
        match self {
            HealthRange::Day => 24,
            HealthRange::Week => 24 * 7,
        }
    }
}

/// One hour of the chart: counted attempts by outcome (the same counting as the summary:
/// internal failures and `skipped` rows never count).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct HealthBucket {
    /// the hour's start (UTC)
    #[serde(serialize_with = "answer::time")]
    pub start: DateTime<Utc>,
    pub delivered: u64,
    pub failed: u64,
    pub dropped: u64,
}

/// Counted attempts per UTC hour over `range`, oldest hour first, the current hour last.
///
/// Three reads through the log's outcome index (`DeliveryLog::deliveries_between` for
/// `delivered`, `failed` and `dropped` from the first hour's start to `now`), never a scan.
pub async fn delivery_histogram(
    log: &dyn DeliveryLog,
    account_id: &AccountId,
    range: HealthRange,
    now: DateTime<Utc>,
) -> Result<Vec<HealthBucket>, StoreError> {
    use chrono::DurationRound;
    let hour = chrono::Duration::hours(1);
    let current = now.duration_trunc(hour).unwrap_or(now);
    let first = current - hour * (range.hours() as i32 - 1);
    let mut buckets: Vec<HealthBucket> = (0..range.hours())
        .map(|i| HealthBucket {
            start: first + hour * i as i32,
            delivered: 0,
            failed: 0,
            dropped: 0,
        })
        .collect();
    for outcome in [
        DeliveryOutcome::Delivered,
        DeliveryOutcome::Failed,
        DeliveryOutcome::Dropped,
    ] {
        let rows = log
            .deliveries_between(account_id, outcome, first, now, now)
            .await?;
        for row in rows.iter().filter(|r| counts(r)) {
            let index = (row.attempted_at - first).num_hours();
            let Some(bucket) = usize::try_from(index).ok().and_then(|i| buckets.get_mut(i)) else {
                continue;
            };
            match outcome {
                DeliveryOutcome::Delivered => bucket.delivered += 1,
                DeliveryOutcome::Failed => bucket.failed += 1,
                _ => bucket.dropped += 1,
            }
        }
    }
    Ok(buckets)
}
