//! The body of `PATCH /api/integrations/api-webhooks`: any of `api_enabled`, `webhook_url`,
//! `default_agent_id`, `events`. A field that is absent stays as it is; `null` clears the webhook URL or
//! the default agent. Unknown fields and wrong types are 400s naming the field, so a typo never
//! passes silently.

use domain::event_type::EventType;
use domain::ids::AgentId;
use domain::model::Account;
use domain::ApiError;
use domain::ErrorCode;
use lambda_glue::body::RequestBody;
use lambda_glue::http::{json_type, refuse_unknown_fields};
use serde_json::{Map, Value};

const FIELDS: [&str; 4] = ["api_enabled", "webhook_url", "default_agent_id", "events"];

/// A parsed, validated change. `Some(None)` clears a field; `webhook_url` is held normalised
/// (the form that is stored and called), `events` normalized (each type once, in the listed
/// order). The field comments are the contract's descriptions (`docs/openapi.yaml`, schema
/// `IntegrationUpdate`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "openapi",
    schemars(deny_unknown_fields, extend("minProperties" = 1), description = "")
)]
pub struct IntegrationUpdate {
    #[cfg_attr(feature = "openapi", schemars(transform = lambda_glue::body::not_null))]
    pub api_enabled: Option<bool>,
    /// an https URL (normalised when stored; no credentials, no internal hosts), or `null` to remove it
    #[cfg_attr(
        feature = "openapi",
        schemars(length(max = domain::webhook_url::MAX_WEBHOOK_URL_CHARS))
    )]
    pub webhook_url: Option<Option<String>>,
    /// one of the account's agents, or `null` to remove it
    pub default_agent_id: Option<Option<AgentId>>,
    /// the whole new list of webhook events to receive (repeats are folded); at least one: to stop webhooks, remove `webhook_url`. Unknown names are a 400 `invalid_events`.
    #[cfg_attr(
        feature = "openapi",
        schemars(length(min = 1), transform = lambda_glue::body::not_null)
    )]
    pub events: Option<Vec<EventType>>,
}

/// Parsed by [`parse`]; the context is the function's `allow_insecure_local` (plain-http
/// local webhook URLs, for the local stack only).
impl RequestBody for IntegrationUpdate {
    const FIELDS: &'static [&'static str] = &FIELDS;
    type Context = bool;

    fn parse(body: &Map<String, Value>, allow_insecure_local: &bool) -> Result<Self, ApiError> {
        parse(body, *allow_insecure_local)
    }
}

impl IntegrationUpdate {
    /// The account with the change applied (a merge over whatever is stored now).
    pub fn apply(&self, current: &Account) -> Account {
        let mut next = current.clone();
        if let Some(on) = self.api_enabled {
            next.api_enabled = on;
        }
        if let Some(url) = &self.webhook_url {
            next.webhook_url = url.clone();
        }
        if let Some(agent) = self.default_agent_id {
            next.default_agent_id = agent;
        }
        if let Some(events) = &self.events {
            next.events = events.clone();
        }
        next
    }
}

fn wrong_type(field: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::bad_request(
        ErrorCode::InvalidType,
        field,
        format!("{field} must be {expected}, not {}", json_type(got)),
    )
}

pub fn parse(
    body: &Map<String, Value>,
    allow_insecure_local: bool,
) -> Result<IntegrationUpdate, ApiError> {
    refuse_unknown_fields(body, &FIELDS)?;
    if body.is_empty() {
        return Err(ApiError::body(
            ErrorCode::EmptyUpdate,
            "send at least one of api_enabled, webhook_url, default_agent_id, events",
        ));
    }
    let api_enabled = match body.get("api_enabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => return Err(wrong_type("api_enabled", "true or false", other)),
    };
    let webhook_url = match body.get("webhook_url") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => {
            let url = domain::webhook_url::validate(s, allow_insecure_local).map_err(|e| {
                ApiError::bad_request(ErrorCode::InvalidWebhookUrl, "webhook_url", e.to_string())
            })?;
            Some(Some(url.to_string()))
        }
        Some(other) => {
            return Err(wrong_type(
                "webhook_url",
                "an https URL string, or null to remove it",
                other,
            ))
        }
    };
    let default_agent_id = match body.get("default_agent_id") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(AgentId::parse(s).map_err(|_| {
            ApiError::bad_request(
                ErrorCode::InvalidDefaultAgentId,
                "default_agent_id",
                "default_agent_id must be an agent's UUID, e.g. \"4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11\", or null",
            )
        })?)),
        Some(other) => {
            return Err(wrong_type(
                "default_agent_id",
                "an agent's UUID string, or null to remove it",
                other,
            ))
        }
    };
    let events = body.get("events").map(parse_events).transpose()?;
    Ok(IntegrationUpdate {
        api_enabled,
        webhook_url,
        default_agent_id,
        events,
    })
}

