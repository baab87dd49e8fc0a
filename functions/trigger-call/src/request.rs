//! The trigger-call request body: every rule of the spec's "Request Fields", each failure a
//! 400 that names the field.

use chrono::{DateTime, Utc};
use domain::ids::AgentId;
use domain::phone::PhoneNumber;
use domain::ApiError;
use domain::ErrorCode;
use lambda_glue::body::RequestBody;
use lambda_glue::http::json_type;
use serde_json::{Map, Value};

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_EMAIL_CHARS: usize = 254;
/// `metadata` as compact JSON may be at most this many bytes (it travels in every webhook).
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
const FIELDS: [&str; 7] = [
    "phone",
    "name",
    "email",
    "agent_id",
    "metadata",
    "when_closed",
    "not_before",
];

/// What to do when the calling window is closed at the time the call would be placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "openapi",
    schemars(inline),
    serde(rename_all = "snake_case")
)]
pub enum WhenClosed {
    /// 422 `outside_calling_window` (the default, and the behaviour before the field existed).
    #[default]
    Reject,
    /// Accept the call (202 `scheduled`) and place it when the window opens.
    Hold,
}

/// The body of `POST /api/trigger-call`, as [`parse`] reads it. The field comments are the
/// contract's descriptions (`docs/openapi.yaml`, schema `TriggerCallRequest`).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "openapi",
    schemars(
        rename = "TriggerCallRequest",
        deny_unknown_fields,
        description = "Any other top-level field is refused by name; custom data goes inside `metadata`. `null` is not accepted in place of a value."
    )
)]
pub struct TriggerCall {
    /// strict E.164 (`+`, a real country calling code, at most 15 digits, no spaces or punctuation)
    pub phone: PhoneNumber,
    /// no control characters; passed to the agent's prompt
    #[cfg_attr(
        feature = "openapi",
        schemars(
            length(max = 200),
            extend("pattern" = r"^[^\x00-\x1f\x7f-\x9f]*$"),
            transform = lambda_glue::body::not_null
        )
    )]
    pub name: Option<String>,
    /// a plausible address; passed to the agent's prompt
    #[cfg_attr(
        feature = "openapi",
        schemars(email, length(max = 254), transform = lambda_glue::body::not_null)
    )]
    pub email: Option<String>,
    /// one of the account's agents; defaults to the account's default agent
    #[cfg_attr(feature = "openapi", schemars(transform = lambda_glue::body::not_null))]
    pub agent_id: Option<AgentId>,
    /// any JSON object, at most 16 KiB as compact JSON; returned unchanged in the webhook
    #[cfg_attr(feature = "openapi", serde(default))]
    pub metadata: Map<String, Value>,
    /// outside the calling window or the recipient's hours, `reject` refuses the call (`422 outside_calling_window` or `outside_recipient_hours`); `hold` accepts it (`202`, `status` `scheduled`) and places it when both are open
    #[cfg_attr(feature = "openapi", serde(default), schemars(extend("default" = "reject")))]
    pub when_closed: WhenClosed,
    /// RFC 3339 with a time zone; the call is not placed before this instant (same window rules; at most 30 days ahead, else `400 invalid_not_before`; a past instant means now)
    #[cfg_attr(feature = "openapi", schemars(transform = lambda_glue::body::not_null))]
    pub not_before: Option<DateTime<Utc>>,
}

/// Parsed by [`parse`]; `FIELDS` are the fields it accepts.
impl RequestBody for TriggerCall {
    const FIELDS: &'static [&'static str] = &FIELDS;
    type Context = ();

    fn parse(body: &Map<String, Value>, _: &()) -> Result<Self, ApiError> {
        parse(body)
    }
}

