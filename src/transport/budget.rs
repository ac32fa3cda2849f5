//! Call budgets: a service's documented limit ([`Budget`]), the sliding window that holds one
//! cloud to it ([`BudgetWindow`]), the windows of one cloud, one per service ([`Budgets`]), and
//! the rule every budget of the exporter follows (the DDM window, the probe command budget, any
//! later one), so that no client's request can spend a shared budget on nothing:
//!
//! - a budgeted call is charged only when it is sent, with at least [`MIN_TIME_TO_FINISH`] of
//!   its deadline left (the transport checks it after the connection slot, just before the
//!   call goes out); a call with less is not sent, not charged and not counted;
//! - budgeted work (a read that fills a cache, a probe run) runs under its owner's deadline (the
//!   collector's configured timeout, the probe module's `timeout`), never its caller's, on its own
//!   task, one at a time per key ([`RunOn`]): a caller with a short deadline stops waiting at it,
//!   and the work runs on and fills the cache for the next caller instead of being thrown away.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::{lock, spawn_flight, Flight};

/// A budgeted call goes out only with at least this much of its deadline left: with less, its
/// answer would most likely come after the deadline, and the budget would pay for nothing.
pub const MIN_TIME_TO_FINISH: Duration = Duration::from_millis(250);

/// A call budget: at most `calls` calls in any window of `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Calls allowed in one window.
    pub calls: usize,
    /// The window.
    pub per: Duration,
}

/// A sliding window of the calls made against one [`Budget`]: any `per` holds at most
/// `calls` calls, however many collectors, instances, scrapes and pages ask.
#[derive(Debug, Default)]
pub struct BudgetWindow {
    /// When each call of the last `per` was let through, oldest first (at most `calls`).
    sent: VecDeque<Instant>,
}

impl BudgetWindow {
    /// Lets one call through now, or says how long until one may go.
    pub fn try_acquire(&mut self, budget: Budget, now: Instant) -> Result<(), Duration> {
        self.forget_older_than(budget.per, now);
        if self.sent.len() >= budget.calls {
            let wait = self
                .sent
                .front()
                .map(|first| {
                    budget
                        .per
                        .saturating_sub(now.saturating_duration_since(*first))
                })
                .unwrap_or(budget.per);
            return Err(wait);
        }
        self.sent.push_back(now);
        Ok(())
    }

    /// Calls that may go now without waiting (nothing is taken).
    pub fn available(&mut self, budget: Budget, now: Instant) -> usize {
        self.forget_older_than(budget.per, now);
        budget.calls.saturating_sub(self.sent.len())
    }

    /// Drops the calls that left the window (`per` or longer before `now`).
    fn forget_older_than(&mut self, per: Duration, now: Instant) {
        while let Some(first) = self.sent.front() {
            if now.saturating_duration_since(*first) >= per {
                self.sent.pop_front();
            } else {
                break;
            }
        }
    }
}

/// One cloud's windows, one per service that has a [`Budget`], drawn on by every call of
/// that service (retries included).
#[derive(Debug, Default)]
pub struct Budgets {
    /// The window of each service, by its `service` label.
    windows: Mutex<HashMap<&'static str, BudgetWindow>>,
}

impl Budgets {
    /// Calls `service`'s window lets through now (nothing is taken).
    pub fn available(&self, service: &'static str, budget: Budget) -> usize {
        self.with_window(service, |w| w.available(budget, Instant::now()))
    }

    /// Lets one call of `service` through now, or says how long until one may go.
    pub fn try_acquire(&self, service: &'static str, budget: Budget) -> Result<(), Duration> {
        self.with_window(service, |w| w.try_acquire(budget, Instant::now()))
    }

    fn with_window<T>(&self, service: &'static str, f: impl FnOnce(&mut BudgetWindow) -> T) -> T {
        f(lock(&self.windows).entry(service).or_default())
    }
}

/// Budgeted work in flight, at most one per key (a DDM instance's restore read, a probe
/// module's run on a set of phones), each on its own task under its owner's deadline (which the
/// work carries): see the module doc.
pub struct RunOn<K, T> {
    /// The work in flight by key; each removes itself when it ends.
    inflight: Arc<Mutex<HashMap<K, Flight<Option<T>>>>>,
}

