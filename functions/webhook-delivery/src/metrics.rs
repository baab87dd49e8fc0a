//! webhook-delivery's metric lines (`lambda_glue::metrics`; names in docs/deploy.md,
//! "Metrics"), one per attempt made or skipped:
//!
//! - `DeliveryAttempts` (`Outcome` delivered, failed or dropped; `ErrorClass` the failure's
//!   class, `none` on a 2xx; `internal` is ours, every other class the endpoint's; `Lane`);
//!   the durations below have the dimension sets `[Function]` and `[Function, Lane]` only
//!   (a second directive of the line);
//! - `PostDuration` (the POST, as the delivery log's `duration_ms`);
//! - `FirstPostDelay`: the event's creation to the POST of its first automatic attempt,
//!   whatever it answered (the call's end to its first POST, as far as we see it);
//! - `DeliveryLatency` (every 2xx) and `DeliveryLatencyFirstAttempt` (a 2xx at the first
//!   automatic attempt): the event's creation to the 2xx;
//! - `DeliveryDueLag` (also by `Lane`): the message's due time (the event's creation for a
//!   first attempt, `not_before` or `due_at` for a retry) to its POST;
//! - `DeliverySkipped`: an attempt not made (logged `skipped`).
//!
//! Properties: `account_id`, `event_id`, `attempt`, `http_status`. Never the URL (it may
//! hold a token), the response excerpt, the payload or any key.

use chrono::{DateTime, Utc};
use domain::ports::queue::DeliveryMessage;
use lambda_glue::metrics::Line;
use outbound::webhook_client::SendResult;

pub const FUNCTION: &str = "webhook-delivery";

/// What one made attempt was.
pub struct Attempt<'a> {
    pub msg: &'a DeliveryMessage,
    /// The event's `created_at`.
    pub created_at: DateTime<Utc>,
    /// When the attempt started (its POST, or our failure before it).
    pub started_at: DateTime<Utc>,
    /// When the outcome was known.
    pub now: DateTime<Utc>,
    pub result: &'a SendResult,
    /// The last attempt of its series failed: the event is dropped.
    pub last: bool,
}

fn ms(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_milliseconds()
}

fn lane(msg: &DeliveryMessage) -> &'static str {
    if msg.on_retries_lane() {
        "retries"
    } else {
        "events"
    }
}

/// An attempt of the automatic series (not a redelivery or a recovery).
fn automatic_first(msg: &DeliveryMessage) -> bool {
    msg.attempt == 1 && msg.trigger.is_none() && msg.redelivery.is_none()
}

/// When the message was due; `None` for a redelivery's or recovery's first attempt (due
/// when an operator asked, which the message does not say).
fn due(msg: &DeliveryMessage, created_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    msg.not_before
        .or(msg.due_at)
        .or_else(|| automatic_first(msg).then_some(created_at))
}

/// The line of one attempt made.
pub fn attempt(a: &Attempt<'_>) -> Line {
    let (outcome, class) = match a.result.error_class {
        None => ("delivered", "none"),
        Some(c) if a.last => ("dropped", c.as_str()),
        Some(c) => ("failed", c.as_str()),
    };
    let mut line = Line::new(FUNCTION)
        .dim("Outcome", outcome)
        .dim("ErrorClass", class)
        .dim("Lane", lane(a.msg))
        .count("DeliveryAttempts", 1)
        // The durations by lane only: an outcome or class would multiply their series.
        .directive(&[&["Lane"]])
        .prop("account_id", a.msg.account_id.as_str())
        .prop("event_id", a.msg.event_id.to_string())
        .prop("attempt", a.msg.attempt);
    if let Some(status) = a.result.status {
        line = line.prop("http_status", status).millis(
            "PostDuration",
            i64::try_from(a.result.duration_ms).unwrap_or(i64::MAX),
        );
    }
    if let Some(due) = due(a.msg, a.created_at) {
        line = line.millis("DeliveryDueLag", ms(due, a.started_at));
    }
    if automatic_first(a.msg) && a.result.status.is_some() {
        line = line.millis("FirstPostDelay", ms(a.created_at, a.started_at));
    }
    if a.result.delivered() {
        line = line.millis("DeliveryLatency", ms(a.created_at, a.now));
        if automatic_first(a.msg) {
            line = line.millis("DeliveryLatencyFirstAttempt", ms(a.created_at, a.now));
        }
    }
    line
}