/// `not_before` against the clock: a past instant means now; one more than
/// `MAX_SCHEDULE_AHEAD_DAYS` ahead is a 400 `invalid_not_before`.
pub fn check_not_before(
    not_before: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ApiError> {
    match not_before {
        Some(t) if t > now + domain::held_calls::max_schedule_ahead() => {
            Err(ApiError::bad_request(
                ErrorCode::InvalidNotBefore,
                "not_before",
                format!(
                    "not_before is more than {} days ahead; schedule the call later",
                    domain::held_calls::MAX_SCHEDULE_AHEAD_DAYS
                ),
            ))
        }
        Some(t) if t > now => Ok(t),
        _ => Ok(now),
    }
}

fn wrong_type(field: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::bad_request(
        ErrorCode::InvalidType,
        field,
        format!("{field} must be {expected}, not {}", json_type(got)),
    )
}

fn string<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, ApiError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(
            field,
            "a string (omit the field to leave it out)",
            other,
        )),
    }
}

/// The body's `phone`: required, a string, E.164 (400 `missing_field`, `invalid_type`,
/// `invalid_phone`). The calling-rules check reads its number with the same rule.
pub fn phone(body: &Map<String, Value>) -> Result<PhoneNumber, ApiError> {
    match body.get("phone") {
        None => Err(ApiError::bad_request(
            ErrorCode::MissingField,
            "phone",
            "phone is required, in E.164 format, e.g. \"+15551234567\"",
        )),
        Some(Value::String(s)) => PhoneNumber::parse(s)
            .map_err(|e| ApiError::bad_request(ErrorCode::InvalidPhone, "phone", e.to_string())),
        Some(other) => Err(wrong_type(
            "phone",
            "a string in E.164 format, e.g. \"+15551234567\"",
            other,
        )),
    }
}

pub fn parse(body: &Map<String, Value>) -> Result<TriggerCall, ApiError> {
    if let Some(unknown) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(
            ErrorCode::UnknownField,
            unknown,
            format!(
                "unknown field {unknown:?}; allowed fields are phone, name, email, agent_id, metadata, when_closed, not_before (custom data goes inside metadata)"
            ),
        ));
    }
    let phone = phone(body)?;
    let name = string(body, "name")?.map(validate_name).transpose()?;
    let email = string(body, "email")?.map(validate_email).transpose()?;
    let agent_id = string(body, "agent_id")?
        .map(|s| {
            AgentId::parse(s).map_err(|_| {
                ApiError::bad_request(
                    ErrorCode::InvalidAgentId,
                    "agent_id",
                    "agent_id must be a UUID, e.g. \"4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11\"",
                )
            })
        })
        .transpose()?;
    let metadata = match body.get("metadata") {
        None => Map::new(),
        Some(Value::Object(m)) => {
            let size = serde_json::to_vec(m).map(|v| v.len()).unwrap_or(usize::MAX);
            if size > MAX_METADATA_BYTES {
                return Err(ApiError::bad_request(
                    ErrorCode::MetadataTooLarge,
                    "metadata",
                    format!(
                        "metadata is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES} bytes"
                    ),
                ));
            }
            m.clone()
        }
        Some(other) => {
            return Err(wrong_type(
                "metadata",
                "an object of key-value pairs",
                other,
            ))
        }
    };
    let when_closed = match string(body, "when_closed")? {
        None | Some("reject") => WhenClosed::Reject,
        Some("hold") => WhenClosed::Hold,
        Some(_) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidWhenClosed,
                "when_closed",
                "when_closed must be \"reject\" (refuse outside the calling window, the default) or \"hold\" (place the call when the window opens)",
            ))
        }
    };
    let not_before = string(body, "not_before")?
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::bad_request(
                        ErrorCode::InvalidNotBefore,
                        "not_before",
                        "not_before must be an RFC 3339 date-time with a time zone, e.g. \"2026-12-01T15:00:00Z\"",
                    )
                })
        })
        .transpose()?;
    Ok(TriggerCall {
        phone,
        name,
        email,
        agent_id,
        metadata,
        when_closed,
        not_before,
    })
}

