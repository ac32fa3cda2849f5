//! The phone listing (`GET /v1/instances/batch-query`), which discovery pages through: one page,
//! decoded leniently (only what becomes a label or a value is kept, never the personal fields),
//! and every page of it.

use reqwest::Method;
use serde::Deserialize;
use tokio::time::Instant;

use super::call::{operation, RefusedAnswer};
use super::status::StatusValue;
use crate::services::koophone::config::KEY;
use crate::transport::{ApiError, BodyError, CloudClient, Operation, Permission, Request};

/// `GET /v1/instances/batch-query`: the listing discovery pages through.
pub static LIST: Operation = operation(
    "koophone_list",
    true,
    Permission {
        action: "koophone:cloudphoneResource:queryInstanceBatch",
        api: "GET /v1/instances/batch-query",
        used_by: "KooPhone discovery (a `koophone` section without ids; Read)",
    },
);

/// What the phone inventory is called in metrics, log lines and errors.
pub const DISCOVERY: crate::inventory::Names = crate::inventory::Names {
    service: KEY,
    collector: "koophone_discovery",
    operation: "discovery",
};

/// Pages of the listing asked at once after the first (within the cloud's in-flight limit).
pub const LIST_WINDOW: u64 = 8;

/// Page size the listing asks for (the API documents none; the echoed size is trusted).
pub const LIST_PAGE_SIZE: u32 = 100;

/// One phone as the listing describes it. Only what becomes a label or a value is kept: the
/// personal fields of the answer (`assign_user`, `member_name`, `account_name`, the project
/// names) are never decoded, so they cannot reach a label, a log line or a Debug print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// `instance_id`, the id the status calls take.
    pub instance_id: String,
    /// `instance_name` (bounded, control characters replaced).
    pub instance_name: String,
    /// `instance_sku` (bounded).
    pub sku: String,
    /// `region` (bounded).
    pub region: String,
    /// `running_status` code, or what stood there instead.
    pub running_status: StatusValue,
    /// `frozen_status`: `Some(true)` for 1, `Some(false)` for 0, `None` for anything else.
    pub frozen: Option<bool>,
}

/// A listing row as decoded: everything optional, numbers lenient.
#[derive(Deserialize)]
struct RawPhone {
    /// A string when usable.
    #[serde(default)]
    instance_id: Option<serde_json::Value>,
    /// Becomes [`Phone::instance_name`].
    #[serde(default)]
    instance_name: Option<serde_json::Value>,
    /// Becomes [`Phone::sku`].
    #[serde(default)]
    instance_sku: Option<serde_json::Value>,
    /// Becomes [`Phone::region`].
    #[serde(default)]
    region: Option<serde_json::Value>,
    /// Becomes [`Phone::running_status`].
    #[serde(default)]
    running_status: StatusValue,
    /// 0 or 1 when readable.
    #[serde(default)]
    frozen_status: StatusValue,
}

/// Text of a JSON value meant to be a string: bounded, control characters replaced; numbers
/// are written out, anything else is empty.
fn label_text(v: Option<serde_json::Value>) -> String {
    let raw = match v {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    crate::metrics::label_text(&raw)
}

/// One page of the listing.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneListPage {
    /// Phones on the page with a usable id.
    pub phones: Vec<Phone>,
    /// Rows without a usable `instance_id` (skipped).
    pub skipped: usize,
    /// `data.total_count`, when it is a non-negative integer.
    pub total: Option<u64>,
    /// `data.page_size` as echoed.
    pub page_size: Option<u64>,
}

/// A listing page's `data`.
#[derive(Deserialize)]
struct ListData {
    /// The rows.
    #[serde(default)]
    result: Option<Vec<RawPhone>>,
    /// Phones in the whole listing, as the server counts them.
    #[serde(default)]
    total_count: Option<serde_json::Value>,
    /// The page size the server used.
    #[serde(default)]
    page_size: Option<serde_json::Value>,
    /// The listing may put its verdict here…
    #[serde(default)]
    error_code: Option<String>,
    /// …with its reason.
    #[serde(default)]
    error_msg: Option<String>,
}

