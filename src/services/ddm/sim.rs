//! DDM: `GET /v3/{project_id}/instances/{instance_id}/backups/restorable-instances`, paginated
//! by `offset` (records skipped) and `limit` (1..=128, default 10). Restore targets are a pure
//! function of the seed, the DDM instance id and the target's position.
//!
//! And `GET /v1/{project_id}/instances`, the DDM instances themselves (the fleet the restore
//! reads know), paged the same way, in the current pages' error shape
//! (`{"errCode","externalMessage"}`). Codes the pages do not give, chosen here
//! (docs/fidelity.md): an unknown instance 404 `DBS.280108`, a wrong project 400 `DBS.280001`.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::api;
use crate::sim::faults::FaultKind;
use crate::sim::fleet::{hash3, hash_str, mix};
use crate::sim::listing::{list_page, totals_as_faulted};
use crate::sim::pipeline::{Ctx, SimService, GET};
use crate::sim::routes::{Routes, Simulated};
use crate::sim::state::{json_response, SimReply};
use crate::transport::Operation;

pub const DEFAULT_LIMIT: u64 = 10;
pub const MAX_LIMIT: u64 = 128;

fn param_error_body() -> Value {
    json!({"error_code": "DBS.280001", "error_msg": "Parameter error."})
}

/// DDM as the pipeline sees it: the listing answers in the current pages' error shape, the
/// restore reads in the older one.
#[derive(Clone, Copy)]
pub(crate) struct SimDdm;

impl SimService for SimDdm {
    // The reference page's own 500 example carries this code and message.
    const SERVER_ERROR: (&'static str, &'static str) = ("DBS.280001", "Parameter error.");
    // 400 `DBS.280001` "Parameter error.", the page's own example.
    const API_ERROR: (StatusCode, &'static str, &'static str) =
        (StatusCode::BAD_REQUEST, "DBS.280001", "Parameter error.");

    fn server_error(&self, op: &Operation) -> Response {
        let status = StatusCode::INTERNAL_SERVER_ERROR;
        if op.name == api::LIST.name {
            return list_error(status, "DBS.200412", "Server failure.");
        }
        let (code, msg) = Self::SERVER_ERROR;
        self.error(status, code, msg)
    }

    fn api_error(&self, op: &Operation) -> Response {
        let (status, code, msg) = Self::API_ERROR;
        if op.name == api::LIST.name {
            list_error(status, code, msg)
        } else {
            self.error(status, code, msg)
        }
    }
}

/// The listing's path.
const LIST: &str = "/v1/{project_id}/instances";
/// The restore targets' path.
const RESTORABLE: &str = "/v3/{project_id}/instances/{instance_id}/backups/restorable-instances";

/// DDM as the simulator serves it.
pub static SIMULATED: Simulated = Simulated { routes };

/// The instance listing and the restore targets.
fn routes() -> Routes {
    Routes::new()
        .route(LIST, GET, SimDdm, &api::LIST, list)
        .route(RESTORABLE, GET, SimDdm, &api::RESTORABLE, restorable)
}

/// `offset` and `limit` from the query string; `None` for a bad or out-of-range value.
pub(crate) fn page(query: Option<&str>) -> Option<(u64, u64)> {
    let mut offset = None;
    let mut limit = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "offset" => &mut offset,
            "limit" => &mut limit,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    let offset = match offset {
        None => 0,
        Some(v) => v.parse::<u64>().ok()?,
    };
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))?,
    };
    Some((offset, limit))
}

/// The records `[offset, offset + limit)` of `total`, clipped.
pub(crate) fn window(offset: u64, limit: u64, total: u64) -> std::ops::Range<u64> {
    let start = offset.min(total);
    start..start.saturating_add(limit).min(total)
}

