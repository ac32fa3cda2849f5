//! DDM: `GET /v3/{project_id}/instances/{instance_id}/backups/restorable-instances`, paginated
//! with `offset`/`limit` (1..=128).

use reqwest::Method;
use serde::Deserialize;
use tokio::time::Instant;

use super::{encode_component, ApiError, Budget, CloudClient, Operation, Request};

/// Largest page the API serves.
pub const MAX_LIMIT: u32 = 128;

/// The restorable-instances operation.
pub static RESTORABLE: Operation = Operation {
    service: "ddm",
    name: "ddm_restorable",
    idempotent: true,
    koophone: false,
    budget: Some(DDM_BUDGET),
};

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
    #[serde(default)]
    pub offset: Option<u64>,
    /// Page size the server used.
    #[serde(default)]
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
    #[serde(default)]
    pub unavailable_reason: Option<String>,
    /// Its VPC.
    #[serde(default)]
    pub vpc_name: String,
}

/// Decodes one page.
pub fn parse_page(body: &[u8]) -> Result<RestorablePage, String> {
    super::decode_json(body)
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
        let req = Request {
            op: &RESTORABLE,
            method: Method::GET,
            base: self.endpoints.ddm.clone(),
            path: format!(
                "/v3/{}/instances/{}/backups/restorable-instances",
                self.project_id,
                encode_component(instance_id)
            ),
            query: vec![
                ("offset".into(), offset.to_string()),
                ("limit".into(), limit.to_string()),
            ],
            body: None,
        };
        self.call_with_id(&req, deadline, parse_page).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