/// A listing answer: a verdict at the top level, inside `data`, or both.
#[derive(Deserialize)]
struct ListEnvelope {
    /// `"0"` on success.
    #[serde(default)]
    error_code: Option<String>,
    /// Why it failed.
    #[serde(default)]
    error_msg: Option<String>,
    /// The page.
    #[serde(default)]
    data: Option<ListData>,
}

fn count(v: &Option<serde_json::Value>) -> Option<u64> {
    match v {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Decodes a listing page. `error_code` may sit inside `data`, at the top level, or both: every
/// one present must be `"0"`, and at least one must be (the summary's reading rules).
pub fn parse_list(body: &[u8]) -> Result<PhoneListPage, BodyError> {
    let answer = match crate::transport::decode_json::<ListEnvelope>(body) {
        Ok(a) => a,
        Err(m) => {
            return match crate::transport::decode_json::<RefusedAnswer>(body) {
                Ok(v) if v.error_code.as_deref().is_some_and(|c| c != "0") => Err(BodyError::Api {
                    code: v.error_code.unwrap_or_default(),
                    message: v.error_msg.unwrap_or_default(),
                }),
                _ => Err(BodyError::Decode(m)),
            }
        }
    };
    let inner = answer.data.as_ref().and_then(|d| d.error_code.clone());
    let failed = [
        (answer.error_code.clone(), answer.error_msg.clone()),
        (
            inner,
            answer.data.as_ref().and_then(|d| d.error_msg.clone()),
        ),
    ]
    .into_iter()
    .find(|(c, _)| c.as_deref().is_some_and(|c| c != "0"));
    if let Some((code, msg)) = failed {
        return Err(BodyError::Api {
            code: code.unwrap_or_default(),
            message: msg.unwrap_or_default(),
        });
    }
    let Some(data) = answer.data else {
        return Err(match answer.error_code {
            Some(_) => BodyError::Decode("at data: missing field `data`".into()),
            None => BodyError::Api {
                code: "<missing error_code>".into(),
                message: String::new(),
            },
        });
    };
    if answer.error_code.is_none() && data.error_code.is_none() {
        return Err(BodyError::Api {
            code: "<missing error_code>".into(),
            message: String::new(),
        });
    }
    let rows = data
        .result
        .ok_or_else(|| BodyError::Decode("at data: missing field `result`".into()))?;
    let mut phones = Vec::with_capacity(rows.len());
    let mut skipped = 0;
    for r in rows {
        // An id is a string (a number there is a wrong answer, not an id).
        let id = match r.instance_id {
            Some(serde_json::Value::String(s)) => s,
            _ => String::new(),
        };
        if crate::services::koophone::config::check_instance_id(&id).is_err() {
            skipped += 1;
            continue;
        }
        phones.push(Phone {
            instance_id: id,
            instance_name: label_text(r.instance_name),
            sku: label_text(r.instance_sku),
            region: label_text(r.region),
            running_status: r.running_status,
            frozen: match r.frozen_status {
                StatusValue::Code(0) => Some(false),
                StatusValue::Code(1) => Some(true),
                _ => None,
            },
        });
    }
    Ok(PhoneListPage {
        phones,
        skipped,
        total: count(&data.total_count),
        page_size: count(&data.page_size),
    })
}

/// A listed phone's id (the key rows are deduplicated by).
pub fn phone_id(p: &Phone) -> &str {
    &p.instance_id
}

/// Discovery filters sent as query parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// `pool_scene_tag` (`CLOUD_PHONE`, `CLOUD_APP`).
    pub pool_scene_tag: Option<String>,
    /// `pool_name`.
    pub pool_name: Option<String>,
}

impl CloudClient {
    /// One page of the phone listing (`page_no` as given, `page_size` asked), and the
    /// answer's request id. `x-request-id` goes as a query parameter, as this API documents.
    pub async fn koophone_list_page(
        &self,
        page_no: u64,
        page_size: u32,
        filter: &ListFilter,
        deadline: Instant,
    ) -> Result<(PhoneListPage, Option<String>), ApiError> {
        let mut query = vec![
            (
                "x-request-id".to_string(),
                crate::transport::new_request_id(),
            ),
            ("page_no".to_string(), page_no.to_string()),
            ("page_size".to_string(), page_size.to_string()),
        ];
        if let Some(t) = &filter.pool_scene_tag {
            query.push(("pool_scene_tag".into(), t.clone()));
        }
        if let Some(n) = &filter.pool_name {
            query.push(("pool_name".into(), n.clone()));
        }
        let req = Request {
            op: &LIST,
            method: Method::GET,
            base: self.endpoints.get(KEY).to_string(),
            path: "/v1/instances/batch-query".into(),
            query,
            body: None,
        };
        self.call_with_id(&req, deadline, parse_list).await
    }

    /// Every phone the listing gives (filters as query parameters), paged by
    /// [`crate::inventory::pager`]. The first page is `page_no=1`; a server that refuses it
    /// with a 4xx is read from `page_no=0`, and a listing that ends short of `total_count` reads
    /// page 0 once more (a server counting from 0), keeping what it adds.
    pub async fn koophone_list_all(
        &self,
        filter: &ListFilter,
        deadline: Instant,
    ) -> Result<crate::inventory::Listing<Phone>, ApiError> {
        use crate::inventory::{page_all, Page, Rules};
        let fetch = |first: u64, size: u32| {
            move |c: crate::inventory::Cursor| async move {
                let (page, request_id) = self
                    .koophone_list_page(first + c.index, size, filter, deadline)
                    .await?;
                if page.skipped > 0 {
                    tracing::warn!(cloud = %self.cloud, skipped = page.skipped, request_id = request_id.as_deref().unwrap_or("-"), "KooPhone listing rows without a usable instance_id; skipped");
                }
                Ok(Page {
                    rows: page.phones,
                    total: page.total,
                    request_id,
                })
            }
        };
        let key = phone_id;
        // The page size asked is not relied on (the API documents none): no limit.
        let rules = Rules {
            window: LIST_WINDOW,
            ..Rules::of(&LIST, &self.cloud)
        };
        // A 4xx (the first page number or the page size refused) tries the other reading of
        // the page number, then a smaller page: at most three listings, each bounded.
        let mut refused = None;
        let mut found = None;
        for (first, size) in [
            (1, LIST_PAGE_SIZE),
            (0, LIST_PAGE_SIZE),
            (1, LIST_PAGE_SIZE / 2),
        ] {
            match page_all(rules, key, fetch(first, size)).await {
                Ok(l) => {
                    found = Some((l, first, size));
                    break;
                }
                Err(e) if e.kind == crate::transport::ErrorKind::ClientError => {
                    tracing::info!(cloud = %self.cloud, page_no = first, page_size = size, error = %e, "KooPhone listing refused; trying the other reading of the page");
                    refused = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        let (mut listing, first, size) = match (found, refused) {
            (Some(f), _) => f,
            (None, Some(e)) => return Err(e),
            (None, None) => {
                return Err(ApiError::new(
                    crate::transport::ErrorKind::ClientError,
                    LIST.name,
                    "the listing was refused",
                ))
            }
        };
        if first == 0 {
            return Ok(listing);
        }
        if !listing.complete {
            if let Ok((page, request_id)) = self.koophone_list_page(0, size, filter, deadline).await
            {
                let page = Page {
                    rows: page.phones,
                    total: page.total,
                    request_id,
                };
                listing.merge(page.into(), key);
            }
        }
        Ok(listing)
    }
}

impl crate::inventory::Resource for Phone {
    fn id(&self) -> &str {
        &self.instance_id
    }
}
