//! Request bodies: each route that reads one names its type (beside its handler), the type
//! implements [`RequestBody`], and the handler gets it from [`parse_body`] (or [`no_fields`]
//! for the routes that take none). With the `openapi` feature each type also derives its JSON
//! Schema, which `tools/openapi` publishes as the route's request body.
//!
//! Why a trait over the decoded JSON object rather than `serde::Deserialize`: every field
//! failure is its own 400, with a code clients branch on and the field's name
//! (`unknown_field`, `missing_field`, `invalid_type`, `invalid_phone`, ...), the checks run in
//! a fixed order (unknown fields first), and some need more than the body (the clock, a
//! setting of the function: [`RequestBody::Context`]). A serde error carries a message only,
//! so a `Deserialize` impl would have to smuggle the code and field through that string and
//! could not see the context. Parsing the object keeps each failure a typed `ApiError`, and
//! [`RequestBody::FIELDS`], the list the parser refuses unknown fields by, is what the
//! contract test compares with the derived schema (`tests/it/openapi.rs`).

use crate::http::{body_bytes, json_body, json_object};
use domain::error::ApiError;
use domain::ErrorCode;
use lambda_http::Request;
use serde_json::{Map, Value};

/// A route's request body, parsed from its JSON object with a 400 naming the field for each
/// failure.
pub trait RequestBody: Sized {
    /// Every field the body may have; the parser refuses any other (400 `unknown_field`).
    const FIELDS: &'static [&'static str];

    /// What the parser needs besides the body: `()` for most; the clock's now, or a setting.
    type Context;

    /// The body, checked: the first failure as a 400 (or 422) naming its field.
    fn parse(body: &Map<String, Value>, context: &Self::Context) -> Result<Self, ApiError>;
}

/// The request's body as `T`: 413 above the size limit, 415 unless the content type is JSON,
/// 400 `invalid_json`/`invalid_body` unless it is a JSON object, then `T`'s own checks.
pub fn parse_body<T: RequestBody>(req: &Request, context: &T::Context) -> Result<T, ApiError> {
    T::parse(&json_object(json_body(req)?)?, context)
}

/// The body of a route that takes no fields: an empty body or `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoFields;

impl RequestBody for NoFields {
    const FIELDS: &'static [&'static str] = &[];
    type Context = ();

    /// Any field is a mistake: 400 `unknown_field` naming the first in sorted order.
    fn parse(body: &Map<String, Value>, _: &()) -> Result<Self, ApiError> {
        match body.keys().min() {
            Some(field) => Err(ApiError::bad_request(
                ErrorCode::UnknownField,
                field,
                format!("unknown field {field:?}; this request takes no fields"),
            )),
            None => Ok(NoFields),
        }
    }
}

#[cfg(feature = "openapi")]
impl schemars::JsonSchema for NoFields {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NoFields".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "this request takes no fields: send no body, or `{}`",
            "additionalProperties": false,
            "maxProperties": 0
        })
    }
}

/// For routes that take no fields: an empty body is accepted whatever its content type;
/// anything else must be a JSON object with no fields ([`NoFields`], through [`parse_body`]).
pub fn no_fields(req: &Request) -> Result<NoFields, ApiError> {
    if body_bytes(req).iter().all(u8::is_ascii_whitespace) {
        return Ok(NoFields);
    }
    parse_body(req, &())
}

/// `#[schemars(transform = not_null)]` on an `Option` field whose parser refuses `null`
/// (400 `invalid_type`): absent is allowed, `null` is not, so the schema drops the `null`
/// that `Option` adds.
#[cfg(feature = "openapi")]
pub fn not_null(schema: &mut schemars::Schema) {
    if let Some(Value::Array(types)) = schema.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            schema.insert("type".into(), only);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_fields_refuses_the_first_field_in_order() {
        let body = serde_json::json!({"b": 1, "a": 2});
        let e = NoFields::parse(body.as_object().unwrap(), &()).unwrap_err();
        assert_eq!((e.code().as_str(), e.field()), ("unknown_field", Some("a")));
        assert_eq!(NoFields::parse(&Map::new(), &()).unwrap(), NoFields);
    }
}
