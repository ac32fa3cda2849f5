//! DCS (Redis/Memcached): instance lifecycle counts and the per-instance listing.

pub mod api;
pub mod collect;
pub mod sim;
