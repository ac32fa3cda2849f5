//! What an inventory holds: its names, its lister, the last snapshot and the last refresh's
//! outcome, behind one lock that the scrape path and the refresh task share.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use tokio::time::Instant;

use crate::inventory::pager::Listing;
use crate::inventory::shrink::Shrinks;
use crate::sync::Flight;
use crate::transport::ApiError;

/// What an inventory is called in metrics, log lines and errors; the service that builds the
/// inventory gives them, so the inventory names no service itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Names {
    /// The `service` label of the discovery's self metrics (e.g. `koophone`).
    pub service: &'static str,
    /// The collector its success and duration are recorded under, also the operation of the
    /// error a first scrape gets when the first listing is not done (e.g. `koophone_discovery`).
    pub collector: &'static str,
    /// The operation of the refresh's own errors: the listing's deadline, a partial listing.
    pub operation: &'static str,
}

/// A lister: one full listing under a deadline.
pub type Lister<T> =
    Arc<dyn Fn(Instant) -> BoxFuture<'static, Result<Listing<T>, ApiError>> + Send + Sync>;

/// One inventory snapshot.
#[derive(Debug)]
pub struct Snapshot<T> {
    /// The resources.
    pub items: Vec<T>,
    /// When the listing that made it ended.
    pub at: SystemTime,
    /// Whether it came from a complete listing.
    pub complete: bool,
}

/// The last refresh's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When it started.
    pub at: SystemTime,
    /// How long it took.
    pub took: Duration,
    /// `None` when it succeeded (a complete listing); the error otherwise (a partial listing is
    /// an error of kind `limit_exceeded` naming the shortfall).
    pub error: Option<ApiError>,
}

/// What the self metrics and the landing page read.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Resources in the inventory, `None` before the first listing arrived.
    pub size: Option<usize>,
    /// When the inventory was last listed in full.
    pub last_success: Option<SystemTime>,
    /// The latest refresh, `None` before the first ended.
    pub last: Option<Outcome>,
    /// Listings held because they would have removed more than half of the inventory.
    pub refused_shrinks: u64,
}

/// The changing part of an inventory, under [`Inner::state`].
pub(crate) struct State<T> {
    /// The inventory in use, `None` before the first listing arrived.
    pub snapshot: Option<Arc<Snapshot<T>>>,
    /// When the snapshot (or the last attempt) is due for a refresh.
    pub next_due: Option<Instant>,
    /// When the inventory was last listed in full.
    pub last_success: Option<SystemTime>,
    /// The latest refresh's outcome.
    pub last: Option<Outcome>,
    /// The refresh in flight, for a first scrape to wait on.
    pub in_flight: Option<Flight<()>>,
    /// Whether a refresh is running (set when spawned, cleared when it records its outcome).
    pub running: bool,
    /// The shrink rule's memory: a listing held, and how many were.
    pub shrinks: Shrinks,
}

/// One inventory, shared by its handles and its refresh task.
pub(crate) struct Inner<T> {
    /// The cloud's name in the config (the `cloud` label).
    pub cloud: String,
    /// What it is called (see [`Names`]).
    pub names: Names,
    /// How often it is listed again.
    pub refresh_interval: Duration,
    /// How it is listed.
    pub lister: Lister<T>,
    /// Snapshot, outcome and the refresh in flight.
    pub state: Mutex<State<T>>,
}

impl<T> Inner<T> {
    /// An inventory with nothing listed yet.
    pub fn new(cloud: &str, names: Names, refresh_interval: Duration, lister: Lister<T>) -> Self {
        Inner {
            cloud: cloud.to_string(),
            names,
            refresh_interval,
            lister,
            state: Mutex::new(State {
                snapshot: None,
                next_due: None,
                last_success: None,
                last: None,
                in_flight: None,
                running: false,
                shrinks: Shrinks::default(),
            }),
        }
    }
}