/// `events`: a non-empty array of event names (repeats are harmless and folded). An empty list
/// is refused rather than read as "send nothing": removing the webhook URL is the one way to
/// stop webhooks (it also stops pending retries, and the page shows it), and a client bug
/// sending `[]` must not silently stop every event.
fn parse_events(v: &Value) -> Result<Vec<EventType>, ApiError> {
    let expected = "an array of event names (call.started, call.completed, call.failed)";
    let Value::Array(items) = v else {
        return Err(wrong_type("events", expected, v));
    };
    if items.is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidEvents,
            "events",
            "events must name at least one event (call.started, call.completed, call.failed); to stop webhooks, remove the webhook_url",
        ));
    }
    let mut events = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::String(name) = item else {
            return Err(wrong_type("events", expected, v));
        };
        let Some(t) = EventType::parse(name) else {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidEvents,
                "events",
                format!(
                    "events[{i}] is not an event; choose from call.started, call.completed, call.failed"
                ),
            ));
        };
        events.push(t);
    }
    Ok(domain::event_type::normalize(&events))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> Result<IntegrationUpdate, ApiError> {
        parse(v.as_object().unwrap(), false)
    }

    fn code(v: Value) -> (&'static str, Option<String>) {
        let e = p(v).unwrap_err();
        (e.code().as_str(), e.field().map(str::to_string))
    }

    #[test]
    fn parses_each_field_and_null() {
        let u = p(json!({"api_enabled": false})).unwrap();
        assert_eq!(u.api_enabled, Some(false));
        assert_eq!(u.webhook_url, None);
        let u = p(json!({"webhook_url": "https://Example.com"})).unwrap();
        assert_eq!(u.webhook_url, Some(Some("https://example.com/".into())));
        let u = p(json!({"webhook_url": null, "default_agent_id": null})).unwrap();
        assert_eq!(u.webhook_url, Some(None));
        assert_eq!(u.default_agent_id, Some(None));
        let id = AgentId::new_v4();
        let u = p(json!({"default_agent_id": id.to_string()})).unwrap();
        assert_eq!(u.default_agent_id, Some(Some(id)));
    }

    #[test]
    fn refuses_ugly_bodies() {
        assert_eq!(
            code(json!({"api_enabled": true, "webhookUrl": "x"})),
            ("unknown_field", Some("webhookUrl".into()))
        );
        assert_eq!(code(json!({})), ("empty_update", None));
        assert_eq!(
            code(json!({"api_enabled": "false"})),
            ("invalid_type", Some("api_enabled".into()))
        );
        assert_eq!(
            code(json!({"api_enabled": null})),
            ("invalid_type", Some("api_enabled".into()))
        );
        assert_eq!(
            code(json!({"webhook_url": 7})),
            ("invalid_type", Some("webhook_url".into()))
        );
        assert_eq!(
            code(json!({"webhook_url": ["https://example.com"]})),
            ("invalid_type", Some("webhook_url".into()))
        );
        assert_eq!(
            code(json!({"webhook_url": "http://example.com"})),
            ("invalid_webhook_url", Some("webhook_url".into()))
        );
        assert_eq!(
            code(json!({"default_agent_id": "agent-1"})),
            ("invalid_default_agent_id", Some("default_agent_id".into()))
        );
        assert_eq!(
            code(json!({"default_agent_id": {"id": "x"}})),
            ("invalid_type", Some("default_agent_id".into()))
        );
    }

    #[test]
    fn events_are_a_non_empty_list_of_known_names() {
        let u = p(json!({"events": ["call.failed", "call.started", "call.failed"]})).unwrap();
        assert_eq!(
            u.events,
            Some(vec![EventType::CallStarted, EventType::CallFailed])
        );
        assert_eq!(u.api_enabled, None);
        for bad in [json!([]), json!(["call.ended"]), json!(["CALL.STARTED"])] {
            assert_eq!(
                code(json!({ "events": bad })),
                ("invalid_events", Some("events".into()))
            );
        }
        for bad in [json!("call.started"), json!(null), json!([1]), json!({})] {
            assert_eq!(
                code(json!({ "events": bad })),
                ("invalid_type", Some("events".into()))
            );
        }
    }

    #[test]
    fn apply_merges_only_given_fields() {
        let now = chrono::Utc::now();
        let mut a = Account::new("acct", "A", domain::model::Plan::Agency, now);
        a.webhook_url = Some("https://old.example/".into());
        let agent = AgentId::new_v4();
        a.default_agent_id = Some(agent);
        let next = p(json!({"api_enabled": false})).unwrap().apply(&a);
        assert!(!next.api_enabled);
        assert_eq!(next.webhook_url, a.webhook_url);
        assert_eq!(next.default_agent_id, Some(agent));
        let next = p(json!({"webhook_url": null})).unwrap().apply(&a);
        assert_eq!(next.webhook_url, None);
        assert_eq!(next.default_agent_id, Some(agent));
        assert!(next.api_enabled);
    }
}
