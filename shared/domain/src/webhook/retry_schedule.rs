//! The retry schedule: attempt 1 at once, attempt k+1 `delays[k-1]` after attempt k failed,
//! then the event is dropped. Default `30s,5m,30m` (the spec's Retry Policy).

use crate::config::{parse_durations, Env, WEBHOOK_RETRY_DELAYS};
use crate::error::ConfigError;
use std::time::Duration;

pub const DEFAULT_DELAYS: &str = "30s,5m,30m";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl RetrySchedule {
    pub fn new(delays: Vec<Duration>) -> Self {
        RetrySchedule { delays }
    }

    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        Ok(RetrySchedule::new(parse_durations(s)?))
    }

    /// From `WEBHOOK_RETRY_DELAYS`, or the default.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        RetrySchedule::parse(
            &env.optional(WEBHOOK_RETRY_DELAYS)
                .unwrap_or_else(|| DEFAULT_DELAYS.to_string()),
        )
    }

    /// Attempts in all: the first plus one per delay.
    pub fn max_attempts(&self) -> u32 {
        self.delays.len() as u32 + 1
    }

    /// The wait before attempt `failed_attempt + 1`, or `None` when `failed_attempt` was the last.
    pub fn delay_after(&self, failed_attempt: u32) -> Option<Duration> {
        let idx = failed_attempt.checked_sub(1)? as usize;
        self.delays.get(idx).copied()
    }

    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule::new(vec![
            Duration::from_secs(30),
            Duration::from_secs(300),
            Duration::from_secs(1800),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_schedule() {
        let s = RetrySchedule::parse(DEFAULT_DELAYS).unwrap();
        assert_eq!(s, RetrySchedule::default());
        assert_eq!(s.max_attempts(), 4);
        assert_eq!(s.delay_after(1), Some(Duration::from_secs(30)));
        assert_eq!(s.delay_after(2), Some(Duration::from_secs(300)));
        assert_eq!(s.delay_after(3), Some(Duration::from_secs(1800)));
        assert_eq!(s.delay_after(4), None);
        assert_eq!(s.delay_after(0), None);
    }

    #[test]
    fn shortened_and_empty_schedules() {
        let s = RetrySchedule::parse("1s,2s,3s").unwrap();
        assert_eq!(s.delay_after(3), Some(Duration::from_secs(3)));
        let none = RetrySchedule::parse("").unwrap();
        assert_eq!(none.max_attempts(), 1);
        assert_eq!(none.delay_after(1), None);
        assert!(RetrySchedule::parse("1s,soon").is_err());
    }
}
