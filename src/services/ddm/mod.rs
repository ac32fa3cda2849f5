//! DDM: restore readiness of each instance and the discovered inventory.

pub mod api;
pub mod inventory;
pub mod restorable;
pub mod sim;
