//! KooPhone: batch status, async command and task query. Success is `error_code == "0"` inside
//! HTTP 200 (checked by the transport); these are the `data` payloads.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::transport::{ApiError, BodyError, CloudClient, Operation, Request};

/// Most instance ids one call accepts.
pub const MAX_IDS_PER_CALL: usize = 100;

/// `POST /v1/instances/batch-query-status`.
pub static BATCH_STATUS: Operation = Operation {
    service: "koophone",
    name: "koophone_batch_status",
    idempotent: true,
    sends_request_id: true,
    budget: None,
};
/// `POST /v1/instances/async-command`: runs a command, so never retried.
pub static ASYNC_COMMAND: Operation = Operation {
    service: "koophone",
    name: "koophone_async_command",
    idempotent: false,
    sends_request_id: true,
    budget: None,
};
/// `GET /v1/instances/tasks/{task_id}`.
pub static TASK: Operation = Operation {
    service: "koophone",
    name: "koophone_task",
    idempotent: true,
    sends_request_id: true,
    budget: None,
};

/// `GET /v1/instances/batch-query`: the listing discovery pages through.
pub static LIST: Operation = Operation {
    service: "koophone",
    name: "koophone_list",
    idempotent: true,
    sends_request_id: true,
    budget: None,
};

/// What the phone inventory is called in metrics, log lines and errors.
pub const DISCOVERY: crate::inventory::Names = crate::inventory::Names {
    service: "koophone",
    collector: "koophone_discovery",
    operation: "discovery",
};

/// Pages of the listing asked at once after the first (within the cloud's in-flight limit).
pub const LIST_WINDOW: u64 = 8;

/// Page size the listing asks for (the API documents none; the echoed size is trusted).
pub const LIST_PAGE_SIZE: u32 = 100;

/// `{"data": T, "error_code": "0", "error_msg": "ok"}`: success is `error_code == "0"`.
#[derive(Debug, Deserialize)]
struct Answer<T> {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_msg: Option<String>,
    #[serde(default = "none")]
    data: Option<T>,
}

fn none<T>() -> Option<T> {
    None
}

/// Just the verdict, for answers whose `data` does not decode.
#[derive(Deserialize)]
struct Verdict {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_msg: Option<String>,
}

/// Decodes a KooPhone answer in one pass: the payload when `error_code` is "0", the error when
/// it is anything else (or missing), a decode error when the body is not the documented shape.
pub fn parse_answer<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, BodyError> {
    let api = |code: Option<String>, msg: Option<String>| BodyError::Api {
        code: code.unwrap_or_else(|| "<missing error_code>".into()),
        message: msg.unwrap_or_default(),
    };
    match crate::transport::decode_json::<Answer<T>>(body) {
        Ok(a) if a.error_code.as_deref() == Some("0") => a
            .data
            .ok_or_else(|| BodyError::Decode("at data: missing field `data`".into())),
        Ok(a) => Err(api(a.error_code, a.error_msg)),
        // A failure's `data` may be anything; the verdict still decides.
        Err(m) => match crate::transport::decode_json::<Verdict>(body) {
            Ok(v) if v.error_code.as_deref() != Some("0") => Err(api(v.error_code, v.error_msg)),
            _ => Err(BodyError::Decode(m)),
        },
    }
}

/// Batch status payload.
#[derive(Debug, Deserialize, PartialEq)]
pub struct StatusResultWrapper {
    /// One entry per phone the API answered for.
    pub status_results: Vec<StatusResult>,
}

/// One phone's status.
#[derive(Debug, Deserialize, PartialEq, Clone)]
pub struct StatusResult {
    /// Phone id.
    pub instance_id: String,
    /// Status code (see the page's response table), or what stood there instead.
    #[serde(default)]
    pub status: StatusValue,
}

/// Longest raw text kept from a status that is not a code.
pub const MAX_RAW_STATUS_CHARS: usize = 32;

/// A row's `status`: an integer code, or — for anything else the API might put there (an
/// integer beyond `i64`, a float, a string, null, an object) — its raw text, bounded to
/// [`MAX_RAW_STATUS_CHARS`] with control characters replaced. Such a row maps to
/// `status="unknown"`, the rest of the batch standing.
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum StatusValue {
    /// A code that fits `i64`.
    Code(i64),
    /// Not a code: the raw text (empty when the field is missing).
    Unreadable(String),
}

impl Default for StatusValue {
    fn default() -> Self {
        StatusValue::Unreadable(String::new())
    }
}

impl From<i64> for StatusValue {
    fn from(c: i64) -> Self {
        StatusValue::Code(c)
    }
}

