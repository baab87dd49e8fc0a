//! How hard a pass works ([`Pace`], from the configuration) and the pacer that spaces scheduled
//! placements: part of `Deps`, so below the pass that uses it.

use domain::config::Env;

/// Repairs in flight at once in a pass, over every shard of the kind being repaired
/// (`RECONCILER_CONCURRENCY`). A repair is a handful of store requests (an ended call's
/// completion: read, claim, the completion transaction, the event's enqueue and mark, about
/// 5, with a queue send): at ~5-10 ms a request one repair takes 30-50 ms, so 32 at once
/// clear 600-1,000 items a second, 12,000 in under the pass budget (docs/benchmarks.md,
/// "Reconciler"); each in-flight repair holds one connection of the SDK's pool.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// Scheduled calls placed per second at most (`SCHEDULED_CALLS_PER_SECOND`). The provider's
/// contract (docs/voice-provider.md) documents no request rate, only the 429 it answers
/// above it; Retell's published limit is the account's concurrent calls. 10,000 held calls
/// opening at once within 10 minutes, one pass a minute, need 10,000 / (10 x ~19.5 s, the
/// budget less the quick repairs before them) = 52/s: 60/s places about 1,150 a pass, all of
/// them by the ninth pass (docs/benchmarks.md, "Reconciler"). An operator whose provider
/// contract allows less sets it lower: 10,000 / (rate x ~19.5 s) passes, one a minute.
pub const DEFAULT_SCHEDULED_CALLS_PER_SECOND: usize = 60;

/// How hard a pass works: repairs at once, and the pace of scheduled placements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Repairs in flight at once ([`DEFAULT_CONCURRENCY`]); at least 1.
    pub concurrency: usize,
    /// Scheduled calls placed per second at most ([`DEFAULT_SCHEDULED_CALLS_PER_SECOND`]);
    /// at least 1.
    pub scheduled_per_second: usize,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            concurrency: DEFAULT_CONCURRENCY,
            scheduled_per_second: DEFAULT_SCHEDULED_CALLS_PER_SECOND,
        }
    }
}

impl Pace {
    /// `RECONCILER_CONCURRENCY` and `SCHEDULED_CALLS_PER_SECOND`, the defaults when unset.
    pub fn from_env(env: &Env) -> Result<Pace, domain::error::ConfigError> {
        Ok(Pace {
            concurrency: env.count(domain::config::RECONCILER_CONCURRENCY, DEFAULT_CONCURRENCY)?,
            scheduled_per_second: env.count(
                domain::config::SCHEDULED_CALLS_PER_SECOND,
                DEFAULT_SCHEDULED_CALLS_PER_SECOND,
            )?,
        })
    }
}

/// Spaces scheduled placements `1 / rate` apart over the whole pass (every shard): each
/// placement takes the next free slot and waits for it (Tokio's clock, so paused test time
/// skips the waits).
pub(crate) struct Pacer {
    interval: std::time::Duration,
    next: std::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    pub(crate) fn new(per_second: usize) -> Pacer {
        let per_second = u32::try_from(per_second.max(1)).unwrap_or(u32::MAX);
        Pacer {
            interval: std::time::Duration::from_secs(1) / per_second,
            next: std::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// Waits for the next free slot; `false`, at once and without taking it, when that slot
    /// comes after `deadline`.
    pub(crate) async fn wait(&self, deadline: tokio::time::Instant) -> bool {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let slot = (*next).max(tokio::time::Instant::now());
            if slot > deadline {
                return false;
            }
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
        true
    }
}
