//! The delivery log: pages newest first, filters, only the account's own unexpired rows.

use super::*;
use domain::ids::{AccountId, CallId, EventId};

pub(super) fn attempt(
    account: &AccountId,
    at: DateTime<Utc>,
    outcome: DeliveryOutcome,
    n: u32,
) -> DeliveryAttempt {
    let failed = matches!(outcome, DeliveryOutcome::Failed | DeliveryOutcome::Dropped);
    DeliveryAttempt {
        trigger: Default::default(),
        account_id: account.clone(),
        event_id: EventId::new_v4(),
        call_id: CallId::new_v4(),
        attempt: n,
        attempted_at: at,
        url: (outcome != DeliveryOutcome::Skipped).then(|| "https://hooks.example.com/in".into()),
        outcome,
        http_status: match outcome {
            DeliveryOutcome::Delivered => Some(200),
            DeliveryOutcome::Failed | DeliveryOutcome::Dropped => Some(503),
            DeliveryOutcome::Skipped => None,
        },
        duration_ms: 87,
        error_class: failed.then_some(DeliveryErrorClass::HttpStatus),
        response_excerpt: failed.then(|| "Service Unavailable".into()),
        next_attempt_at: (outcome == DeliveryOutcome::Failed)
            .then(|| at + chrono::Duration::seconds(30)),
    }
}

/// The attempts in log order (newest first; ties broken like the sort key).
pub(super) fn log_order(mut v: Vec<DeliveryAttempt>) -> Vec<DeliveryAttempt> {
    v.sort_by_key(|a| {
        std::cmp::Reverse(keys::delivery(&a.account_id, a.attempted_at, &a.event_id, a.attempt).1)
    });
    v
}

pub(super) fn row_id(row: &Value) -> (String, u64) {
    (
        row["event_id"].as_str().expect("event id").to_string(),
        row["attempt"].as_u64().expect("attempt"),
    )
}

pub(super) fn attempt_id(a: &DeliveryAttempt) -> (String, u64) {
    (a.event_id.to_string(), u64::from(a.attempt))
}

/// Follows `next_cursor` to the end; returns every row and the page sizes.
pub(super) async fn read_all(
    app: &App,
    account: &AccountId,
    query: &str,
) -> (Vec<Value>, Vec<usize>) {
    let mut rows = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("{query}&cursor={c}"),
            None => query.to_string(),
        };
        let (status, body) = send_with(
            app.settings_deps(),
            app.in_session(account, ApiRequest::get(DELIVERIES).query(&q)),
        )
        .await;
        assert_eq!(status, 200, "{q}: {body}");
        let page = body["deliveries"].as_array().expect("deliveries").clone();
        sizes.push(page.len());
        rows.extend(page);
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(sizes.len() < 100, "pagination does not end");
    }
    (rows, sizes)
}

/// Writes attempts through the shared store: 23 spread over minutes and 4 sharing one
/// millisecond (so ties fall on page boundaries), in every outcome.
pub(super) async fn seed_log(app: &App, account: &AccountId) -> Vec<DeliveryAttempt> {
    let now = app.fixed_clock().now();
    let outcomes = DeliveryOutcome::ALL;
    let mut all = Vec::new();
    for i in 0..23u32 {
        let at = now - chrono::Duration::seconds(i64::from(i) * 97 + 5);
        all.push(attempt(account, at, outcomes[i as usize % 4], 1 + i % 4));
    }
    let tie = now - chrono::Duration::milliseconds(61_500);
    for i in 0..4u32 {
        all.push(attempt(account, tie, outcomes[(i as usize + 1) % 4], 1));
    }
    let writes = all.iter().map(|a| app.store.record_attempt(a));
    for r in join_all(writes).await {
        r.expect("record attempt");
    }
    all
}

