//! trigger-call's metric lines (`lambda_glue::metrics`; names in docs/deploy.md, "Metrics"):
//! `TriggerRequests` per `POST /api/trigger-call` (`Result` accepted or refused, `Code` the
//! refusal's error code) and, for every call this request asked the provider to place,
//! `Dials` (`Result` placed, not_placed, dial_unknown or error) with `DialLatency` (the
//! provider's request and the write of its answer). Ids only: never the number, the names
//! or the key.

use domain::dial::Dialed;
use domain::model::Call;
use domain::ApiError;
use lambda_glue::metrics::Line;

pub const FUNCTION: &str = "trigger-call";

/// The line of one `POST /api/trigger-call` answer.
pub fn request<T>(result: &Result<T, ApiError>) -> Line {
    let line = Line::new(FUNCTION);
    match result {
        Ok(_) => line.dim("Result", "accepted"),
        Err(e) => line.dim("Result", "refused").dim("Code", e.code().as_str()),
    }
    .count("TriggerRequests", 1)
}

/// The line of one dial of `call` that took `ms`; `dialed` is `None` when it failed on a
/// store error of ours.
pub fn dial(call: &Call, dialed: Option<&Dialed>, ms: i64) -> Line {
    let result = match dialed {
        Some(Dialed::Placed) => "placed",
        Some(Dialed::NotPlaced { .. }) => "not_placed",
        Some(Dialed::Unknown) => "dial_unknown",
        None => "error",
    };
    Line::new(FUNCTION)
        .dim("Result", result)
        .count("Dials", 1)
        .millis("DialLatency", ms)
        .prop("account_id", call.account_id.as_str())
        .prop("call_id", call.id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_glue::metrics::check;

    const PHONE: &str = "+14155550123";
    const KEY: &str = "bvai_live_SECRETSECRETSECRET";

    fn call() -> Call {
        Call {
            id: domain::CallId::new_v4(),
            account_id: "acct_1".into(),
            agent_id: domain::AgentId::new_v4(),
            direction: domain::model::Direction::Outbound,
            status: domain::model::CallStatus::Queued,
            phone_number: PHONE.into(),
            name: Some("Ada Lovelace".into()),
            email: Some("ada@example.com".into()),
            metadata: serde_json::Map::from_iter([("k".to_string(), KEY.into())]),
            provider_call_id: Some("prov_123".into()),
            failure_reason: Some(format!("provider said {PHONE}")),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            started_at: None,
            ended_at: None,
            duration_seconds: None,
            disconnection_reason: None,
            event_id: None,
            key_hash: Some("hash_of_the_key".into()),
            due_at: None,
        }
    }

    #[test]
    fn lines_are_emf_and_carry_ids_never_the_number_the_names_or_the_key() {
        let c = call();
        let refused: Result<(), ApiError> = Err(ApiError::unprocessable(
            domain::ErrorCode::NumberSuppressed,
            Some("phone"),
            "on the list",
        ));
        let lines = [
            request(&Ok::<(), ApiError>(())),
            request(&refused),
            dial(&c, Some(&Dialed::Placed), 120),
            dial(
                &c,
                Some(&Dialed::NotPlaced {
                    reason: format!("{PHONE} {KEY}"),
                }),
                80,
            ),
            dial(&c, Some(&Dialed::Unknown), 10_000),
            dial(&c, None, 5),
        ]
        .map(|l| l.render("BuildVoiceAI/test", 1));
        for line in &lines {
            let v = check(line).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(v["Function"], FUNCTION);
            for secret in [
                PHONE,
                "4155550123",
                KEY,
                "Ada",
                "ada@",
                "hash_of_the_key",
                "prov_123",
            ] {
                assert!(!line.contains(secret), "{secret} in {line}");
            }
        }
        let v = check(&lines[1]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (v["Result"].as_str(), v["Code"].as_str()),
            (Some("refused"), Some("number_suppressed"))
        );
        let v = check(&lines[4]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["Result"], "dial_unknown");
        assert_eq!(v["DialLatency"], 10_000);
        assert_eq!(v["account_id"], "acct_1");
    }
}
