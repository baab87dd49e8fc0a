//! Bulk recover, end to end: DynamoDB's outcome index and the attempt ledger, SQS, the
//! delivery function and a real receiver.

use super::delivery_log::attempt;
use super::*;
use domain::ids::EventId;

#[tokio::test]
async fn recover_twice_on_the_emulator_posts_each_dropped_event_once() {
    let mut app = TestApp::emulator().await;
    let seeded = app.agency().await;
    let receiver = TestServer::fixed(200, json!({"ok": true})).await;
    let url = format!("{}/hooks/bvai", receiver.url());
    app.update_account(&seeded.account.id, |a| a.webhook_url = Some(url.clone()))
        .await;
    let since = now_ms() - chrono::Duration::minutes(10);
    let mut dropped = Vec::new();
    for _ in 0..3 {
        let event = app.stored_event(&seeded).await;
        // The original series ended dropped (the drop itself is the delivery tests' subject).
        app.store
            .record_attempt(&DeliveryAttempt {
                trigger: Default::default(),
                account_id: seeded.account.id.clone(),
                event_id: event.id,
                call_id: event.call_id,
                attempt: 4,
                attempted_at: now_ms() - chrono::Duration::minutes(5),
                url: Some(url.clone()),
                outcome: DeliveryOutcome::Dropped,
                http_status: Some(503),
                duration_ms: 5,
                error_class: Some(DeliveryErrorClass::HttpStatus),
                response_excerpt: None,
                next_attempt_at: None,
            })
            .await
            .unwrap();
        dropped.push(event.id);
    }
    let recover = || {
        let req = app
            .session(
                &seeded,
                "POST",
                "/api/integrations/api-webhooks/deliveries/recover",
            )
            .json(&json!({"since": domain::clock::rfc3339(since)}));
        app.settings(req)
    };
    assert_eq!(
        recover().await,
        (202, json!({"success": true, "recovered": 3}))
    );
    assert_eq!(
        recover().await,
        (202, json!({"success": true, "recovered": 0}))
    );

    let sqs = app.emu.sqs();
    integration_tests::sqs::pump(
        &sqs,
        &app.queue_url,
        |ev| webhook_delivery::handle(ev, app.webhook_delivery_deps()),
        || receiver.requests().len() >= 3,
        std::time::Duration::from_secs(20),
    )
    .await;
    assert!(
        integration_tests::sqs::drain(&sqs, &app.queue_url)
            .await
            .is_empty(),
        "nothing else queued"
    );
    let mut posted: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| r.header("x-event-id").unwrap_or_default().to_string())
        .collect();
    posted.sort();
    let mut expected: Vec<String> = dropped.iter().map(EventId::to_string).collect();
    expected.sort();
    assert_eq!(posted, expected, "one POST per recovered event");
    let delivered = app
        .store
        .deliveries_between(
            &seeded.account.id,
            DeliveryOutcome::Delivered,
            since,
            Utc::now(),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(delivered.len(), 3, "one log row per new series");
    assert_eq!(
        delivered
            .iter()
            .filter(|r| r.trigger == domain::model::DeliveryTrigger::Recovery)
            .count(),
        3,
        "each recovered attempt says it was a recovery"
    );
    // Every event's last series is delivered now: a third call finds nothing.
    assert_eq!(recover().await.1["recovered"], 0);
}

