//! What every answer of the APIs shares: the `"success": true` marker and the one timestamp
//! format (RFC 3339, UTC, `Z`, whole seconds), as serde pieces for the answer types that sit
//! beside each handler. With the `openapi` feature (the generator only, never a Lambda binary)
//! they also describe themselves as JSON Schema.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

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