#[tokio::test]
async fn the_delivery_log_pages_newest_first_without_gaps_or_repeats() {
    let (app, seeded) = app().await;
    let all = seed_log(&app, &seeded.account.id).await;
    let expected: Vec<_> = log_order(all.clone()).iter().map(attempt_id).collect();
    assert_eq!(expected.len(), 27);

    for limit in [1usize, 4, 7, 26, 27, 100] {
        let (rows, sizes) = read_all(&app, &seeded.account.id, &format!("limit={limit}")).await;
        let got: Vec<_> = rows.iter().map(row_id).collect();
        assert_eq!(got, expected, "limit {limit}");
        assert!(sizes.iter().all(|s| *s <= limit));
        assert_eq!(
            sizes.len(),
            27usize.div_ceil(limit),
            "limit {limit}: {sizes:?}"
        );
        assert!(sizes.iter().all(|s| *s > 0), "no empty trailing page");
    }

    // The default page is 25 rows.
    let (status, body) = app.settings(app.session(&seeded, "GET", DELIVERIES)).await;
    assert_eq!(status, 200);
    assert_eq!(body["deliveries"].as_array().map(Vec::len), Some(25));
    assert!(body["next_cursor"].is_string());
    assert_eq!(body["success"], true);

    // Each row is the shared JSON view of the stored attempt.
    let newest = &log_order(all)[0];
    assert_eq!(
        body["deliveries"][0],
        serde_json::to_value(newest.view()).unwrap()
    );
    let row = &body["deliveries"][0];
    assert!(row["attempted_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    for key in [
        "event_id",
        "call_id",
        "attempt",
        "attempted_at",
        "url",
        "outcome",
        "http_status",
        "duration_ms",
        "error_class",
        "response_excerpt",
        "next_attempt_at",
    ] {
        assert!(row.get(key).is_some(), "row has {key}: {row}");
    }
}

#[tokio::test]
async fn the_delivery_log_filters_by_outcome_across_pages() {
    let (app, seeded) = app().await;
    let all = seed_log(&app, &seeded.account.id).await;
    for outcome in DeliveryOutcome::ALL {
        let expected: Vec<_> = log_order(
            all.iter()
                .filter(|a| a.outcome == outcome)
                .cloned()
                .collect(),
        )
        .iter()
        .map(attempt_id)
        .collect();
        assert!(!expected.is_empty());
        let (rows, _) = read_all(
            &app,
            &seeded.account.id,
            &format!("outcome={}&limit=2", outcome.as_str()),
        )
        .await;
        assert!(rows.iter().all(|r| r["outcome"] == outcome.as_str()));
        let got: Vec<_> = rows.iter().map(row_id).collect();
        assert_eq!(got, expected, "{outcome:?}");
    }
}

#[tokio::test]
async fn the_delivery_log_shows_only_the_accounts_own_unexpired_rows() {
    let (app, seeded) = app().await;
    let mine = seed_log(&app, &seeded.account.id).await;
    let other = fixtures::agency(&*app.store, app.secrets.as_ref()).await;
    let theirs = seed_log(&app, &other.account.id).await;
    let now = app.fixed_clock().now();
    // Rows past the 30-day retention that the TTL sweeper has not removed yet.
    let old = [
        attempt(
            &seeded.account.id,
            now - chrono::Duration::days(31),
            DeliveryOutcome::Failed,
            1,
        ),
        attempt(
            &seeded.account.id,
            now - chrono::Duration::days(30) - chrono::Duration::seconds(1),
            DeliveryOutcome::Delivered,
            1,
        ),
    ];
    let kept = attempt(
        &seeded.account.id,
        now - chrono::Duration::days(29),
        DeliveryOutcome::Failed,
        2,
    );
    for a in old.iter().chain([&kept]) {
        app.store.record_attempt(a).await.expect("record");
    }

    let (rows, _) = read_all(&app, &seeded.account.id, "limit=10").await;
    let got: Vec<_> = rows.iter().map(row_id).collect();
    let mut expected_rows = mine.clone();
    expected_rows.push(kept.clone());
    let expected: Vec<_> = log_order(expected_rows).iter().map(attempt_id).collect();
    assert_eq!(got, expected);
    for a in theirs.iter().chain(old.iter()) {
        assert!(!got.contains(&attempt_id(a)), "{a:?} must not be visible");
    }
    let (rows, _) = read_all(&app, &seeded.account.id, "outcome=failed&limit=3").await;
    assert_eq!(
        rows.last().map(row_id),
        Some(attempt_id(&kept)),
        "the oldest unexpired row ends the filtered log"
    );

    // Another account's cursor only ever positions a read in the caller's own log.
    let (_, body) = send_with(
        app.settings_deps(),
        app.in_session(
            &other.account.id,
            ApiRequest::get(DELIVERIES).query("limit=5"),
        ),
    )
    .await;
    let their_cursor = body["next_cursor"].as_str().expect("cursor").to_string();
    let (status, body) = app
        .settings(
            app.session(&seeded, "GET", DELIVERIES)
                .query(&format!("limit=100&cursor={their_cursor}")),
        )
        .await;
    assert_eq!(status, 200);
    for row in body["deliveries"].as_array().expect("rows") {
        assert!(mine
            .iter()
            .chain([&kept])
            .any(|a| attempt_id(a) == row_id(row)));
    }

    // An account with no deliveries.
    let empty = fixtures::agency(&*app.store, app.secrets.as_ref()).await;
    let (status, body) = send_with(
        app.settings_deps(),
        app.in_session(&empty.account.id, ApiRequest::get(DELIVERIES)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"success": true, "deliveries": [], "next_cursor": null})
    );
}

