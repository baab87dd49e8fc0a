//! The endpoint summary of the settings GET over a known delivery log: the last success,
//! the failures after it, and the 24-hour success rate (internal failures and skipped rows
//! never count; test sends do).

use super::World;
use chrono::{DateTime, Duration, Utc};
use domain::model::{DeliveryAttempt, DeliveryErrorClass, DeliveryOutcome, DeliveryTrigger};
use domain::ports::store::DeliveryLog;
use domain::webhook::summary::endpoint_summary;
use integration_tests::apigw::{parts, ApiRequest, Build};
use serde_json::json;
use uuid::Uuid;

fn row(
    account: &str,
    at: DateTime<Utc>,
    outcome: DeliveryOutcome,
    class: Option<DeliveryErrorClass>,
    trigger: DeliveryTrigger,
) -> DeliveryAttempt {
    DeliveryAttempt {
        account_id: account.into(),
        event_id: Uuid::new_v4(),
        call_id: Uuid::new_v4(),
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
    let w = World::new();
    let s = w.agency().await;
    let id = s.account.id.as_str();
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
    let deps = w.ports().settings(&w.tunables);
    let req = ApiRequest::get("/api/integrations/api-webhooks")
        .claims(json!({(w.tunables.account_claim.as_str()): id}));
    let (status, body) = parts(&::settings::handle(req.build(), &deps).await);
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
    let w = World::new();
    let s = w.agency().await;
    let id = s.account.id.as_str();
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
