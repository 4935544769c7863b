//! A duty a service runs on a timer for as long as it runs: the fleet
//! heartbeat and the history flush.
//!
//! Both are records about the service, never part of its work, so a Redis
//! error there must not stop anything: it is logged and the duty runs again
//! on the next tick. An outage would otherwise log a warning every few
//! seconds for as long as it lasts, so the first failure is a warning, the
//! failures after it are debug lines, and the recovery is an info line.

use std::future::Future;
use std::time::Duration;

use tracing::{debug, info, warn};

/// Runs `duty` at once and then every `period`, until `stop` resolves
/// (a duty already running is finished first). `what` names the duty in
/// the logs. What happens at stop (a goodbye, a last flush) is the caller's:
/// it knows when its work is drained.
pub async fn every<F, Fut>(what: &'static str, period: Duration, stop: impl Future<Output = ()>, mut duty: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = redis::RedisResult<()>>,
{
    tokio::pin!(stop);
    let mut failing = false;
    loop {
        match duty().await {
            Ok(()) if failing => {
                info!(duty = what, "redis reachable again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) if failing => debug!(duty = what, error.kind = ?e.kind(), "still cannot reach redis; next tick"),
            Err(e) => {
                warn!(duty = what, error.kind = ?e.kind(), "cannot reach redis; trying again every tick");
                failing = true;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = &mut stop => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn runs_again_after_an_error_and_stops_when_told() {
        let runs = AtomicU32::new(0);
        let third = tokio::sync::Notify::new();
        every("test", Duration::from_millis(1), third.notified(), || {
            let n = runs.fetch_add(1, Ordering::Relaxed);
            if n == 2 {
                third.notify_one();
            }
            async move { if n == 1 { Err(redis::RedisError::from((redis::ErrorKind::Io, "down"))) } else { Ok(()) } }
        })
        .await;
        assert_eq!(runs.load(Ordering::Relaxed), 3, "the failing second run did not end the duty; the stop did");
    }
}
