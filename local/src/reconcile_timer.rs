//! The local stand-in for the reconciler's EventBridge schedule: one pass every
//! `RECONCILE_EVERY` (default 60 s, the template's `rate(1 minute)`), the first one a full
//! period after start, never two at once, until the stack stops.

use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

/// Runs `pass` every `period` until `shutdown` turns true. A pass that runs longer than the
/// period delays the next one (EventBridge would start another; the reconciler is safe either
/// way, this is simply quieter).
pub async fn every<F, Fut>(period: Duration, mut shutdown: watch::Receiver<bool>, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => pass().await,
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn runs_once_per_period_and_stops_when_told() {
        let (stop, rx) = watch::channel(false);
        let passes = Arc::new(AtomicUsize::new(0));
        let counter = passes.clone();
        let task = tokio::spawn(every(Duration::from_secs(60), rx, move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }));
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert_eq!(passes.load(Ordering::SeqCst), 0, "not before one period");
        tokio::time::sleep(Duration::from_secs(62)).await;
        assert_eq!(passes.load(Ordering::SeqCst), 2);
        stop.send(true).unwrap();
        task.await.unwrap();
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(passes.load(Ordering::SeqCst), 2, "no pass after stop");
    }
}
