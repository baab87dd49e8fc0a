//! What every answer of the APIs shares: the `"success": true` marker and the one timestamp
//! format (RFC 3339, UTC, `Z`, whole seconds), as serde pieces for the answer types that sit
//! beside each handler. With the `openapi` feature (the generator only, never a Lambda binary)
//! they also describe themselves as JSON Schema.

use crate::model::CallStatus;
use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use uuid::Uuid;

/// `"success": true`, the first field of every successful answer. A type rather than a
/// `bool` so that the contract says `const: true`, as the answers do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Success;

impl Serialize for Success {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(true)
    }
}

#[cfg(feature = "openapi")]
impl schemars::JsonSchema for Success {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Success".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"const": true})
    }
}

/// `#[serde(serialize_with = "time")]`: a time as [`crate::clock::rfc3339`] writes it.
pub fn time<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::clock::rfc3339(*t))
}

/// `#[serde(serialize_with = "opt_time")]`: the same, `null` when absent.
pub fn opt_time<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => time(t, s),
        None => s.serialize_none(),
    }
}

// The two answers of `POST /api/trigger-call` are remembered for the request's Idempotency-Key
// (`dead_request::placed_answer`, `held_calls::scheduled_answer`), so they are built here, below
// trigger-call. Their doc comments are the contract's descriptions.

/// the call was placed
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct CallPlaced {
    pub success: Success,
    pub call_id: Uuid,
}

/// the call is held or scheduled: the reconciler places it at `scheduled_for`
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(deny_unknown_fields))]
pub struct CallScheduled {
    pub success: Success,
    pub call_id: Uuid,
    #[cfg_attr(feature = "openapi", schemars(schema_with = "scheduled_schema"))]
    pub status: CallStatus,
    /// when the reconciler places the call (normally at most a minute later; a large batch due at once over a few minutes)
    #[serde(serialize_with = "time")]
    pub scheduled_for: DateTime<Utc>,
}

#[cfg(feature = "openapi")]
fn scheduled_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"const": "scheduled"})
}

/// A stored answer's body: these types are strings, uuids and numbers only, which serde_json
/// always writes (the empty body is unreachable).
pub fn body<T: Serialize>(answer: &T) -> String {
    serde_json::to_string(answer).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Sample {
        success: Success,
        #[serde(serialize_with = "time")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "opt_time")]
        maybe: Option<DateTime<Utc>>,
    }

    #[test]
    fn success_is_true_and_times_are_rfc3339_z() {
        let at = DateTime::from_timestamp(1_750_000_000, 123_000_000).unwrap();
        let json = serde_json::to_string(&Sample {
            success: Success,
            at,
            maybe: None,
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"success":true,"at":"2025-06-15T15:06:40Z","maybe":null}"#
        );
    }
}
