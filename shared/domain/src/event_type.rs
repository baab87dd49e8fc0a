//! The webhook event types (docs/webhooks.md): the vocabulary the account's subscription, the
//! stored event and the delivery share. Which state change causes which event is
//! `crate::event_rules`.

/// A webhook event type, as customers subscribe to it and see it in the `event` field and the
/// `X-Event-Type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    CallCompleted,
    CallStarted,
    CallFailed,
}

impl EventType {
    /// Every type, in the order the settings API lists them.
    pub const ALL: [EventType; 3] = [
        EventType::CallStarted,
        EventType::CallCompleted,
        EventType::CallFailed,
    ];

    /// What an account gets until it chooses (and what an account item without the attribute
    /// means): the spec's one event.
    pub const DEFAULT: [EventType; 1] = [EventType::CallCompleted];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::CallCompleted => "call.completed",
            EventType::CallStarted => "call.started",
            EventType::CallFailed => "call.failed",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// In the contract: one of the names of [`EventType::ALL`] (the component `EventType`).
#[cfg(feature = "openapi")]
impl schemars::JsonSchema for EventType {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EventType".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        schemars::json_schema!({"type": "string", "enum": names})
    }
}

/// The default subscription.
pub fn default_events() -> Vec<EventType> {
    EventType::DEFAULT.to_vec()
}

/// A subscription in its one stored and shown form: each type once, in [`EventType::ALL`]'s
/// order.
pub fn normalize(events: &[EventType]) -> Vec<EventType> {
    EventType::ALL
        .into_iter()
        .filter(|t| events.contains(t))
        .collect()
}
