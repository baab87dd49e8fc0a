//! Time as a dependency, so calling windows and retry schedules are testable without sleeping.

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// RFC 3339 in UTC with a `Z` and whole seconds, the one timestamp format of the public API.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Millisecond precision, for stored timestamps that order attempts.
pub fn rfc3339_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_with_z_and_whole_seconds() {
        let t = Utc.with_ymd_and_hms(2025, 6, 15, 14, 30, 0).unwrap();
        assert_eq!(rfc3339(t), "2025-06-15T14:30:00Z");
        let t = t + chrono::Duration::milliseconds(1500);
        assert_eq!(rfc3339(t), "2025-06-15T14:30:01Z");
        assert_eq!(rfc3339_millis(t), "2025-06-15T14:30:01.500Z");
    }
}