/// Issue 26: more than `MAX_RECOVER_EVENTS` events in the range is `422 too_many_events`
/// (`field: since`) through DynamoDB's outcome index, and nothing is claimed in the attempt
/// ledger or sent to SQS; a narrower range of the same log is recovered.
#[tokio::test]
async fn recover_refuses_a_range_over_the_cap_on_the_emulator_and_queues_nothing() {
    use futures::stream::{self, StreamExt};
    use settings::resend_dropped::MAX_RECOVER_EVENTS;
    let mut app = TestApp::emulator().await;
    let seeded = app.agency().await;
    // Whole seconds: the range is sent in RFC 3339 seconds.
    let since = chrono::SubsecRound::trunc_subsecs(now_ms() - chrono::Duration::hours(2), 0);
    let rows: Vec<DeliveryAttempt> = (0..=MAX_RECOVER_EVENTS)
        .map(|i| {
            attempt(
                &seeded.account.id,
                since + chrono::Duration::seconds(i as i64),
                DeliveryOutcome::Dropped,
                4,
            )
        })
        .collect();
    let written: Vec<_> = stream::iter(&rows)
        .map(|r| app.store.record_attempt(r))
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(written.iter().all(Result::is_ok), "rows written");
    let recover = |body: Value| {
        let req = app
            .session(
                &seeded,
                "POST",
                "/api/integrations/api-webhooks/deliveries/recover",
            )
            .json(&body);
        app.settings(req)
    };
    let (status, body) = recover(json!({"since": domain::clock::rfc3339(since)})).await;
    assert_eq!(
        (status, code(&body), field(&body)),
        (422, "too_many_events", "since"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("{} events", MAX_RECOVER_EVENTS + 1))),
        "{body}"
    );
    let sqs = app.emu.sqs();
    assert!(
        integration_tests::sqs::drain(&sqs, &app.queue_url)
            .await
            .is_empty(),
        "nothing queued"
    );
    let claims = app
        .emu
        .dynamodb()
        .scan()
        .table_name(app.store.table())
        .filter_expression("begins_with(sk, :a)")
        .expression_attribute_values(
            ":a",
            aws_sdk_dynamodb::types::AttributeValue::S("ATTEMPT#".into()),
        )
        .send()
        .await
        .expect("scan");
    assert_eq!(claims.items().len(), 0, "nothing claimed");

    // The three oldest rows only: recovered.
    let until = since + chrono::Duration::seconds(2);
    let (status, body) = recover(json!({
        "since": domain::clock::rfc3339(since),
        "until": domain::clock::rfc3339(until),
    }))
    .await;
    assert_eq!(
        (status, &body),
        (202, &json!({"success": true, "recovered": 3}))
    );
    let mut queued: Vec<EventId> = integration_tests::sqs::drain(&sqs, &app.queue_url)
        .await
        .into_iter()
        .map(|m| m.event_id)
        .collect();
    queued.sort();
    let mut expected: Vec<EventId> = rows[..3].iter().map(|r| r.event_id).collect();
    expected.sort();
    assert_eq!(queued, expected);
}

/// Issue 26, end to end: a redelivery whose series is still running (read from the attempt
/// ledger in DynamoDB) is `409 redelivery_in_progress` and queues nothing on SQS; once the
/// delivery function has delivered it, the next redelivery is queued as a new series.
#[tokio::test]
async fn a_running_redelivery_is_409_on_the_emulator_until_it_was_delivered() {
    let mut app = TestApp::emulator().await;
    let seeded = app.agency().await;
    let receiver = TestServer::fixed(200, json!({"ok": true})).await;
    let url = format!("{}/hooks/bvai", receiver.url());
    app.update_account(&seeded.account.id, |a| a.webhook_url = Some(url.clone()))
        .await;
    let event = app.stored_event(&seeded).await;
    let redeliver = || {
        let req = app.session(
            &seeded,
            "POST",
            &format!("{DELIVERIES}/{}/redeliver", event.id),
        );
        app.settings(req)
    };
    let (status, body) = redeliver().await;
    assert_eq!(status, 202, "{body}");
    let first = body["redelivery_id"].as_str().expect("id").to_string();
    let (status, body) = redeliver().await;
    assert_eq!(
        (status, code(&body)),
        (409, "redelivery_in_progress"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&first)),
        "{body}"
    );

    // Only the first is on the queue; the delivery function delivers it.
    let sqs = app.emu.sqs();
    let queued = integration_tests::sqs::drain(&sqs, &app.queue_url).await;
    assert_eq!(queued.len(), 1, "one message: {queued:?}");
    assert_eq!(
        queued[0].redelivery.map(|r| r.to_string()),
        Some(first.clone())
    );
    let res = app.deliver(&queued).await;
    assert!(res.batch_item_failures.is_empty());
    assert_eq!(receiver.requests().len(), 1);

    let (status, body) = redeliver().await;
    assert_eq!(status, 202, "the first was delivered: {body}");
    assert_ne!(body["redelivery_id"].as_str(), Some(first.as_str()));
    assert_eq!(
        integration_tests::sqs::drain(&sqs, &app.queue_url)
            .await
            .len(),
        1
    );
}
