//! The endpoint summary of the settings GET over a known delivery log: the last success,
//! the failures after it, and the 24-hour success rate (internal failures and skipped rows
//! never count; test sends do).

use super::App;
use chrono::{DateTime, Duration, DurationRound, Utc};
use domain::ids::{AccountId, CallId, EventId};
use domain::model::{DeliveryAttempt, DeliveryErrorClass, DeliveryOutcome, DeliveryTrigger};
use domain::ports::store::DeliveryLog;
use domain::webhook::summary::endpoint_summary;
use integration_tests::apigw::{parts, ApiRequest, Build};
use serde_json::json;

fn row(
    account: &AccountId,
    at: DateTime<Utc>,
    outcome: DeliveryOutcome,
    class: Option<DeliveryErrorClass>,
    trigger: DeliveryTrigger,
) -> DeliveryAttempt {
    DeliveryAttempt {
        account_id: account.into(),
        event_id: EventId::new_v4(),
        call_id: CallId::new_v4(),
        attempt: 1,
        attempted_at: at,
        url: Some("https://hooks.example.com/x".into()),
        outcome,
        http_status: None,
        duration_ms: 12,
        error_class: class,
        response_excerpt: None,
        next_attempt_at: None,
        trigger,
    }
}

#[tokio::test]
async fn summary_figures_over_a_known_log() {
    let w = App::new();
    let s = w.agency().await;
    let id = &s.account.id;
    let now = w.now();
    let h = |hours: i64| now - Duration::hours(hours);
    use DeliveryOutcome::*;
    use DeliveryTrigger::*;
    let http = Some(DeliveryErrorClass::HttpStatus);
    let internal = Some(DeliveryErrorClass::Internal);
    let rows = [
        // Older than 24 h: a success and a failure (count for nothing but history).
        row(id, h(30), Delivered, None, Automatic),
        row(id, h(26), Failed, http, Automatic),
        // The window: 3 delivered (one a test send), 3 counted failures after the last
        // success at h(5)... and before it one failure.
        row(id, h(20), Failed, http, Automatic),
        row(id, h(10), Delivered, None, Test),
        row(id, h(8), Delivered, None, Redelivery),
        row(id, h(5), Delivered, None, Automatic),
        row(id, h(4), Failed, http, Automatic),
        row(
            id,
            h(3),
            Failed,
            Some(DeliveryErrorClass::Timeout),
            Recovery,
        ),
        row(id, h(2), Dropped, http, Automatic),
        // Never counted: our own failure, a skip.
        row(id, h(1), Failed, internal, Automatic),
        row(id, h(1), Skipped, None, Automatic),
    ];
    for r in &rows {
        w.store.record_attempt(r).await.unwrap();
    }
    let summary = endpoint_summary(w.store.as_ref(), id, now).await.unwrap();
    assert_eq!(summary.last_success_at, Some(h(5)));
    assert_eq!(summary.consecutive_failures, 3);
    assert_eq!((summary.delivered_24h, summary.attempts_24h), (3, 7));
    assert_eq!(summary.success_rate_24h(), Some(3.0 / 7.0));

    // Through the settings GET.
    let deps = w.settings_deps();
    let req = ApiRequest::get("/api/integrations/api-webhooks")
        .claims(json!({(w.tunables.account_claim.as_str()): id}));
    let (status, body) = parts(&::settings::handle(req.build(), deps).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["endpoint"],
        json!({
            "last_success_at": domain::clock::rfc3339(h(5)),
            "consecutive_failures": 3,
            "success_rate_24h": 3.0 / 7.0,
            "attempts_24h": 7,
        })
    );

    // A day later nothing is in the window: the rate is null, the history stays.
    let later = now + Duration::hours(25);
    let summary = endpoint_summary(w.store.as_ref(), id, later).await.unwrap();
    assert_eq!(summary.success_rate_24h(), None);
    assert_eq!(summary.attempts_24h, 0);
    assert_eq!(summary.last_success_at, Some(h(5)));
    assert_eq!(summary.consecutive_failures, 3);
}

#[tokio::test]
async fn never_delivered_counts_every_failure_of_the_log() {
    let w = App::new();
    let s = w.agency().await;
    let id = &s.account.id;
    let now = w.now();
    for hours in [40, 30, 2] {
        w.store
            .record_attempt(&row(
                id,
                now - Duration::hours(hours),
                DeliveryOutcome::Failed,
                Some(DeliveryErrorClass::Connect),
                DeliveryTrigger::Automatic,
            ))
            .await
            .unwrap();
    }
    let summary = endpoint_summary(w.store.as_ref(), id, now).await.unwrap();
    assert_eq!(summary.last_success_at, None);
    assert_eq!(summary.consecutive_failures, 3);
    assert_eq!((summary.delivered_24h, summary.attempts_24h), (0, 1));
    assert_eq!(summary.success_rate_24h(), Some(0.0));
}

