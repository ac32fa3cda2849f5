//! DDM discovery: a `ddm` section without `instance_ids` finds its DDM instances through
//! `GET /v1/{project_id}/instances` and keeps them in a [`crate::inventory::Inventory`],
//! refreshed every `discovery.refresh_interval` (default 5m) in the background of scrapes; only
//! the very first scrape waits for the first listing, within its own deadline. A failed refresh
//! keeps the last inventory; a listing that ends short of the total it reports (an empty page,
//! a page of repeats, a total that lies) is partial and never replaces a complete inventory
//! (the inventory's rules), and a listing that would remove more than half of the inventory
//! waits for the next listing to agree ([`crate::inventory::shrink`]).
//!
//! Health shows as the collector `ddm_discovery` in `huaweicloud_scrape_collector_success`
//! and `…_duration_seconds` (the latest refresh), plus `huaweicloud_discovery_resources
//! {service="ddm"}` (the instances kept after `name_regex`),
//! `huaweicloud_discovery_last_success_timestamp_seconds`, and one
//! `huaweicloud_ddm_instance_info` per instance — exported even while refreshes fail, from the
//! inventory in use. The listing is a DDM call: it draws on the same 60-per-minute budget as
//! the restore reads, which leave it room (see [`crate::services::ddm::restorable`]).

use std::sync::Arc;

use futures::FutureExt;
use tokio::time::Instant;

use super::config::DdmDiscoveryConfig;
use crate::inventory::{resource_series, Names, Snapshot};
use crate::metrics::{label_text, label_word};
use crate::metrics::{Families, Family};
use crate::services::ddm::api::{DdmInstance, MAX_LIMIT};
use crate::services::listing::{Discovered, ListingSpec};
use crate::transport::{ApiError, CloudClient};

/// One series per discovered DDM instance.
pub static INSTANCE_INFO: Family = Family::gauge(
    "huaweicloud_ddm_instance_info",
    &["cloud", "instance_id", "name", "status"],
    "Discovered DDM instances: 1 per instance, with its name and status (lower case) as of the last listing.",
);

/// The instance listing, as the generic runtime of [`crate::services::listing`] keeps it.
pub static LISTING: ListingSpec<DdmInstance> = ListingSpec {
    names: DISCOVERY,
    what: "DDM instance",
    unit: "instances",
    series_per_row: 1,
    // Discovery is not bounded by a series setting: the pager's row cap bounds it.
    max_series_setting: "",
    map: |cloud, rows| (map(cloud, rows), 0),
};

/// What the DDM inventory is called in metrics, log lines and errors.
pub const DISCOVERY: Names = Names {
    service: "ddm",
    collector: "ddm_discovery",
    operation: "discovery",
};

/// The discovery of one cloud's DDM instances.
pub struct DdmDiscovery {
    /// The instances last listed, refreshed in the background.
    listing: Discovered<DdmInstance>,
}

impl DdmDiscovery {
    /// A discovery with no inventory yet; it lists through `client`.
    pub fn new(cfg: DdmDiscoveryConfig, client: Arc<CloudClient>) -> DdmDiscovery {
        let cloud = client.cloud.clone();
        let name_regex = cfg.name_regex.clone();
        let lister = Arc::new(move |deadline: Instant| {
            let client = client.clone();
            let name_regex = name_regex.clone();
            async move {
                let mut l = client.ddm_list_all(deadline).await?;
                let before = l.items.len();
                l.items.retain(|r| valid_id(&r.id));
                if l.items.len() < before {
                    let request_id = l.request_id.as_deref().unwrap_or("-");
                    tracing::warn!(cloud = %client.cloud, rejected = before - l.items.len(), request_id, "DDM listed instances whose id is no DDM instance id; left them out");
                }
                if let Some(re) = &name_regex {
                    l.items
                        .retain(|r| re.is_match(r.name.as_deref().unwrap_or("")));
                }
                Ok::<_, ApiError>(l)
            }
            .boxed()
        });
        DdmDiscovery {
            listing: Discovered::new(&LISTING, &cloud, cfg.refresh_interval, lister),
        }
    }

    /// The inventory to use now (see [`crate::inventory::Inventory::current`]).
    pub async fn current(&self, deadline: Instant) -> Result<Arc<Snapshot<DdmInstance>>, ApiError> {
        self.listing.current(deadline).await
    }

    /// What the landing page says of the inventory.
    pub fn summary(&self) -> crate::status::InventorySummary {
        self.listing.summary()
    }

    /// Pages the next refresh will take, which the restore reads leave in the budget.
    pub fn reserve(&self) -> usize {
        self.listing.size() / MAX_LIMIT as usize + 2
    }

    /// The discovery's self metrics, its success and duration, and the instances' info.
    pub fn families(&self, cloud: &str, status: &crate::status::Status) -> Families {
        self.listing.families(cloud, status)
    }
}

/// The rule config applies to listed ids: 1 to 64 ASCII letters and digits.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Pure mapping of an inventory: one info series per instance.
pub fn map(cloud: &str, inventory: &[DdmInstance]) -> Families {
    let mut f = Families::new();
    for i in inventory {
        resource_series(
            &mut f,
            &INSTANCE_INFO,
            cloud,
            &i.id,
            &[
                ("name", &label_text(i.name.as_deref().unwrap_or(""))),
                ("status", &label_word(i.status.as_deref())),
            ],
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_listing_example() {
        let p = crate::services::ddm::api::parse_list_page(br#"{"instances": [{"id": "1f5c9fd6cd984056ba89c8c87cc03278in09", "status": "RUNNING", "name": "orders-ddm"}, {"id": "2f5c9fd6cd984056ba89c8c87cc03278in09", "status": "bad status\n"}], "instance_num": 2}"#).unwrap();
        let f = map("c", &p.instances);
        assert_eq!(
            f.value(
                INSTANCE_INFO.name,
                &[
                    ("instance_id", "1f5c9fd6cd984056ba89c8c87cc03278in09"),
                    ("name", "orders-ddm"),
                    ("status", "running")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            f.value(
                INSTANCE_INFO.name,
                &[
                    ("instance_id", "2f5c9fd6cd984056ba89c8c87cc03278in09"),
                    ("name", ""),
                    ("status", "unknown")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(f.len_of(INSTANCE_INFO.name), 2);
    }

    #[test]
    fn ids_and_names_are_checked() {
        assert!(valid_id("1f5c9fd6cd984056ba89c8c87cc03278in09"));
        assert!(!valid_id("") && !valid_id("a/b") && !valid_id(&"a".repeat(65)));
        assert_eq!(
            label_text(&"x".repeat(300)).chars().count(),
            crate::metrics::MAX_NAME_CHARS
        );
    }
}
