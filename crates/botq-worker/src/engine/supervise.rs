//! Supervision of the worker's long-running tasks.
//!
//! Readers, promoter, reclaimer, sampler, heartbeat and history must run
//! for as long as the process does. If one of them ends early (an error, a
//! panic, or simply returning), the process must not limp on with, say, no
//! reclaimer: the
//! supervisor names the task, stops the others and makes `run` fail, so the
//! process exits non-zero and its orchestrator restarts it.

use std::future::Future;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::error;

pub struct Supervisor {
    tasks: JoinSet<(String, anyhow::Result<()>)>,
    stop: CancellationToken,
}

impl Supervisor {
    pub fn new(stop: CancellationToken) -> Self {
        Self { tasks: JoinSet::new(), stop }
    }

    /// Starts `task` under `name`. It should return only once `stop` is cancelled.
    pub fn spawn<F>(&mut self, name: String, task: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.tasks.spawn(async move { (name, task.await) });
    }

    /// Waits for every task. `Err` names the first task that ended before
    /// `stop` was cancelled (the others are then stopped).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut failure: Option<anyhow::Error> = None;
        while let Some(joined) = self.tasks.join_next().await {
            let (name, outcome) = match joined {
                Ok((name, outcome)) => (name, outcome),
                Err(e) => ("a background task".to_owned(), Err(anyhow::anyhow!("panicked: {e}"))),
            };
            if self.stop.is_cancelled() && failure.is_none() && outcome.is_ok() {
                continue;
            }
            if failure.is_none() {
                let why = match outcome {
                    Ok(()) => anyhow::anyhow!("background task {name} stopped unexpectedly"),
                    Err(e) => e.context(format!("background task {name} failed")),
                };
                error!(task = %name, error = %format!("{why:#}"), "background task died; stopping the worker");
                failure = Some(why);
                self.stop.cancel();
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task that runs until the stop.
    fn steady(stop: &CancellationToken) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let s = stop.clone();
        async move {
            s.cancelled().await;
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_task_that_dies_is_named_and_stops_the_rest() {
        let stop = CancellationToken::new();
        let mut sup = Supervisor::new(stop.clone());
        sup.spawn("steady".into(), steady(&stop));
        sup.spawn("fragile".into(), async { Err(anyhow::anyhow!("boom")) });
        let err = sup.wait().await.unwrap_err();
        assert_eq!(format!("{err:#}"), "background task fragile failed: boom");
        assert!(stop.is_cancelled());
    }

    #[tokio::test]
    async fn a_task_that_returns_early_is_a_failure_too() {
        let stop = CancellationToken::new();
        let mut sup = Supervisor::new(stop.clone());
        sup.spawn("quitter".into(), async { Ok(()) });
        let err = sup.wait().await.unwrap_err();
        assert_eq!(err.to_string(), "background task quitter stopped unexpectedly");
    }

    #[tokio::test]
    async fn a_normal_shutdown_is_not_a_failure() {
        let stop = CancellationToken::new();
        let mut sup = Supervisor::new(stop.clone());
        sup.spawn("steady".into(), steady(&stop));
        stop.cancel();
        sup.wait().await.unwrap();
    }
}
