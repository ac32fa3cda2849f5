//! The one lock helper and the one single-flight every part of the exporter uses.
//!
//! Locks: a panic while a lock is held must not take every later scrape down with it, so a
//! poisoned lock is taken as it is ([`lock`], [`read`], [`write()`]); what it guards is always
//! left consistent between statements by its users.
//!
//! Single flight: work that several callers wait for (a token request, an inventory refresh, a
//! collection, a probe run) runs once, on its own task, so it runs to its end even when every
//! caller waiting for it goes away at its own deadline, and each caller awaits a clone of the one
//! [`Flight`]. What decides whether a caller may join a flight in progress (a budget, a
//! deadline, a key) stays with the caller.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::task::JoinError;

/// Locks `m`, taking a poisoned lock as it is.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks `l`, taking a poisoned lock as it is.
pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `l`, taking a poisoned lock as it is.
pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

/// One piece of work in flight, awaited by any number of callers for its one answer.
pub type Flight<T> = Shared<BoxFuture<'static, T>>;

/// Starts `work` on its own task and returns the [`Flight`] that yields its answer. A task that
/// ends abnormally (a panic) yields `died(error)` instead, so no waiter is left hanging.
pub fn spawn_flight<T, F, D>(work: F, died: D) -> Flight<T>
where
    T: Clone + Send + Sync + 'static,
    F: Future<Output = T> + Send + 'static,
    D: FnOnce(JoinError) -> T + Send + 'static,
{
    let handle = tokio::spawn(work);
    async move { handle.await.unwrap_or_else(died) }
        .boxed()
        .shared()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_flight_answers_every_waiter_once_and_survives_them() {
        let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = runs.clone();
        let flight = spawn_flight(
            async move {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                7
            },
            |_| 0,
        );
        let (a, b) = tokio::join!(flight.clone(), flight.clone());
        assert_eq!((a, b), (7, 7));
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_flight_whose_task_panics_yields_the_fallback() {
        let flight = spawn_flight(async { panic!("boom") }, |_: JoinError| -1);
        assert_eq!(flight.await, -1);
    }

    #[test]
    fn a_poisoned_lock_is_taken_as_it_is() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let poisoner = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = poisoner.lock();
            panic!("poison");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m), 1);
    }
}
