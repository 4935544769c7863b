//! Group commit: many tasks' small Redis calls sent as one.
//!
//! Each webhook and each delivery needs one short script call, and most of
//! what such a call costs is fixed: on Redis, the `EVALSHA` lookup, the
//! argument tables and the reply; on both sides, a write, a read and a task
//! wake-up. A [`Batcher`] keeps at most `in_flight` calls in flight: while
//! they run, new requests queue; when one returns, everything queued (up to
//! `max`) goes in the next call. There is no timer, so an idle service sends
//! each request at once as a batch of one and adds no latency, and a busy one
//! sends fewer, larger calls — the batch grows with the load, which is when it
//! pays. More than one call in flight keeps a slow call (a saturated machine)
//! from holding every request behind it; calls in flight together are as
//! independent of each other as the concurrent requests they carry.
//!
//! A batch's requests are independent: the script handles each as the
//! one-request script would, in order, and answers each on its own. A call
//! that fails (Redis down, timeout) fails exactly the requests it carried,
//! each with the same error; a flush that panics drops its requests' answers
//! ([`Gone`]) and the batcher carries on with the next batch.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

/// The batcher's task is gone (its runtime shut down) or a flush panicked:
/// the request may or may not have been carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the batcher stopped before answering")
    }
}

impl std::error::Error for Gone {}

/// The requester's view of a Redis call that never answered: an I/O error,
/// so it is handled as a lost answer (the request may have been carried out).
impl From<Gone> for redis::RedisError {
    fn from(gone: Gone) -> Self {
        redis::RedisError::from(std::io::Error::other(gone.to_string()))
    }
}

/// One answer per request of a batch of `n`: the call's answers, or its
/// error for every request it carried.
#[must_use]
pub fn each<T, E: Clone>(answers: Result<Vec<T>, E>, n: usize) -> Vec<Result<T, E>> {
    match answers {
        Ok(v) => v.into_iter().map(Ok).collect(),
        Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
    }
}

type Pending<I, O> = (I, oneshot::Sender<O>);

/// Sends requests of type `I` in batches to a flush function answering `O` each.
pub struct Batcher<I, O> {
    tx: mpsc::UnboundedSender<Pending<I, O>>,
}

impl<I, O> std::fmt::Debug for Batcher<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the batcher's task on the current Tokio runtime. `flush` gets
    /// 1 to `max` requests and answers each, in order; each call runs in a
    /// task of its own, at most `in_flight` at a time. The task ends when the
    /// `Batcher` is dropped and the requests already queued are flushed.
    ///
    /// # Panics
    /// Outside a Tokio runtime, or when `max` or `in_flight` is 0.
    pub fn spawn<F, Fut>(max: usize, in_flight: usize, mut flush: F) -> Self
    where
        F: FnMut(Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<O>> + Send + 'static,
    {
        assert!(max > 0, "a batch holds at least one request");
        assert!(in_flight > 0, "at least one call may be in flight");
        let (tx, mut rx) = mpsc::unbounded_channel::<Pending<I, O>>();
        let slots = Arc::new(Semaphore::new(in_flight));
        tokio::spawn(async move {
            let mut queued = Vec::with_capacity(max);
            loop {
                // A free slot first: while every call is in flight, requests queue up for the next.
                let Ok(slot) = slots.clone().acquire_owned().await else { return };
                if rx.recv_many(&mut queued, max).await == 0 {
                    return;
                }
                let (items, answers): (Vec<I>, Vec<oneshot::Sender<O>>) = queued.drain(..).unzip();
                let call = flush(items);
                tokio::spawn(async move {
                    // Its own task: a panic in one flush loses that batch's answers, not the batcher.
                    if let Ok(outs) = tokio::spawn(call).await {
                        debug_assert_eq!(outs.len(), answers.len(), "a flush answers every request");
                        for (answer, out) in answers.into_iter().zip(outs) {
                            // The requester may have stopped waiting (its own timeout); nothing to do.
                            let _ = answer.send(out);
                        }
                    }
                    drop(slot);
                });
            }
        });
        Self { tx }
    }

    /// Queues `item` for the next batch and waits for its answer.
    ///
    /// # Errors
    /// [`Gone`] when the batcher stopped first or the flush carrying `item` panicked.
    pub async fn call(&self, item: I) -> Result<O, Gone> {
        let (answer, rx) = oneshot::channel();
        self.tx.send((item, answer)).map_err(|_| Gone)?;
        rx.await.map_err(|_| Gone)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn an_idle_batcher_sends_each_request_at_once_as_a_batch_of_one() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let b = Batcher::spawn(8, 1, move |items: Vec<u32>| {
            seen.lock().unwrap().push(items.len());
            async move { items.into_iter().map(|i| i * 10).collect::<Vec<_>>() }
        });
        assert_eq!(b.call(1).await, Ok(10));
        assert_eq!(b.call(2).await, Ok(20));
        assert_eq!(*sizes.lock().unwrap(), vec![1, 1]);
    }

    #[tokio::test]
    async fn requests_that_arrive_during_a_call_go_together_in_the_next_and_each_gets_its_own_answer() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let b = Arc::new(Batcher::spawn(4, 1, move |items: Vec<u32>| {
            seen.lock().unwrap().push(items.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(30)).await;
                items.into_iter().map(|i| i + 100).collect::<Vec<_>>()
            }
        }));
        let first = tokio::spawn({
            let b = b.clone();
            async move { b.call(0).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await; // the first call is in flight
        let rest: Vec<_> = (1..=6)
            .map(|i| {
                let b = b.clone();
                tokio::spawn(async move { b.call(i).await })
            })
            .collect();
        assert_eq!(first.await.unwrap(), Ok(100));
        for (i, r) in rest.into_iter().enumerate() {
            assert_eq!(r.await.unwrap(), Ok(u32::try_from(i).unwrap() + 101));
        }
        // One alone, then at most `max` per call, in arrival order.
        assert_eq!(*sizes.lock().unwrap(), vec![vec![0], vec![1, 2, 3, 4], vec![5, 6]]);
    }

    #[tokio::test]
    async fn with_two_in_flight_a_slow_call_does_not_hold_the_next_batch() {
        let b = Arc::new(Batcher::spawn(4, 2, |items: Vec<u64>| async move {
            // Each request says how long its call takes.
            tokio::time::sleep(Duration::from_millis(items[0])).await;
            items
        }));
        let slow = tokio::spawn({
            let b = b.clone();
            async move { b.call(300).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = std::time::Instant::now();
        assert_eq!(b.call(1).await, Ok(1));
        assert!(started.elapsed() < Duration::from_millis(200), "waited behind the slow call");
        assert_eq!(slow.await.unwrap(), Ok(300));
    }

    #[tokio::test]
    async fn a_flush_that_panics_fails_its_own_requests_and_the_next_batch_is_served() {
        let b = Batcher::spawn(4, 1, |items: Vec<u32>| async move {
            assert!(!items.contains(&13), "unlucky");
            items
        });
        assert_eq!(b.call(13).await, Err(Gone));
        assert_eq!(b.call(7).await, Ok(7));
    }

    #[tokio::test]
    async fn a_requester_that_stops_waiting_costs_the_others_nothing() {
        let b = Arc::new(Batcher::spawn(4, 1, |items: Vec<u32>| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            items
        }));
        let impatient = tokio::time::timeout(Duration::from_millis(1), b.call(1)).await;
        assert!(impatient.is_err());
        assert_eq!(b.call(2).await, Ok(2));
    }
}