impl<K, T> Default for RunOn<K, T> {
    fn default() -> Self {
        RunOn {
            inflight: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

/// How a caller of [`RunOn::run`] came by its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// It started the work.
    Now,
    /// It joined the work an earlier caller started.
    Earlier,
}

impl<K, T> RunOn<K, T>
where
    K: Eq + Hash + Clone + Send + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// The answer of `key`'s work: the work in flight for it, joined, or the one `work` makes,
    /// started now on its own task. It is waited for until `caller_deadline` only: `None` then
    /// (or when the work's task died), while the work runs on to its own deadline and does
    /// what it does with its answer (fill a cache) for the next caller.
    pub async fn run<F>(
        &self,
        key: K,
        caller_deadline: Instant,
        work: impl FnOnce() -> F,
    ) -> (Option<T>, Started)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let (flight, started) = {
            let mut inflight = lock(&self.inflight);
            // Work that ended but is still listed died without removing itself (a panic).
            inflight.retain(|_, f| f.peek().is_none());
            match inflight.get(&key) {
                Some(f) => (f.clone(), Started::Earlier),
                None => {
                    let listed = self.inflight.clone();
                    let own = key.clone();
                    let fut = work();
                    let f = spawn_flight(
                        async move {
                            let out = fut.await;
                            lock(&listed).remove(&own);
                            Some(out)
                        },
                        |_| None,
                    );
                    inflight.insert(key, f.clone());
                    (f, Started::Now)
                }
            }
        };
        let answer = tokio::time::timeout_at(caller_deadline, flight)
            .await
            .ok()
            .flatten();
        (answer, started)
    }

    /// Whether work for `key` is in flight.
    pub fn running(&self, key: &K) -> bool {
        lock(&self.inflight)
            .get(key)
            .is_some_and(|f| f.peek().is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_past_a_short_caller_and_is_joined_not_doubled() {
        let runs: RunOn<&str, u32> = RunOn::default();
        let count = Arc::new(std::sync::atomic::AtomicU32::new(0));
        // The work ends when the test lets it: no clock decides the outcome.
        let (go, gate) = tokio::sync::watch::channel(false);
        let work = || {
            let (count, mut gate) = (count.clone(), gate.clone());
            async move {
                let _ = gate.wait_for(|go| *go).await;
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
            }
        };
        let soon = || Instant::now() + Duration::from_millis(1);
        // A caller with 1 ms gives up; the work goes on.
        let (a, s) = runs.run("k", soon(), work).await;
        assert_eq!((a, s), (None, Started::Now));
        assert!(runs.running(&"k"));
        // A later caller joins it rather than starting another.
        let (b, s) = runs.run("k", soon(), work).await;
        assert_eq!((b, s), (None, Started::Earlier));
        go.send_replace(true);
        let later = Instant::now() + Duration::from_secs(60);
        let (c, s) = runs.run("k", later, work).await;
        assert_eq!((c, s), (Some(1), Started::Earlier));
        assert!(!runs.running(&"k"));
        // Once it ended, the next caller starts anew.
        let (d, s) = runs.run("k", later, work).await;
        assert_eq!((d, s), (Some(2), Started::Now));
    }

    #[test]
    fn a_budget_window_lets_through_at_most_its_calls_in_any_window() {
        let budget = Budget {
            calls: 60,
            per: Duration::from_secs(60),
        };
        let mut w = BudgetWindow::default();
        let t0 = Instant::now();
        for i in 0..60 {
            assert!(w
                .try_acquire(budget, t0 + Duration::from_millis(i * 10))
                .is_ok());
        }
        let wait = w
            .try_acquire(budget, t0 + Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(59));
        assert!(w
            .try_acquire(budget, t0 + Duration::from_millis(59_999))
            .is_err());
        // The first call leaves the window at 60 s; the second at 60.01 s.
        assert!(w.try_acquire(budget, t0 + Duration::from_secs(60)).is_ok());
        assert!(w.try_acquire(budget, t0 + Duration::from_secs(60)).is_err());
        assert!(w
            .try_acquire(budget, t0 + Duration::from_millis(60_010))
            .is_ok());
    }
}