fn validate_name(s: &str) -> Result<String, ApiError> {
    let chars = s.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidName,
            "name",
            format!("name is {chars} characters; the limit is {MAX_NAME_CHARS}"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidName,
            "name",
            "name must not contain control characters",
        ));
    }
    Ok(s.trim().to_string())
}

/// A plausible address: one `@`, a non-empty local part of at most 64 bytes, a domain with a
/// dot and sane labels. Deliverability is not our business; typos like a missing `@` are.
fn validate_email(s: &str) -> Result<String, ApiError> {
    let bad = |why: &str| {
        ApiError::bad_request(
            ErrorCode::InvalidEmail,
            "email",
            format!("email is not a valid address: {why}"),
        )
    };
    if s.chars().count() > MAX_EMAIL_CHARS {
        return Err(bad("longer than 254 characters"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains whitespace"));
    }
    let (local, domain) = s.rsplit_once('@').ok_or_else(|| bad("missing '@'"))?;
    if local.is_empty() || local.len() > 64 || local.contains('@') && !local.starts_with('"') {
        return Err(bad(
            "the part before '@' is empty, too long or has another '@'",
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(bad("misplaced '.' before '@'"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels.iter().any(|l| {
            l.is_empty()
                || l.len() > 63
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
    {
        return Err(bad("the domain after '@' is not valid"));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> Result<TriggerCall, ApiError> {
        parse(v.as_object().expect("object"))
    }

    fn err(v: Value) -> (String, Option<String>, String) {
        let e = p(v).unwrap_err();
        (
            e.code().to_string(),
            e.field().map(str::to_string),
            e.to_string(),
        )
    }

    #[test]
    fn spec_example_is_accepted() {
        let r = p(json!({"phone": "+15551234567", "name": "Jane Smith", "email": "jane@example.com",
            "agent_id": "4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11", "metadata": {"source": "crm", "n": [1, 2]}}))
        .unwrap();
        assert_eq!(r.phone.as_str(), "+15551234567");
        assert_eq!(r.name.as_deref(), Some("Jane Smith"));
        assert_eq!(r.email.as_deref(), Some("jane@example.com"));
        assert_eq!(
            r.agent_id.unwrap().to_string(),
            "4b0d6c1e-8a57-4c1e-9a0e-2f3b5d7c9e11"
        );
        assert_eq!(r.metadata["source"], "crm");
        let minimal = p(json!({"phone": "+15551234567"})).unwrap();
        assert_eq!(minimal.name, None);
        assert!(minimal.metadata.is_empty());
    }

    #[test]
    fn field_errors_table() {
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!({}), "missing_field", "phone"),
            (json!({"phone": 15551234567u64}), "invalid_type", "phone"),
            (json!({"phone": null}), "invalid_type", "phone"),
            (
                json!({"phone": "+1 (555) 123-4567"}),
                "invalid_phone",
                "phone",
            ),
            (json!({"phone": "555-1234"}), "invalid_phone", "phone"),
            (
                json!({"phone": "+15551234567", "name": 7}),
                "invalid_type",
                "name",
            ),
            (
                json!({"phone": "+15551234567", "name": null}),
                "invalid_type",
                "name",
            ),
            (
                json!({"phone": "+15551234567", "name": "x".repeat(201)}),
                "invalid_name",
                "name",
            ),
            (
                json!({"phone": "+15551234567", "name": "a\u{0007}b"}),
                "invalid_name",
                "name",
            ),
            (
                json!({"phone": "+15551234567", "email": "jane.example.com"}),
                "invalid_email",
                "email",
            ),
            (
                json!({"phone": "+15551234567", "email": "jane@localhost"}),
                "invalid_email",
                "email",
            ),
            (
                json!({"phone": "+15551234567", "email": "ja ne@example.com"}),
                "invalid_email",
                "email",
            ),
            (
                json!({"phone": "+15551234567", "email": format!("{}@example.com", "a".repeat(250))}),
                "invalid_email",
                "email",
            ),
            (
                json!({"phone": "+15551234567", "agent_id": "agent-7"}),
                "invalid_agent_id",
                "agent_id",
            ),
            (
                json!({"phone": "+15551234567", "agent_id": 7}),
                "invalid_type",
                "agent_id",
            ),
            (
                json!({"phone": "+15551234567", "metadata": [1]}),
                "invalid_type",
                "metadata",
            ),
            (
                json!({"phone": "+15551234567", "metadata": "x"}),
                "invalid_type",
                "metadata",
            ),
            (
                json!({"phone": "+15551234567", "metadata": {"blob": "x".repeat(MAX_METADATA_BYTES)}}),
                "metadata_too_large",
                "metadata",
            ),
            (
                json!({"phone": "+15551234567", "when_closed": "later"}),
                "invalid_when_closed",
                "when_closed",
            ),
            (
                json!({"phone": "+15551234567", "when_closed": true}),
                "invalid_type",
                "when_closed",
            ),
            (
                json!({"phone": "+15551234567", "not_before": "tomorrow"}),
                "invalid_not_before",
                "not_before",
            ),
            (
                json!({"phone": "+15551234567", "not_before": "2026-12-01T15:00:00"}),
                "invalid_not_before",
                "not_before",
            ),
            (
                json!({"phone": "+15551234567", "not_before": 1764600000}),
                "invalid_type",
                "not_before",
            ),
            (
                json!({"phone": "+15551234567", "agentId": "x"}),
                "unknown_field",
                "agentId",
            ),
            (
                json!({"phone": "+15551234567", "phone_number": "x"}),
                "unknown_field",
                "phone_number",
            ),
        ];
        for (body, code, field) in cases {
            let (c, f, msg) = err(body.clone());
            assert_eq!(
                (c.as_str(), f.as_deref()),
                (code, Some(field)),
                "{body}: {msg}"
            );
            assert!(!msg.is_empty());
        }
    }

    #[test]
    fn when_closed_and_not_before() {
        let r = p(json!({"phone": "+15551234567", "when_closed": "hold", "not_before": "2026-12-01T10:00:00-05:00"}))
            .unwrap();
        assert_eq!(r.when_closed, WhenClosed::Hold);
        assert_eq!(
            r.not_before.map(domain::clock::rfc3339).as_deref(),
            Some("2026-12-01T15:00:00Z")
        );
        let r = p(json!({"phone": "+15551234567", "when_closed": "reject"})).unwrap();
        assert_eq!((r.when_closed, r.not_before), (WhenClosed::Reject, None));
        let now = chrono::Utc::now();
        let day = chrono::Duration::days(1);
        assert_eq!(check_not_before(None, now).unwrap(), now);
        assert_eq!(check_not_before(Some(now - day), now).unwrap(), now);
        assert_eq!(check_not_before(Some(now + day), now).unwrap(), now + day);
        let max = now + domain::held_calls::max_schedule_ahead();
        assert_eq!(check_not_before(Some(max), now).unwrap(), max);
        let e = check_not_before(Some(max + chrono::Duration::seconds(1)), now).unwrap_err();
        assert_eq!(
            (e.code().as_str(), e.field()),
            ("invalid_not_before", Some("not_before"))
        );
    }

    #[test]
    fn near_miss_phone_message_shows_fix() {
        let (_, _, msg) = err(json!({"phone": "+1 (555) 123-4567"}));
        assert!(msg.contains("\"+15551234567\""), "{msg}");
    }

    #[test]
    fn unicode_is_fine_where_text_is_free() {
        let r = p(
            json!({"phone": "+15551234567", "name": "Zoë Ñúñez 山田", "email": "zoë@exämple.de",
            "metadata": {"note": "☎️ call back"}}),
        )
        .unwrap();
        assert_eq!(r.name.as_deref(), Some("Zoë Ñúñez 山田"));
        // 200 characters of multi-byte text is within the limit (characters, not bytes).
        assert!(p(json!({"phone": "+15551234567", "name": "山".repeat(200)})).is_ok());
    }
}
