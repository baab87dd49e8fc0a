//! The ids of the things the product names: accounts, calls, events and agents.
//!
//! Each is its own type so that a call id cannot be passed where an event id is meant, nor an
//! account id where a phone number is. They are made once where the text arrives (a request's
//! path or body, a callback, a stored item, a queue message) and keep the exact form they had
//! as text: serde is transparent, `Display` writes what `Uuid` or the string wrote, so stored
//! items, webhooks and API answers read byte for byte as before.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An account's id: the platform's own string (a dashboard tenant id), not a UUID, so it is
/// taken as given; the authorizer, the key grant and the stored items are where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    pub fn new(id: impl Into<String>) -> Self {
        AccountId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Any text names an account (command-line arguments parse through this); where ids are
/// checked, their checks run before.
impl std::str::FromStr for AccountId {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(AccountId::new(s))
    }
}

impl From<String> for AccountId {
    fn from(s: String) -> Self {
        AccountId(s)
    }
}

impl From<&str> for AccountId {
    fn from(s: &str) -> Self {
        AccountId(s.to_string())
    }
}

impl From<&String> for AccountId {
    fn from(s: &String) -> Self {
        AccountId(s.clone())
    }
}

impl From<&AccountId> for AccountId {
    fn from(s: &AccountId) -> Self {
        s.clone()
    }
}

impl From<AccountId> for String {
    fn from(a: AccountId) -> Self {
        a.0
    }
}

impl From<&AccountId> for String {
    fn from(a: &AccountId) -> Self {
        a.0.clone()
    }
}

impl AsRef<str> for AccountId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for AccountId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for AccountId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for AccountId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Filters compare a stored id with the one asked for, often held by reference.
impl PartialEq<&AccountId> for AccountId {
    fn eq(&self, other: &&AccountId) -> bool {
        self == *other
    }
}

impl PartialEq<String> for AccountId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<AccountId> for &str {
    fn eq(&self, other: &AccountId) -> bool {
        *self == other.0
    }
}

impl PartialEq<AccountId> for String {
    fn eq(&self, other: &AccountId) -> bool {
        *self == other.0
    }
}

/// Declares a UUID id: `Copy`, transparent in serde, hyphenated lowercase in `Display` (as
/// `Uuid` writes it), parsed from text with `Uuid`'s rules.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random (v4) id.
            pub fn new_v4() -> Self {
                $name(Uuid::new_v4())
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                $name(id)
            }

            pub const fn nil() -> Self {
                $name(Uuid::nil())
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// The id in `s` (any form `Uuid` parses: hyphenated, simple, braced, URN).
            pub fn parse(s: &str) -> Result<Self, uuid::Error> {
                Uuid::parse_str(s).map($name)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                $name(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl PartialEq<Uuid> for $name {
            fn eq(&self, other: &Uuid) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for Uuid {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        /// In the contract: a UUID string (inline, as `Uuid`'s own schema is).
        #[cfg(feature = "openapi")]
        impl schemars::JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string", "format": "uuid"})
            }
        }

        impl From<$name> for serde_json::Value {
            fn from(id: $name) -> Self {
                id.to_string().into()
            }
        }
    };
}

uuid_id! {
    /// A call's id: ours, not the provider's (`Call::provider_call_id`); the one
    /// `GET /api/calls/{call_id}` and the webhooks name.
    CallId
}

uuid_id! {
    /// A webhook event's id (`webhook-id` and the payload's `event_id`).
    EventId
}

uuid_id! {
    /// An agent's id in this product (not the provider's `provider_agent_id`).
    AgentId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialize_and_display_as_their_text_did() {
        let u = Uuid::parse_str("1b4e28ba-2fa1-11d2-883f-0016d3cca427").unwrap();
        for (json, shown) in [
            (
                serde_json::to_string(&CallId::from(u)).unwrap(),
                CallId::from(u).to_string(),
            ),
            (
                serde_json::to_string(&EventId::from(u)).unwrap(),
                EventId::from(u).to_string(),
            ),
            (
                serde_json::to_string(&AgentId::from(u)).unwrap(),
                AgentId::from(u).to_string(),
            ),
        ] {
            assert_eq!(json, serde_json::to_string(&u).unwrap());
            assert_eq!(shown, u.to_string());
        }
        let a = AccountId::new("acct_42");
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"acct_42\"");
        assert_eq!(a.to_string(), "acct_42");
        assert_eq!(serde_json::from_str::<AccountId>("\"acct_42\"").unwrap(), a);
        assert_eq!(
            serde_json::from_str::<CallId>("\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\"").unwrap(),
            u
        );
    }

    #[test]
    fn a_uuid_id_parses_as_uuid_does() {
        assert!(CallId::parse("not-a-uuid").is_err());
        let id = CallId::new_v4();
        assert_eq!(CallId::parse(&id.to_string()).unwrap(), id);
        assert_eq!(
            "1B4E28BA-2FA1-11D2-883F-0016D3CCA427"
                .parse::<EventId>()
                .unwrap()
                .to_string(),
            "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
        );
    }
}
