//! The reconciler's metric lines (`lambda_glue::metrics`; names in docs/deploy.md,
//! "Metrics"), built from the [`Report`] a pass returns, whatever the pass does inside:
//!
//! - one line per pass: `ReconcilerRepaired` (items moved on), `ReconcilerFailed` (repairs
//!   that failed, retried next pass), `ReconcilerQuarantined` and
//!   `ReconcilerOldestOverdue` (how overdue the oldest item read was; 0 when nothing was due);
//! - `Completions` by `Path` when the pass completed calls: `without_analysis` (the analysis
//!   grace ran out, or a call in progress went stale) and `failed_stale` (a placed call the
//!   provider never reported);
//! - one line per kind with overdue items: `ReconcilerDue` by `Kind` (event, call,
//!   idempotency, scheduled).

use crate::Report;
use lambda_glue::metrics::Line;

pub const FUNCTION: &str = "reconciler";

/// The pass's lines.
pub fn lines(report: &Report) -> Vec<Line> {
    let repaired: u64 = report
        .repaired
        .iter()
        .filter(|(what, _)| **what != crate::repair::Repaired::Nothing.as_str())
        .map(|(_, n)| n)
        .sum();
    let pass = Line::new(FUNCTION)
        .count("ReconcilerRepaired", repaired)
        .count("ReconcilerFailed", report.errors)
        .count("ReconcilerQuarantined", report.quarantined)
        .millis(
            "ReconcilerOldestOverdue",
            report.oldest_overdue_ms.unwrap_or(0),
        );
    // The completion paths call-completed does not see (its own is `analyzed`).
    let completions = [
        (
            "without_analysis",
            crate::repair::Repaired::CallCompletedWithoutAnalysis,
        ),
        ("failed_stale", crate::repair::Repaired::CallFailed),
    ]
    .into_iter()
    .filter(|(_, what)| report.count(*what) > 0)
    .map(|(path, what)| {
        Line::new(FUNCTION)
            .dim("Path", path)
            .count("Completions", report.count(what))
    });
    std::iter::once(pass)
        .chain(completions)
        .chain(report.due.iter().map(|(kind, n)| {
            Line::new(FUNCTION)
                .dim("Kind", kind)
                .count("ReconcilerDue", *n)
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_glue::metrics::check;

    #[test]
    fn a_pass_is_one_line_plus_one_per_kind_due() {
        let mut report = Report::default();
        report.repaired.insert("nothing", 4);
        report.repaired.insert("event_enqueued", 2);
        report.repaired.insert("call_failed", 1);
        report.errors = 1;
        report.due.insert("event", 3);
        report.due.insert("call", 4);
        report.oldest_overdue_ms = Some(360_000);
        let rendered: Vec<String> = lines(&report)
            .iter()
            .map(|l| l.render("BuildVoiceAI/test", 1))
            .collect();
        assert_eq!(rendered.len(), 4);
        let v: Vec<_> = rendered
            .iter()
            .map(|l| check(l).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        assert_eq!(v[0]["ReconcilerRepaired"], 3);
        assert_eq!(v[0]["ReconcilerFailed"], 1);
        assert_eq!(v[0]["ReconcilerOldestOverdue"], 360_000);
        assert_eq!(
            (v[1]["Path"].as_str(), v[1]["Completions"].as_u64()),
            (Some("failed_stale"), Some(1))
        );
        assert_eq!(
            (v[2]["Kind"].as_str(), v[2]["ReconcilerDue"].as_u64()),
            (Some("call"), Some(4))
        );
        assert_eq!(
            (v[3]["Kind"].as_str(), v[3]["ReconcilerDue"].as_u64()),
            (Some("event"), Some(3))
        );
        // A quiet pass still says it is keeping up (0 overdue), so the alarm has data.
        let quiet = lines(&Report::default());
        assert_eq!(quiet.len(), 1);
        assert_eq!(
            check(&quiet[0].render("ns", 1)).unwrap_or_else(|e| panic!("{e}"))
                ["ReconcilerOldestOverdue"],
            0
        );
    }
}