#[tokio::test]
async fn the_delivery_log_refuses_bad_parameters() {
    let (app, seeded) = app().await;
    seed_log(&app, &seeded.account.id).await;
    let (_, body) = app
        .settings(
            app.session(&seeded, "GET", DELIVERIES)
                .query("outcome=failed&limit=2"),
        )
        .await;
    let failed_cursor = body["next_cursor"].as_str().expect("cursor").to_string();
    use base64::Engine;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(r#"{"v":1,"outcome":null,"sk":"AGENT#00000000-0000-0000-0000-000000000000"}"#);
    let cases: Vec<(String, &str, &str)> = vec![
        ("limit=0".into(), "invalid_limit", "limit"),
        ("limit=101".into(), "invalid_limit", "limit"),
        ("limit=-1".into(), "invalid_limit", "limit"),
        ("limit=2.5".into(), "invalid_limit", "limit"),
        ("limit=%2B5".into(), "invalid_limit", "limit"),
        ("limit=ten".into(), "invalid_limit", "limit"),
        ("limit=".into(), "invalid_limit", "limit"),
        (
            "limit=99999999999999999999999".into(),
            "invalid_limit",
            "limit",
        ),
        ("outcome=bounced".into(), "invalid_outcome", "outcome"),
        ("outcome=Delivered".into(), "invalid_outcome", "outcome"),
        ("outcome=".into(), "invalid_outcome", "outcome"),
        ("cursor=garbage!".into(), "invalid_cursor", "cursor"),
        ("cursor=".into(), "invalid_cursor", "cursor"),
        ("cursor=eyJ2IjoxfQ".into(), "invalid_cursor", "cursor"),
        (format!("cursor={forged}"), "invalid_cursor", "cursor"),
        // A cursor continues only the listing it came from.
        (
            format!("cursor={failed_cursor}"),
            "invalid_cursor",
            "cursor",
        ),
        (
            format!("outcome=delivered&cursor={failed_cursor}"),
            "invalid_cursor",
            "cursor",
        ),
        ("status=failed".into(), "unknown_parameter", "status"),
        ("limit=5&page=2".into(), "unknown_parameter", "page"),
        ("limit=5&limit=6".into(), "duplicate_parameter", "limit"),
    ];
    for (q, want_code, want_field) in cases {
        let (status, body) = app
            .settings(app.session(&seeded, "GET", DELIVERIES).query(&q))
            .await;
        assert_eq!(
            (status, code(&body), field(&body)),
            (400, want_code, want_field),
            "{q}: {body}"
        );
    }
    // A cursor whose rows have all expired since its page was read ends the log.
    app.fixed_clock().advance(chrono::Duration::days(31));
    let (status, body) = app
        .settings(
            app.session(&seeded, "GET", DELIVERIES)
                .query(&format!("outcome=failed&limit=2&cursor={failed_cursor}")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "deliveries": [], "next_cursor": null})
    );
    app.fixed_clock().advance(chrono::Duration::days(-31));
    // The right cursor with the right filter works.
    let (status, body) = app
        .settings(
            app.session(&seeded, "GET", DELIVERIES)
                .query(&format!("outcome=failed&limit=2&cursor={failed_cursor}")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