fn restorable(cx: Ctx<'_>, Path((project_id, instance_id)): Path<(String, String)>) -> SimReply {
    let sim = cx.sim;
    let page = page(cx.call.uri.query()).filter(|_| project_id == sim.config.project_id);
    let Some((offset, limit)) = page else {
        return SimReply::new(StatusCode::BAD_REQUEST, param_error_body());
    };
    let Some(targets) = sim.instances().ddm_targets(&instance_id) else {
        return SimReply::new(
            StatusCode::NOT_FOUND,
            json!({"error_code": "DBS.280108", "error_msg": "The DB instance does not exist."}),
        );
    };
    let total = targets as u64;
    let instances = page_rows(
        sim.config.seed,
        &instance_id,
        offset,
        limit,
        total,
        cx.fault,
    );
    let reported = if cx.fault == Some(FaultKind::TotalLies) {
        100_000
    } else {
        total
    };
    SimReply::ok(json!({
        "instances": instances,
        "offset": offset,
        "limit": limit,
        "total": reported,
    }))
}

/// The current pages' error body: `{"errCode","externalMessage"}`.
fn list_error_body(code: &str, msg: &str) -> Value {
    json!({"errCode": code, "externalMessage": msg})
}

fn list_error(status: StatusCode, code: &str, msg: &str) -> Response {
    json_response(status, &list_error_body(code, msg))
}

/// Statuses a simulated DDM instance shows: mostly running, a few others.
const DDM_STATUSES: [&str; 6] = [
    "RUNNING", "RUNNING", "RUNNING", "RUNNING", "CREATING", "ERROR",
];

/// One DDM instance's row, a pure function of the seed and its id.
pub(crate) fn instance_row(seed: u64, project_id: &str, id: &str) -> Value {
    let h = hash3(seed, hash_str(id), 0x4444_4d4c);
    json!({
        "id": id,
        "status": DDM_STATUSES[(h % DDM_STATUSES.len() as u64) as usize],
        "name": format!("ddm-{}", id.chars().take(6).collect::<String>()),
        "created": "2025-03-11T08:00:00+0000",
        "updated": "2025-11-02T09:30:00+0000",
        "available_zone": "ap-southeast-1a",
        "vpc_id": "3d6f3bdb-8d0b-4d0f-8d1c-4a5d31e9e8a1",
        "subnet_id": "0a6d2d4c-6e0e-4c2b-9d1e-3b1f7e4a9c11",
        "security_group_id": "7c0b8c3c-2f1f-4c8a-9b3e-6d7a1c2e3f40",
        "node_count": 2,
        "access_ip": "192.168.1.10",
        "access_port": "5066",
        "core_count": "4",
        "ram_capacity": "16",
        "node_status": "normal",
        "enterprise_project_id": "0",
        "project_id": project_id,
        "engine_version": "3.1.2",
    })
}

fn list(cx: Ctx<'_>, Path(project_id): Path<String>) -> SimReply {
    let sim = cx.sim;
    let page = page(cx.call.uri.query()).filter(|_| project_id == sim.config.project_id);
    let Some((offset, limit)) = page else {
        return SimReply::new(
            StatusCode::BAD_REQUEST,
            list_error_body("DBS.280001", "Parameter error."),
        );
    };
    let ids: Vec<String> = sim.instances().ddm.iter().map(|d| d.id.clone()).collect();
    let records = if sim.config.ddm_offset_is_page {
        offset.max(1).saturating_sub(1).saturating_mul(limit)
    } else {
        offset
    };
    let (rows, reported) = list_page(&ids, records, limit, cx.fault);
    let instances: Vec<Value> = rows
        .iter()
        .map(|id| instance_row(sim.config.seed, &project_id, id))
        .collect();
    let page_size = instances.len();
    let body = json!({
        "instances": instances,
        "instance_num": reported,
        "page_no": records / limit + 1,
        "page_size": page_size,
        "total_record": reported,
        "total_page": reported.div_ceil(limit),
    });
    let totals = [
        "instance_num",
        "page_no",
        "page_size",
        "total_record",
        "total_page",
    ];
    SimReply::ok(totals_as_faulted(body, "", &totals, cx.fault))
}

