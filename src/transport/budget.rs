//! Call budgets: a service's documented limit ([`Budget`]), the sliding window that holds one
//! cloud to it ([`BudgetWindow`]), and the windows of one cloud, one per service ([`Budgets`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::lock;

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

#[cfg(test)]
mod tests {
    use super::*;

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
