//! Every error code the API returns, in one enum.
//!
//! A code is part of the contract (clients branch on it, `docs/openapi.yaml` lists it), so it
//! is a value of this enum and never a string typed at a call site: a typo cannot compile, and
//! `ErrorCode::ALL` lets the OpenAPI and docs drift tests (and a generated document) list the
//! codes without reading source text. `as_str` is the one rendering; the HTTP status stays with
//! the `ApiError` variant (`ApiError::status`), since the same code can only come from one kind
//! of refusal.

/// Declares the enum, its rendering and the list of all codes from one table, so a code added
/// to the enum is in `ALL` and has its name.
macro_rules! error_codes {
    ($($variant:ident => $name:literal,)+) => {
        /// A stable, machine-readable error code (`error.code` of every error body).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ErrorCode {
            $($variant,)+
        }

        impl ErrorCode {
            /// Every code, in the order declared (alphabetical).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as the API renders it (`"agent_not_found"`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)+
                }
            }
        }
    };
}

error_codes! {
    AccountSuspended => "account_suspended",
    AgentHasNoPhoneNumber => "agent_has_no_phone_number",
    AgentNotFound => "agent_not_found",
    ApiAccessDisabled => "api_access_disabled",
    CallNotFound => "call_not_found",
    CallNotScheduled => "call_not_scheduled",
    Conflict => "conflict",
    DestinationNotAllowed => "destination_not_allowed",
    DuplicateParameter => "duplicate_parameter",
    EmptyUpdate => "empty_update",
    EventNotFound => "event_not_found",
    IdempotencyKeyInProgress => "idempotency_key_in_progress",
    IdempotencyKeyReused => "idempotency_key_reused",
    InternalError => "internal_error",
    InvalidAgentId => "invalid_agent_id",
    InvalidApiKey => "invalid_api_key",
    InvalidAuthScheme => "invalid_auth_scheme",
    InvalidBody => "invalid_body",
    InvalidCallback => "invalid_callback",
    InvalidCursor => "invalid_cursor",
    InvalidDefaultAgentId => "invalid_default_agent_id",
    InvalidEmail => "invalid_email",
    InvalidEvents => "invalid_events",
    InvalidIdempotencyKey => "invalid_idempotency_key",
    InvalidJson => "invalid_json",
    InvalidLimit => "invalid_limit",
    InvalidName => "invalid_name",
    InvalidNotBefore => "invalid_not_before",
    InvalidOutcome => "invalid_outcome",
    InvalidPhone => "invalid_phone",
    InvalidRange => "invalid_range",
    InvalidSignature => "invalid_signature",
    InvalidStatus => "invalid_status",
    InvalidTime => "invalid_time",
    InvalidTimestamp => "invalid_timestamp",
    InvalidType => "invalid_type",
    InvalidWebhookUrl => "invalid_webhook_url",
    InvalidWhenClosed => "invalid_when_closed",
    MetadataTooLarge => "metadata_too_large",
    MethodNotAllowed => "method_not_allowed",
    MissingApiKey => "missing_api_key",
    MissingField => "missing_field",
    NoApiKey => "no_api_key",
    NoDefaultAgent => "no_default_agent",
    NoWebhookUrl => "no_webhook_url",
    NotFound => "not_found",
    NumberSuppressed => "number_suppressed",
    OutsideCallingWindow => "outside_calling_window",
    OutsideRecipientHours => "outside_recipient_hours",
    PayloadTooLarge => "payload_too_large",
    PlanRequired => "plan_required",
    ProviderOutcomeUnknown => "provider_outcome_unknown",
    ProviderUnavailable => "provider_unavailable",
    RateLimited => "rate_limited",
    RedeliveryInProgress => "redelivery_in_progress",
    SuppressionNotFound => "suppression_not_found",
    Throttled => "throttled",
    TooManyEvents => "too_many_events",
    Unauthenticated => "unauthenticated",
    UnknownField => "unknown_field",
    UnknownParameter => "unknown_parameter",
    UnsupportedMediaType => "unsupported_media_type",
}

impl ErrorCode {
    /// The code named `s`, if the API has one by that name.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ErrorCode::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code {s:?}")))
    }
}

impl From<ErrorCode> for serde_json::Value {
    fn from(c: ErrorCode) -> Self {
        c.as_str().into()
    }
}

/// Tests (and callers comparing with a client's answer) compare a code with its text.
impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_code_is_listed_once_in_snake_case_and_sorted() {
        let names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "a code is listed twice");
        assert_eq!(names, unique.into_iter().collect::<Vec<_>>(), "sorted");
        for n in &names {
            assert!(
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{n}"
            );
        }
        assert_eq!(ErrorCode::ALL.len(), 62);
    }

    #[test]
    fn a_code_round_trips_through_its_name_and_serde() {
        for &c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
            let json = serde_json::to_value(c).unwrap();
            assert_eq!(json, serde_json::Value::from(c.as_str()));
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), c);
            assert_eq!(c.to_string(), c.as_str());
        }
        assert_eq!(ErrorCode::parse("no_such_code"), None);
    }
}
