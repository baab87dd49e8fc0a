//! call-completed's metric lines (`lambda_glue::metrics`; names in docs/deploy.md,
//! "Metrics"):
//!
//! - `Callbacks` per provider callback, by `Type` (call_started, call_ended, call_analyzed,
//!   unsupported; unknown when the body was refused before its type was read) and `Result`
//!   (applied, unchanged, ignored, invalid_signature, or refused with the error's HTTP class:
//!   refused_4xx, error_5xx);
//! - `Completions` by `Path`: `analyzed` here (the analysis completed the call); the
//!   reconciler counts the other paths from its pass (`without_analysis`: the grace ran out
//!   or the call went stale in progress; `failed_stale`).
//!
//! Properties: `account_id`, `call_id`, `event_id`. Never the transcript, the numbers or the
//! provider's key.

use domain::model::Call;
use domain::ApiError;
use lambda_glue::metrics::Line;
use lambda_http::{Body, Response};

pub const FUNCTION: &str = "call-completed";

/// What the callback's answer says happened.
fn result(answer: &Result<Response<Body>, ApiError>) -> &'static str {
    match answer {
        Err(e) if e.status() >= 500 => "error_5xx",
        Err(_) => "refused_4xx",
        Ok(res) if res.status().as_u16() == 401 => "invalid_signature",
        Ok(res) if res.status().as_u16() >= 300 => "refused_4xx",
        Ok(res) => {
            let body: serde_json::Value = match res.body() {
                Body::Text(t) => serde_json::from_str(t).unwrap_or_default(),
                Body::Binary(b) => serde_json::from_slice(b).unwrap_or_default(),
                Body::Empty => serde_json::Value::Null,
                _ => serde_json::Value::Null,
            };
            if body.get("ignored").is_some() {
                "ignored"
            } else if body["changed"] == true {
                "applied"
            } else {
                "unchanged"
            }
        }
    }
}

/// The line of one callback of type `kind`.
pub fn callback(kind: &'static str, answer: &Result<Response<Body>, ApiError>) -> Line {
    Line::new(FUNCTION)
        .dim("Type", kind)
        .dim("Result", result(answer))
        .dim_set(&["Type", "Result"])
        .count("Callbacks", 1)
}

/// The line of a call completed by its analysis, with its event.
pub fn completion(call: &Call, event_id: domain::ids::EventId) -> Line {
    Line::new(FUNCTION)
        .dim("Path", "analyzed")
        .count("Completions", 1)
        .prop("account_id", call.account_id.as_str())
        .prop("call_id", call.id.to_string())
        .prop("event_id", event_id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_glue::metrics::check;

    const PHONE: &str = "+14155550123";

    fn res(status: u16, body: serde_json::Value) -> Result<Response<Body>, ApiError> {
        Ok(lambda_glue::http::json_response(status, &body))
    }

    #[test]
    fn callback_lines_are_emf_by_type_and_result() {
        let cases = [
            (
                res(200, serde_json::json!({"success": true, "changed": true})),
                "applied",
            ),
            (
                res(200, serde_json::json!({"success": true, "changed": false})),
                "unchanged",
            ),
            (
                res(
                    200,
                    serde_json::json!({"success": true, "ignored": "unknown_call"}),
                ),
                "ignored",
            ),
            (
                res(401, serde_json::json!({"success": false})),
                "invalid_signature",
            ),
            (
                Err(ApiError::body(
                    domain::ErrorCode::InvalidJson,
                    format!("bad {PHONE}"),
                )),
                "refused_4xx",
            ),
            (Err(ApiError::ProviderUnavailable), "error_5xx"),
        ];
        for (answer, expected) in cases {
            let line = callback("call_analyzed", &answer).render("BuildVoiceAI/test", 1);
            let v = check(&line).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (v["Type"].as_str(), v["Result"].as_str()),
                (Some("call_analyzed"), Some(expected))
            );
            assert!(!line.contains(PHONE), "{line}");
        }
    }

    #[test]
    fn a_completion_line_carries_ids_never_the_number_or_the_names() {
        let call = Call {
            id: domain::CallId::new_v4(),
            account_id: "acct_1".into(),
            agent_id: domain::AgentId::new_v4(),
            direction: domain::model::Direction::Outbound,
            status: domain::model::CallStatus::Ended,
            phone_number: PHONE.into(),
            name: Some("Ada Lovelace".into()),
            email: Some("ada@example.com".into()),
            metadata: serde_json::Map::from_iter([("k".to_string(), "s3cr3t".into())]),
            provider_call_id: None,
            failure_reason: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            started_at: None,
            ended_at: None,
            duration_seconds: None,
            disconnection_reason: None,
            event_id: None,
            key_hash: None,
            due_at: None,
        };
        let line = completion(&call, domain::EventId::new_v4()).render("ns", 1);
        let v = check(&line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (v["Path"].as_str(), v["account_id"].as_str()),
            (Some("analyzed"), Some("acct_1"))
        );
        for secret in [PHONE, "Ada", "ada@", "s3cr3t"] {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
    }
}
