//! KooPhone partial failure: one bad id must not hide every other phone. The batch-status call
//! fails a whole batch of up to 100 ids when one of them is not the caller's (`KOOPHONE.API.1001`,
//! no permission) or no longer exists (`KOOPHONE.API.1000`, bad parameter: a released phone),
//! inside HTTP 200 or as a 4xx. Such a batch is split in halves to isolate the ids that cause
//! it; the rest is reported, the isolated ids are counted by reason, logged once, and
//! remembered so the next scrape leaves them out of its batches (re-checking each alone now and
//! then) instead of bisecting again.
//!
//! Which errors are about ids: only `KOOPHONE.API.1000` and `.1001`. Throttling, 401, 5xx,
//! transport errors, timeouts, undecodable bodies and `.9999` (internal error) are not split:
//! they fail the collector as before. A `.9999` might be caused by one phone, but nothing says
//! so, and it is what an outage answers to every call: splitting on it would multiply the calls
//! to a service that is already failing and blame phones for it.
//!
//! Bounds: a bad batch costs at most [`MAX_EXTRA_CALLS_PER_BATCH`] extra calls (one bad id in
//! 100 takes 7 to 15, about 10; a half known to hold a bad id because its sibling answered is
//! split without being called), a scrape at most `max(MIN_EXTRA_CALLS, batches)` extra calls
//! (bisection and re-checks together: at most double the calls of a scrape), and no extra call
//! starts unless the time left before the scrape deadline (less a margin for mapping and
//! encoding) is at least what the failed batch took. Phones not resolved within these bounds are
//! left out of this scrape (requested but not reported); the next scrape goes on from what was
//! learnt. When no call of a scrape answered at all (the first bad batch, split alone, finds no
//! good half either), the failure is the service's, not some phones': the collector fails with
//! the batch's error and nothing is remembered.
//!
//! Files: `source` (where statuses come from, which errors are about ids), `cloud` (the cloud
//! as that source), `fetch` (one scrape: the calls, what they found, the family), `split` (the
//! bisection within the bounds), `memory` ([`Isolation`], what is remembered across scrapes).

mod cloud;
pub mod fetch;
pub mod memory;
mod source;
mod split;
#[cfg(test)]
mod tests;

pub use fetch::{fetch, map_isolated, Fetched, ISOLATED};
pub use memory::{Isolation, RECHECK_FIRST, RECHECK_MAX};
pub use source::{id_reason, StatusAnswer, StatusSource, ID_CODES};
pub use split::{MAX_EXTRA_CALLS_PER_BATCH, MIN_EXTRA_CALLS};
