//! KooPhone cloud phones: the status of every phone, the phones isolated by batch errors, the
//! discovered inventory, and command probes.

pub mod api;
pub mod isolate;
pub mod probe;
pub mod sim;
pub mod status;
