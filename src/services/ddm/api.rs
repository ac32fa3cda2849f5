//! DDM: `GET /v3/{project_id}/instances/{instance_id}/backups/restorable-instances`, paginated
//! with `offset`/`limit` (1..=128); and `GET /v1/{project_id}/instances`, the DDM instances of
//! the project, paged the same way (by [`crate::inventory::pager`]). Both draw on one budget.

use serde::Deserialize;
use tokio::time::Instant;

use super::config::KEY;
use crate::inventory::{offset_request, page_all, Cursor, Listing, Page, Rules};
use crate::metrics::label_text;
use crate::transport::{encode_component, ApiError, Budget, CloudClient, Operation, Permission};

/// Largest page the API serves.
pub const MAX_LIMIT: u32 = 128;

/// The restorable-instances operation.
pub static RESTORABLE: Operation = Operation {
    service: KEY,
    name: "ddm_restorable",
    idempotent: true,
    sends_request_id: false,
    budget: Some(DDM_BUDGET),
    // Huawei's pages name no action for this query; this is DDM's instance query action.
    iam: Some(Permission {
        action: "ddm:instance:get",
        api: "GET /v3/{project_id}/instances/{instance_id}/backups/restorable-instances",
        used_by: "DDM collector (restore targets)",
    }),
};

/// The DDM instance listing: a DDM call like any other, on the same budget.
pub static LIST: Operation = Operation {
    service: KEY,
    name: "ddm_list",
    idempotent: true,
    sends_request_id: false,
    budget: Some(DDM_BUDGET),
    iam: Some(Permission {
        action: "ddm:instance:list",
        api: "GET /v1/{project_id}/instances",
        used_by: "DDM discovery (a `ddm` section without ids)",
    }),
};

/// Most pages of one instance listing (20 × 128 = 2,560 instances).
pub const LIST_MAX_PAGES: u32 = 20;

/// One page of the instance listing. The two totals should agree; the larger is believed
/// (believing the smaller could end a listing early, the larger costs at most one call).
#[derive(Debug, Deserialize, PartialEq, Clone)]
pub struct DdmListPage {
    /// The page.
    #[serde(default)]
    pub instances: Vec<DdmInstance>,
    /// DDM instances of the tenant.
    pub instance_num: Option<u64>,
    /// Total records.
    pub total_record: Option<u64>,
}