impl StatusValue {
    fn raw(text: &str) -> StatusValue {
        StatusValue::Unreadable(
            text.chars()
                .take(MAX_RAW_STATUS_CHARS)
                .map(|c| if c.is_control() { '?' } else { c })
                .collect(),
        )
    }
}

impl<'de> Deserialize<'de> for StatusValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = StatusValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a status code")
            }
            fn visit_i64<E>(self, v: i64) -> Result<StatusValue, E> {
                Ok(StatusValue::Code(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<StatusValue, E> {
                Ok(match i64::try_from(v) {
                    Ok(c) => StatusValue::Code(c),
                    Err(_) => StatusValue::raw(&v.to_string()),
                })
            }
            fn visit_f64<E>(self, v: f64) -> Result<StatusValue, E> {
                Ok(StatusValue::raw(&v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<StatusValue, E> {
                Ok(StatusValue::raw(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<StatusValue, E> {
                Ok(StatusValue::raw(if v { "true" } else { "false" }))
            }
            fn visit_unit<E>(self) -> Result<StatusValue, E> {
                Ok(StatusValue::raw("null"))
            }
            fn visit_none<E>(self) -> Result<StatusValue, E> {
                Ok(StatusValue::raw("null"))
            }
            fn visit_some<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<StatusValue, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<StatusValue, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(StatusValue::raw("array"))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<StatusValue, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(StatusValue::raw("object"))
            }
        }
        d.deserialize_any(V)
    }
}

/// Async command payload.
#[derive(Debug, Deserialize, PartialEq, Clone)]
pub struct CommandInfo {
    /// Task to poll.
    pub task_id: String,
    /// One job per phone.
    pub cmd_jobs: Vec<CmdJob>,
}

/// One phone's job.
#[derive(Debug, Deserialize, PartialEq, Clone)]
pub struct CmdJob {
    /// Phone id.
    pub instance_id: String,
    /// Job id, matched in the task answer.
    pub job_id: String,
}

/// Task query payload.
#[derive(Debug, Deserialize, PartialEq, Clone)]
pub struct JobDetailWrapper {
    /// Jobs of the task.
    pub jobs: Vec<JobDetail>,
}

/// One job's state.
#[derive(Debug, Deserialize, PartialEq, Clone)]
pub struct JobDetail {
    /// Job id.
    pub job_id: String,
    /// 1 running, 2 successful, -1 failed.
    pub status: i64,
    /// Job error code ("" when none).
    #[serde(default)]
    pub error_code: Option<String>,
    /// Job error text.
    #[serde(default)]
    pub error_msg: Option<String>,
    /// Command output (≤ 1,024 bytes), null when none.
    #[serde(default)]
    pub execute_msg: Option<String>,
}

#[derive(Serialize)]
struct IdsBody<'a> {
    instance_ids: &'a [String],
}

#[derive(Serialize)]
struct CommandBody<'a> {
    command: &'a str,
    instance_ids: &'a [String],
}

/// Decodes a batch-status body.
pub fn parse_status(body: &[u8]) -> Result<Vec<StatusResult>, BodyError> {
    parse_answer::<StatusResultWrapper>(body).map(|d| d.status_results)
}

/// Decodes an async-command body.
pub fn parse_command(body: &[u8]) -> Result<CommandInfo, BodyError> {
    parse_answer(body)
}

/// Decodes a task body.
pub fn parse_task(body: &[u8]) -> Result<Vec<JobDetail>, BodyError> {
    parse_answer::<JobDetailWrapper>(body).map(|d| d.jobs)
}

/// Longest label text kept from a listing row (name, SKU, region); longer text is cut.
pub const MAX_LABEL_CHARS: usize = 128;

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
    #[serde(default)]
    instance_id: Option<serde_json::Value>,
    #[serde(default)]
    instance_name: Option<serde_json::Value>,
    #[serde(default)]
    instance_sku: Option<serde_json::Value>,
    #[serde(default)]
    region: Option<serde_json::Value>,
    #[serde(default)]
    running_status: StatusValue,
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
    raw.chars()
        .take(MAX_LABEL_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// One page of the listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// Phones on the page with a usable id.
    pub phones: Vec<Phone>,
    /// Rows without a usable `instance_id` (skipped).
    pub skipped: usize,
    /// `data.total_count`, when it is a non-negative integer.
    pub total: Option<u64>,
    /// `data.page_size` as echoed.
    pub page_size: Option<u64>,
}

#[derive(Deserialize)]
struct ListData {
    #[serde(default)]
    result: Option<Vec<RawPhone>>,
    #[serde(default)]
    total_count: Option<serde_json::Value>,
    #[serde(default)]
    page_size: Option<serde_json::Value>,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_msg: Option<String>,
}

#[derive(Deserialize)]
struct ListAnswer {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_msg: Option<String>,
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
pub fn parse_list(body: &[u8]) -> Result<ListPage, BodyError> {
    let answer = match crate::transport::decode_json::<ListAnswer>(body) {
        Ok(a) => a,
        Err(m) => {
            return match crate::transport::decode_json::<Verdict>(body) {
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
        if super::config::check_instance_id(&id).is_err() {
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
    Ok(ListPage {
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
    ) -> Result<(ListPage, Option<String>), ApiError> {
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
            base: self.endpoints.get(super::KEY).to_string(),
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

    /// Status of up to 100 phones, and the answer's request id.
    pub async fn koophone_status(
        &self,
        ids: &[String],
        deadline: Instant,
    ) -> Result<(Vec<StatusResult>, Option<String>), ApiError> {
        let req = Request {
            op: &BATCH_STATUS,
            method: Method::POST,
            base: self.endpoints.get(super::KEY).to_string(),
            path: "/v1/instances/batch-query-status".into(),
            query: Vec::new(),
            body: Some(serde_json::to_vec(&IdsBody { instance_ids: ids }).unwrap_or_default()),
        };
        self.call_with_id(&req, deadline, parse_status).await
    }

    /// Starts `command` on up to 100 phones; also returns the answer's request id.
    pub async fn koophone_command(
        &self,
        command: &str,
        ids: &[String],
        deadline: Instant,
    ) -> Result<(CommandInfo, Option<String>), ApiError> {
        let req = Request {
            op: &ASYNC_COMMAND,
            method: Method::POST,
            base: self.endpoints.get(super::KEY).to_string(),
            path: "/v1/instances/async-command".into(),
            query: Vec::new(),
            body: Some(
                serde_json::to_vec(&CommandBody {
                    command,
                    instance_ids: ids,
                })
                .unwrap_or_default(),
            ),
        };
        self.call_with_id(&req, deadline, parse_command).await
    }

    /// Jobs of a task; also returns the answer's request id.
    pub async fn koophone_task(
        &self,
        task_id: &str,
        deadline: Instant,
    ) -> Result<(Vec<JobDetail>, Option<String>), ApiError> {
        let req = Request {
            op: &TASK,
            method: Method::GET,
            base: self.endpoints.get(super::KEY).to_string(),
            path: format!(
                "/v1/instances/tasks/{}",
                crate::transport::encode_component(task_id)
            ),
            query: Vec::new(),
            body: None,
        };
        self.call_with_id(&req, deadline, parse_task).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_listing_example_and_never_keeps_personal_fields() {
        let body = br#"{"data": {"result": [{"instance_id": "a44uhlf7", "instance_name": "shop-floor-07", "region": "ap-southeast-1",
   "instance_sku": "Professional | 8 vCPUs | 16 GB", "frozen_status": 0, "running_status": 2, "login_status": 1,
   "assign_status": 1, "assign_user": "someone@example.com", "billing_mode": "ON_DEMAND",
   "project_id": "0123", "project_name": "ap-southeast-1", "phone_id": "03c0802ce8b48d32",
   "member_name": "Some One", "account_name": "someone_acct", "region_name": "AP-Singapore",
   "region_name_en": "AP-Singapore", "backup_status": 2, "backup_time": "2025-11-02 10:00:00",
   "restore_status": null, "restore_time": null}, {"instance_name": "no id"}, {"instance_id": 12345},
   {"instance_id": "a b"}],
  "page_no": 1, "page_size": 100, "total_count": 1250, "error_code": "0", "error_msg": "ok"},
 "error_code": "0", "error_msg": "ok"}"#;
        let p = parse_list(body).unwrap();
        assert_eq!(p.total, Some(1250));
        assert_eq!(p.skipped, 3);
        assert_eq!(p.phones[0].instance_name, "shop-floor-07");
        assert_eq!(p.phones[0].running_status, StatusValue::Code(2));
        assert_eq!(p.phones[0].frozen, Some(false));
        let debug = format!("{p:?}");
        for personal in ["someone", "Some One"] {
            assert!(!debug.contains(personal), "{debug}");
        }
    }

    #[test]
    fn listing_errors_sit_in_data_or_at_the_top() {
        for body in [
            &br#"{"data":{"error_code":"KOOPHONE.API.1004","error_msg":"not subscribed"}}"#[..],
            br#"{"error_code":"KOOPHONE.API.1004","error_msg":"not subscribed"}"#,
            br#"{"error_code":"0","data":{"result":[],"error_code":"KOOPHONE.API.1004","error_msg":"not subscribed"}}"#,
            br#"{"error_code":"KOOPHONE.API.1004","error_msg":"not subscribed","data":{"result":"x"}}"#,
        ] {
            assert!(
                matches!(parse_list(body), Err(BodyError::Api { code, .. }) if code == "KOOPHONE.API.1004"),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(parse_list(br#"{"data":{"result":[],"error_code":"0","total_count":0}}"#).is_ok());
        assert!(parse_list(br#"{"error_code":"0","data":{"result":[]}}"#).is_ok());
        assert!(parse_list(br#"{"data":{"result":[]}}"#).is_err());
    }

    #[test]
    fn parses_the_page_examples() {
        let s = parse_status(br#"{"data":{"status_results":[{"instance_id":"a44uhlf7","status":0}]},"error_code":"0","error_msg":"ok"}"#).unwrap();
        assert_eq!(
            s,
            vec![StatusResult {
                instance_id: "a44uhlf7".into(),
                status: StatusValue::Code(0)
            }]
        );
        let c = parse_command(br#"{"data":{"task_id":"6837531fd3f54550927b930180a706bf","cmd_jobs":[{"instance_id":"a44uhlf7","job_id":"1564567b8bab40f34711234cb80d0123"},{"instance_id":"efjy72gs","job_id":"1564567b8bab40f34711234cb80d0456"}]},"error_code":"0","error_msg":"ok"}"#).unwrap();
        assert_eq!(c.task_id, "6837531fd3f54550927b930180a706bf");
        assert_eq!(c.cmd_jobs.len(), 2);
        let t = parse_task(br#"{"data":{"jobs":[{"job_id":"1564567b8bab40f34711234cb80d0123","status":-1,"error_code":"CPS0005","error_msg":"Phone not found.","execute_msg":null},{"job_id":"1564567b8bab40f34711234cb80d0456","status":2,"error_code":"","error_msg":"","execute_msg":"xxxxxx"}]},"error_code":"0","error_msg":"ok"}"#).unwrap();
        assert_eq!(t[0].status, -1);
        assert_eq!(t[0].error_code.as_deref(), Some("CPS0005"));
        assert_eq!(t[0].execute_msg, None);
        assert_eq!(t[1].execute_msg.as_deref(), Some("xxxxxx"));
    }

    #[test]
    fn out_of_range_and_odd_statuses_keep_their_raw_text() {
        let s = parse_status(br#"{"data":{"status_results":[
            {"instance_id":"a","status":9223372036854775808},
            {"instance_id":"b","status":"3"},
            {"instance_id":"c","status":2.5},
            {"instance_id":"d","status":null},
            {"instance_id":"e"},
            {"instance_id":"f","status":[1,{"x":2}]},
            {"instance_id":"g","status":{"k":"v"}},
            {"instance_id":"h","status":"line\nbreak and a string far longer than thirty-two characters"},
            {"instance_id":"i","status":-9223372036854775808},
            {"instance_id":"j","status":true},
            {"instance_id":"k","status":4}
        ]},"error_code":"0"}"#)
        .unwrap();
        let got: Vec<StatusValue> = s.into_iter().map(|r| r.status).collect();
        let raw = |t: &str| StatusValue::Unreadable(t.into());
        assert_eq!(
            got,
            vec![
                raw("9223372036854775808"),
                raw("3"),
                raw("2.5"),
                raw("null"),
                raw(""),
                raw("array"),
                raw("object"),
                raw("line?break and a string far long"),
                StatusValue::Code(i64::MIN),
                raw("true"),
                StatusValue::Code(4),
            ]
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = parse_status(
            br#"{"data":{"status_results":[{"instance_id":7,"status":3}]},"error_code":"0"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("at data.status_results[0].instance_id: invalid type: integer"),
            "{e}"
        );
        let e = parse_status(br#"{"error_code":"0"}"#).unwrap_err();
        assert_eq!(e, BodyError::Decode("at data: missing field `data`".into()));
    }

    #[test]
    fn an_error_code_is_an_api_error_whatever_the_data() {
        for body in [
            &br#"{"error_code":"KOOPHONE.API.1000","error_msg":"bad parameter"}"#[..],
            br#"{"error_code":"KOOPHONE.API.1000","error_msg":"bad parameter","data":{"status_results":"nonsense"}}"#,
            br#"{"error_code":"KOOPHONE.API.1000","error_msg":"bad parameter","data":null}"#,
        ] {
            assert_eq!(
                parse_status(body).unwrap_err(),
                BodyError::Api {
                    code: "KOOPHONE.API.1000".into(),
                    message: "bad parameter".into()
                }
            );
        }
        let e = parse_status(br#"{"data":{"status_results":[]}}"#).unwrap_err();
        assert_eq!(
            e,
            BodyError::Api {
                code: "<missing error_code>".into(),
                message: String::new()
            }
        );
        assert!(matches!(
            parse_status(b"{\"error_code\":"),
            Err(BodyError::Decode(_))
        ));
    }
}
