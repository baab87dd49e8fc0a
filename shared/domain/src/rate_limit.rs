//! Per-minute rate limits: fixed one-minute windows (UTC minutes), counted by the store in the
//! same request that reads what the caller may do (the key grant for the public API), so a
//! limit costs no extra round trip on the hot path.
//!
//! Every answer of a limited route carries `RateLimit-Limit`, `RateLimit-Remaining` and
//! `RateLimit-Reset` (seconds until the window ends); a 429 `rate_limited` also carries
//! `Retry-After` (the same seconds).

use crate::error::ApiError;
/// Lives beside the error it travels in (`ApiError::RateLimited`).
pub use crate::error::RateStatus;
use chrono::{DateTime, Utc};

/// Requests per minute per API key unless an operator set the account's own
/// (`API_RATE_LIMIT_PER_MINUTE`).
pub const DEFAULT_API_PER_MINUTE: u32 = 100;
/// Settings API requests per minute per account (`SETTINGS_RATE_LIMIT_PER_MINUTE`).
pub const DEFAULT_SETTINGS_PER_MINUTE: u32 = 120;
/// Test sends, redeliveries and recoveries together per minute per account
/// (`COSTLY_RATE_LIMIT_PER_MINUTE`): each may hold a function for seconds.
pub const DEFAULT_COSTLY_PER_MINUTE: u32 = 10;

/// The per-account limits of the settings API, each counted in its own window item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every settings route.
    Settings,
    /// The routes that do slow or fan-out work: test send, redeliver, recover.
    Costly,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Settings => "settings",
            Scope::Costly => "costly",
        }
    }
}

/// One fixed window: the UTC minute `now` falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Minutes since the Unix epoch.
    pub minute: i64,
    /// Whole seconds until the next window starts (1 to 60).
    pub reset_secs: u32,
}

pub fn window(now: DateTime<Utc>) -> Window {
    let secs = now.timestamp();
    let into = secs.rem_euclid(60);
    Window {
        minute: secs.div_euclid(60),
        reset_secs: (60 - into) as u32,
    }
}

/// The `count`th request of the window (this one included) against `limit`: its status, or
/// 429 `rate_limited` past the limit.
pub fn judge(count: u64, limit: u32, w: Window) -> Result<RateStatus, ApiError> {
    let status = RateStatus {
        limit,
        remaining: u64::from(limit)
            .saturating_sub(count)
            .min(u64::from(u32::MAX)) as u32,
        reset_secs: w.reset_secs,
    };
    if count > u64::from(limit) {
        Err(ApiError::RateLimited(status))
    } else {
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_utc_minutes() {
        let t = DateTime::from_timestamp(1_750_001_615, 0).unwrap(); // :35 into a minute
        assert_eq!(window(t).minute, 1_750_001_615 / 60);
        assert_eq!(window(t).reset_secs, 25);
        let on = DateTime::from_timestamp(1_750_001_580, 0).unwrap();
        assert_eq!(window(on).reset_secs, 60);
        let before_epoch = DateTime::from_timestamp(-1, 0).unwrap();
        assert_eq!(window(before_epoch).minute, -1);
        assert_eq!(window(before_epoch).reset_secs, 1);
    }

    #[test]
    fn the_limit_admits_exactly_limit_requests() {
        let w = Window {
            minute: 0,
            reset_secs: 7,
        };
        assert_eq!(judge(1, 3, w).unwrap().remaining, 2);
        assert_eq!(judge(3, 3, w).unwrap().remaining, 0);
        match judge(4, 3, w) {
            Err(ApiError::RateLimited(s)) => {
                assert_eq!((s.limit, s.remaining, s.reset_secs), (3, 0, 7))
            }
            other => panic!("{other:?}"),
        }
        assert!(judge(u64::MAX, u32::MAX, w).is_err());
    }
}