impl DdmListPage {
    /// The total to believe: the larger of `total_record` and `instance_num`.
    pub fn total(&self) -> Option<u64> {
        match (self.total_record, self.instance_num) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// One DDM instance (`ShowInstanceBeanResponse`), the fields the exporter uses.
#[derive(Debug, Deserialize, PartialEq, Clone)]
pub struct DdmInstance {
    /// The id the restorable-instances API takes.
    pub id: String,
    /// Instance name.
    pub name: Option<String>,
    /// E.g. `RUNNING`; unknown values are data.
    pub status: Option<String>,
}

impl crate::inventory::Resource for DdmInstance {
    fn id(&self) -> &str {
        &self.id
    }
}

/// Decodes one page of the instance listing.
pub fn parse_list_page(body: &[u8]) -> Result<DdmListPage, String> {
    crate::transport::decode_json(body)
}

/// DDM allows 60 calls per minute per user: one window per cloud holds every DDM call of it
/// (retries included), whatever the number of instances, scrapes and pages.
pub const DDM_BUDGET: Budget = Budget {
    calls: 60,
    per: std::time::Duration::from_secs(60),
};

/// One page.
#[derive(Debug, Deserialize, PartialEq, Clone)]
pub struct RestorablePage {
    /// Targets on this page.
    pub instances: Vec<RestoreTarget>,
    /// Offset the server used.
    pub offset: Option<u64>,
    /// Page size the server used.
    pub limit: Option<u64>,
    /// Total targets across pages.
    pub total: u64,
}

/// A DDM instance that a backup could be restored onto.
#[derive(Debug, Deserialize, PartialEq, Clone)]
pub struct RestoreTarget {
    /// Target id.
    pub instance_id: String,
    /// Target name.
    #[serde(default)]
    pub instance_name: String,
    /// Target status, e.g. `normal`.
    #[serde(default)]
    pub status: String,
    /// Whether it can be used.
    pub available: bool,
    /// Why not, when not.
    pub unavailable_reason: Option<String>,
    /// Its VPC.
    #[serde(default)]
    pub vpc_name: String,
}

/// Decodes one page. Every text a target carries becomes a label value, so each is bounded
/// with its control characters replaced here, before rows are told apart by id.
pub fn parse_page(body: &[u8]) -> Result<RestorablePage, String> {
    let mut page: RestorablePage = crate::transport::decode_json(body)?;
    for t in &mut page.instances {
        for text in [
            &mut t.instance_id,
            &mut t.instance_name,
            &mut t.status,
            &mut t.vpc_name,
        ] {
            *text = label_text(text);
        }
        if let Some(reason) = &mut t.unavailable_reason {
            *reason = label_text(reason);
        }
    }
    Ok(page)
}

impl CloudClient {
    /// One page of restore targets for `instance_id`, and the answer's request id.
    pub async fn ddm_restorable_page(
        &self,
        instance_id: &str,
        offset: u64,
        limit: u32,
        deadline: Instant,
    ) -> Result<(RestorablePage, Option<String>), ApiError> {
        let path = format!(
            "/v3/{}/instances/{}/backups/restorable-instances",
            self.project_id,
            encode_component(instance_id)
        );
        let req = offset_request(&RESTORABLE, &self.endpoints, path, offset, limit);
        self.call_with_id(&req, deadline, parse_page).await
    }

    /// One page of the DDM instance listing (record offset, as the current pages say; both
    /// parameters always sent), and the answer's request id.
    pub async fn ddm_list_page(
        &self,
        offset: u64,
        limit: u32,
        deadline: Instant,
    ) -> Result<(DdmListPage, Option<String>), ApiError> {
        let path = format!("/v1/{}/instances", self.project_id);
        let req = offset_request(&LIST, &self.endpoints, path, offset, limit);
        self.call_with_id(&req, deadline, parse_list_page).await
    }

    /// Every DDM instance, [`MAX_LIMIT`] a page, paged by [`crate::inventory::pager`], reading
    /// `offset` as a record offset (the current pages). When that listing ends short of its
    /// total after more than one page, the edition may read `offset` as a page number (older
    /// and regional pages say so): the list is read again by page number, 1, 2, … by the same
    /// pager (a 1-based page 1 repeats the first rows, a 0-based one the second page), and what
    /// that reading adds is merged in. A record-offset server whose total lies costs that
    /// reading's two calls more (its second page brings nothing new).
    pub async fn ddm_list_all(&self, deadline: Instant) -> Result<Listing<DdmInstance>, ApiError> {
        let read = |by_page_number: bool| {
            let rules = Rules {
                limit: Some(MAX_LIMIT),
                max_pages: u64::from(LIST_MAX_PAGES),
                ..Rules::of(&LIST, &self.cloud)
            };
            let fetch = move |c: Cursor| async move {
                let offset = if by_page_number { c.index + 1 } else { c.rows };
                let (page, request_id) = self.ddm_list_page(offset, MAX_LIMIT, deadline).await?;
                Ok(Page {
                    total: page.total(),
                    rows: page.instances,
                    request_id,
                })
            };
            page_all(rules, ddm_id, fetch)
        };
        let mut listing = read(false).await?;
        if listing.complete || listing.pages < 2 {
            return Ok(listing);
        }
        listing.merge(read(true).await?, ddm_id);
        Ok(listing)
    }
}

/// A listed DDM instance's id (the key rows are deduplicated by).
fn ddm_id(r: &DdmInstance) -> &str {
    &r.id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_listing_example() {
        let p = parse_list_page(br#"{"instances": [{"id": "1f5c9fd6cd984056ba89c8c87cc03278in09", "status": "RUNNING", "name": "orders-ddm",
   "created": "2025-03-11T08:00:00+0000", "updated": "2025-11-02T09:30:00+0000",
   "available_zone": "ap-southeast-1a", "vpc_id": "x", "subnet_id": "x", "security_group_id": "x",
   "node_count": 2, "access_ip": "192.168.1.10", "access_port": "5066", "core_count": "4",
   "ram_capacity": "16", "node_status": "normal", "enterprise_project_id": "0",
   "project_id": "0123", "engine_version": "3.1.2"}],
 "instance_num": 1, "page_no": 1, "page_size": 1, "total_record": 1, "total_page": 1}"#).unwrap();
        assert_eq!(p.total(), Some(1));
        assert_eq!(p.instances[0].name.as_deref(), Some("orders-ddm"));
        let p = parse_list_page(br#"{"instances": [], "instance_num": 7}"#).unwrap();
        assert_eq!(p.total(), Some(7));
        let p =
            parse_list_page(br#"{"instances": [], "instance_num": 7, "total_record": 9}"#).unwrap();
        assert_eq!(p.total(), Some(9));
        assert!(parse_list_page(br#"{"instances": [{"name": "no id"}]}"#).is_err());
    }

    #[test]
    fn parses_the_page_example() {
        let p = parse_page(br#"{"instances":[{"instance_id":"3b65c609427c4b20bc0ae93e161dc7adin09","instance_name":"ddm-agent-create-instance1","status":"normal","available":true,"unavailable_reason":"","vpc_name":"vpc-ddm-172"}],"offset":0,"limit":10,"total":1}"#).unwrap();
        assert_eq!(p.total, 1);
        assert_eq!(p.instances[0].instance_name, "ddm-agent-create-instance1");
        assert!(p.instances[0].available);
        assert!(parse_page(br#"{"instances":[],"total":"1"}"#)
            .unwrap_err()
            .starts_with("at total"));
    }
}