/// The rows of one page; `duplicate_rows` repeats the first row (in place of the last of a
/// full page) and starts a page past the first one row early.
fn page_rows(
    seed: u64,
    instance_id: &str,
    offset: u64,
    limit: u64,
    total: u64,
    fault: Option<FaultKind>,
) -> Vec<Value> {
    let dup = fault == Some(FaultKind::DuplicateRows);
    let start = if dup {
        offset.saturating_sub(1)
    } else {
        offset
    };
    let mut rows: Vec<Value> = window(start, limit, total)
        .map(|j| target(seed, instance_id, j))
        .collect();
    if dup {
        if let Some(first) = rows.first().cloned() {
            if rows.len() as u64 >= limit {
                rows.pop();
            }
            rows.push(first);
        }
    }
    rows
}

/// Restore target `j` of DDM instance `instance_id`: mostly normal and available, some not.
pub(crate) fn target(seed: u64, instance_id: &str, j: u64) -> Value {
    const NAMES: [&str; 5] = [
        "ddm-prod",
        "ddm-agent-create-instance",
        "ddm-test",
        "ddm-restore",
        "ddm-staging",
    ];
    const VPCS: [&str; 4] = ["vpc-ddm-172", "vpc-default", "vpc-prod-10", "vpc-test-192"];
    let h = hash3(seed, hash_str(instance_id), j);
    let pick = |shift: u32, n: usize| ((h >> shift) % n as u64) as usize;
    let (status, reason) = match (h >> 16) % 100 {
        0..78 if pick(24, 10) == 0 => (
            "normal",
            "The instance version is earlier than that of the source instance.",
        ),
        0..78 => ("normal", ""),
        78..88 => ("abnormal", "The instance status is abnormal."),
        88..94 => ("creating", "The instance is being created."),
        _ => ("restarting", "The instance is being restarted."),
    };
    let mut row = json!({
        "instance_id": format!("{:016x}{:016x}in09", h, mix(h)),
        "instance_name": format!("{}-{}", NAMES[pick(40, NAMES.len())], j + 1),
        "status": status,
        "available": reason.is_empty(),
        "vpc_name": VPCS[pick(48, VPCS.len())],
    });
    // The definition gives `unavailable_reason` a minimum length of 1 (the page's example has
    // `""`): an available target carries none.
    if !reason.is_empty() {
        row["unavailable_reason"] = json!(reason);
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_params() {
        assert_eq!(page(None), Some((0, 10)));
        assert_eq!(page(Some("")), Some((0, 10)));
        assert_eq!(page(Some("offset=128&limit=128")), Some((128, 128)));
        assert_eq!(page(Some("limit=1&other=x")), Some((0, 1)));
        for bad in [
            "limit=0",
            "limit=129",
            "limit=-1",
            "limit=abc",
            "limit=",
            "offset=-1",
            "offset=1.5",
            "offset=x",
        ] {
            assert_eq!(page(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn window_math() {
        assert_eq!(window(0, 128, 300), 0..128);
        assert_eq!(window(256, 128, 300), 256..300);
        assert_eq!(window(300, 128, 300), 300..300);
        assert_eq!(window(u64::MAX, 128, 300), 300..300);
        assert_eq!(window(0, 10, 0), 0..0);
    }

    #[test]
    fn targets_are_deterministic_and_mixed() {
        let id = "1f5c9fd6cd984056ba89c8c87cc03278in09";
        assert_eq!(target(1, id, 5), target(1, id, 5));
        let all: Vec<Value> = (0..300).map(|j| target(1, id, j)).collect();
        let available = all.iter().filter(|t| t["available"] == true).count();
        assert!(available > 150 && available < 290, "{available}");
        for t in &all {
            let tid = t["instance_id"].as_str().unwrap();
            assert_eq!(tid.len(), 36);
            assert!(tid.ends_with("in09"));
            assert!(tid[..32].bytes().all(|c| c.is_ascii_hexdigit()));
            assert_eq!(
                t["available"] == true,
                t.get("unavailable_reason").is_none()
            );
        }
        assert!(all.iter().any(|t| t["status"] == "abnormal"));
        assert!(all.iter().any(|t| t["status"] == "creating"));
    }
}
