//! What one pass did ([`Report`]): the function's answer, its log line and its metrics.

use crate::repair::Repaired;
use domain::ports::store::{Due, DueKind};
use serde::Serialize;
use std::collections::BTreeMap;

/// What one pass did: how many items each repair handled, and how many failed (they stay due
/// and the next pass tries again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub repaired: BTreeMap<&'static str, u64>,
    pub errors: u64,
    /// Poison items moved to the quarantine kind (`crate::pass`).
    pub quarantined: u64,
    /// The overdue items the pass read, by kind (`DueKind::as_str`).
    pub due: BTreeMap<&'static str, u64>,
    /// How overdue the oldest item the pass read was, in milliseconds; `None` when nothing
    /// was due.
    pub oldest_overdue_ms: Option<i64>,
}

impl Report {
    pub fn count(&self, what: Repaired) -> u64 {
        self.repaired.get(what.as_str()).copied().unwrap_or(0)
    }

    /// Counts the overdue items of `kind` a round read at `now`.
    pub(crate) fn note_due<'a>(
        &mut self,
        kind: DueKind,
        read: impl Iterator<Item = &'a Due>,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let (mut n, mut oldest) = (0u64, None);
        for d in read {
            n += 1;
            oldest = oldest.max(Some((now - d.due_at).num_milliseconds()));
        }
        if n > 0 {
            *self.due.entry(kind.as_str()).or_default() += n;
            self.oldest_overdue_ms = self.oldest_overdue_ms.max(oldest);
        }
    }
}

impl Report {
    pub(crate) fn add(&mut self, other: Report) {
        for (what, n) in other.repaired {
            *self.repaired.entry(what).or_default() += n;
        }
        self.errors += other.errors;
        self.quarantined += other.quarantined;
        for (kind, n) in other.due {
            *self.due.entry(kind).or_default() += n;
        }
        self.oldest_overdue_ms = self.oldest_overdue_ms.max(other.oldest_overdue_ms);
    }
}