/// The health chart's buckets (`GET .../endpoint-health`): counted attempts per UTC hour, the
/// current hour last; internal failures, skipped rows and rows before the range never count.
#[tokio::test]
async fn health_buckets_count_each_hour_over_a_known_log() {
    use domain::webhook::summary::{delivery_histogram, HealthRange};
    let w = App::new();
    let s = w.agency().await;
    let id = &s.account.id;
    let now = w.now();
    let hour_start = now.duration_trunc(Duration::hours(1)).unwrap();
    let at =
        |hours: i64, minutes: i64| hour_start - Duration::hours(hours) + Duration::minutes(minutes);
    use DeliveryOutcome::*;
    use DeliveryTrigger::*;
    let http = Some(DeliveryErrorClass::HttpStatus);
    let rows = [
        // This hour: 2 delivered (one a test send), 1 failed, 1 dropped; not counted: an
        // internal failure and a skip.
        row(id, hour_start, Delivered, None, Automatic),
        row(id, now, Delivered, None, Test),
        row(id, now, Failed, http, Automatic),
        row(id, now, Dropped, http, Automatic),
        row(
            id,
            now,
            Failed,
            Some(DeliveryErrorClass::Internal),
            Automatic,
        ),
        row(id, now, Skipped, None, Automatic),
        // 5 hours ago: 1 failed at the hour's last minute.
        row(id, at(5, 59), Failed, http, Recovery),
        // The first hour of the day range (23 hours before this one) and one just before it.
        row(id, at(23, 0), Delivered, None, Automatic),
        row(id, at(24, 59), Delivered, None, Automatic),
        // 3 days ago: only in the 7-day range.
        row(id, at(72, 30), Dropped, http, Automatic),
    ];
    for r in &rows {
        w.store.record_attempt(r).await.unwrap();
    }
    let day = delivery_histogram(w.store.as_ref(), id, HealthRange::Day, now)
        .await
        .unwrap();
    assert_eq!(day.len(), 24);
    assert_eq!(day[23].start, hour_start);
    assert_eq!(day[0].start, at(23, 0));
    let counts = |b: &domain::webhook::summary::HealthBucket| (b.delivered, b.failed, b.dropped);
    assert_eq!(counts(&day[23]), (2, 1, 1), "this hour");
    assert_eq!(counts(&day[18]), (0, 1, 0), "5 hours ago");
    assert_eq!(counts(&day[0]), (1, 0, 0), "the first hour");
    let total: u64 = day.iter().map(|b| b.delivered + b.failed + b.dropped).sum();
    assert_eq!(total, 6, "nothing else is counted");

    let week = delivery_histogram(w.store.as_ref(), id, HealthRange::Week, now)
        .await
        .unwrap();
    assert_eq!(week.len(), 168);
    assert_eq!(counts(&week[167 - 72]), (0, 0, 1), "3 days ago");
    assert_eq!(counts(&week[167 - 24]), (1, 0, 0), "a day ago");
    let total: u64 = week
        .iter()
        .map(|b| b.delivered + b.failed + b.dropped)
        .sum();
    assert_eq!(total, 8);

    // Through the route: the summary and the buckets; a bad range or parameter is a 400.
    let deps = w.settings_deps();
    const HEALTH: &str = "/api/integrations/api-webhooks/endpoint-health";
    let get = |query: &str| {
        ApiRequest::get(HEALTH)
            .query(query)
            .claims(json!({(w.tunables.account_claim.as_str()): id}))
            .build()
    };
    let (status, body) = parts(&::settings::handle(get(""), deps).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["range"], "24h");
    assert_eq!(body["bucket_seconds"], 3600);
    assert_eq!(body["buckets"].as_array().unwrap().len(), 24);
    assert_eq!(
        body["buckets"][23],
        json!({"start": domain::clock::rfc3339(hour_start), "delivered": 2, "failed": 1, "dropped": 1})
    );
    // The same summary as the integration GET (the rows at `now` are not after the test send).
    assert_eq!(
        body["endpoint"]["last_success_at"],
        domain::clock::rfc3339(now)
    );
    assert_eq!(body["endpoint"]["attempts_24h"], 7);
    let (status, body) = parts(&::settings::handle(get("range=7d"), deps).await);
    assert_eq!(
        (status, body["buckets"].as_array().unwrap().len()),
        (200, 168)
    );
    for (query, code, field) in [
        ("range=30d", "invalid_range", "range"),
        ("range=24h&range=7d", "duplicate_parameter", "range"),
        ("since=1", "unknown_parameter", "since"),
    ] {
        let (status, body) = parts(&::settings::handle(get(query), deps).await);
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}");
        assert_eq!(body["error"]["field"], field, "{query}");
    }
}