/// The line of an attempt not made (`skipped` in the delivery log).
pub fn skipped(msg: &DeliveryMessage) -> Line {
    Line::new(FUNCTION)
        .count("DeliverySkipped", 1)
        .prop("account_id", msg.account_id.as_str())
        .prop("event_id", msg.event_id.to_string())
        .prop("attempt", msg.attempt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::model::DeliveryErrorClass;
    use lambda_glue::metrics::check;

    const TOKEN: &str = "tok_SECRET123";
    const KEY: &str = "bvai_live_SECRETSECRETSECRET";
    const PHONE: &str = "+14155550123";

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_000_000 + s, 0).unwrap_or_default()
    }

    fn result(status: Option<u16>, class: Option<DeliveryErrorClass>) -> SendResult {
        SendResult {
            status,
            duration_ms: 250,
            error_class: class,
            // What the endpoint answered: anything at all.
            excerpt: Some(format!(
                "{{\"echo\":\"{KEY} {PHONE} https://h.example/?t={TOKEN}\"}}"
            )),
        }
    }

    #[test]
    fn attempt_lines_are_emf_with_the_latencies_and_never_the_excerpt_or_a_key() {
        let first = DeliveryMessage::first(
            domain::EventId::new_v4(),
            "acct_1",
            domain::CallId::new_v4(),
        );
        let mut retry = first.clone();
        retry.attempt = 2;
        retry.due_at = Some(at(30));
        let ok = result(Some(204), None);
        let internal = result(None, Some(DeliveryErrorClass::Internal));
        let down = result(Some(503), Some(DeliveryErrorClass::HttpStatus));
        let line = |msg, result, last| {
            let l = attempt(&Attempt {
                msg,
                created_at: at(0),
                started_at: at(2),
                now: at(3),
                result,
                last,
            })
            .render("BuildVoiceAI/test", 1);
            for secret in [KEY, PHONE, TOKEN, "h.example", "echo"] {
                assert!(!l.contains(secret), "{secret} in {l}");
            }
            check(&l).unwrap_or_else(|e| panic!("{e}"))
        };
        let v = line(&first, &ok, false);
        assert_eq!(
            (v["Outcome"].as_str(), v["ErrorClass"].as_str()),
            (Some("delivered"), Some("none"))
        );
        assert_eq!(v["FirstPostDelay"], 2000);
        assert_eq!(v["DeliveryLatency"], 3000);
        assert_eq!(v["DeliveryLatencyFirstAttempt"], 3000);
        assert_eq!(v["DeliveryDueLag"], 2000);
        assert_eq!(v["PostDuration"], 250);
        assert_eq!(v["Lane"], "events");
        assert_eq!(v["account_id"], "acct_1");

        let v = line(&first, &internal, false);
        assert_eq!(
            (v["Outcome"].as_str(), v["ErrorClass"].as_str()),
            (Some("failed"), Some("internal"))
        );
        assert!(
            v.get("FirstPostDelay").is_none() && v.get("PostDuration").is_none(),
            "no POST: {v}"
        );
        assert!(v.get("DeliveryLatency").is_none());

        // A retry: due at its due_at (30 s), posted at 2 s: no lag below zero; no first-attempt
        // figures.
        let v = line(&retry, &down, true);
        assert_eq!(
            (v["Outcome"].as_str(), v["ErrorClass"].as_str()),
            (Some("dropped"), Some("http_status"))
        );
        assert_eq!(v["DeliveryDueLag"], 0);
        assert_eq!(v["Lane"], "retries");
        assert!(v.get("FirstPostDelay").is_none());
        let v = line(&retry, &ok, false);
        assert_eq!(v["DeliveryLatency"], 3000);
        assert!(v.get("DeliveryLatencyFirstAttempt").is_none());

        let s = skipped(&first).render("ns", 1);
        assert_eq!(
            check(&s).unwrap_or_else(|e| panic!("{e}"))["DeliverySkipped"],
            1
        );
    }
}
