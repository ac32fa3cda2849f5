//! Fault knobs: which operation misbehaves, how, for how many calls, and with how much extra
//! latency. Owns the fault names used by the control routes and `--fault`; the operations they
//! name are the ones the simulated services declare with their routes (`super::routes`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::sync::lock;
use crate::transport::Operation;

/// A name that is not one of the known operations or fault kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?}; expected one of: {expected}")]
pub struct ParseNameError {
    /// What was being named (`operation`, `fault kind`).
    what: &'static str,
    /// The name given.
    name: String,
    /// Every known name, comma-separated.
    expected: String,
}

impl ParseNameError {
    /// The one of `all` that `as_str` spells `name`, or the error listing them all.
    pub(crate) fn find<T: Copy>(
        what: &'static str,
        all: &[T],
        as_str: fn(&T) -> &'static str,
        name: &str,
    ) -> Result<T, Self> {
        all.iter()
            .find(|x| as_str(x) == name)
            .copied()
            .ok_or_else(|| ParseNameError {
                what,
                name: name.to_string(),
                expected: all.iter().map(as_str).collect::<Vec<_>>().join(", "),
            })
    }
}

/// Every operation the simulator serves: IAM's and each declared service's, by name.
#[derive(Clone, Debug)]
pub(crate) struct Operations(BTreeMap<&'static str, &'static Operation>);

impl Operations {
    /// The declared operations, by name.
    pub(crate) fn new(ops: BTreeMap<&'static str, &'static Operation>) -> Self {
        Operations(ops)
    }
}

impl Operations {
    /// The declared operation named `name`, or the error listing every declared name.
    pub(crate) fn find(&self, name: &str) -> Result<&'static Operation, ParseNameError> {
        let all: Vec<&'static Operation> = self.0.values().copied().collect();
        ParseNameError::find("operation", &all, |op| op.name, name)
    }

    /// Every declared name, sorted.
    pub(crate) fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.keys().copied()
    }
}

/// How a faulted call misbehaves. Each is named by the real-world failure it models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 500 with the service's own error body.
    ServerError,
    /// 429 `APIG.0308` with `Retry-After`.
    Throttled,
    /// 401 `APIGW.0301` token expired (IAM: 401 in the IAM error shape).
    TokenExpired,
    /// The service's "valid request, but no" error: KooPhone 200 + `KOOPHONE.API.9999`,
    /// DCS 400 `111400001`, DDM 400 `DBS.280001`, IAM 400.
    ApiError,
    /// 200 with a body that is not JSON.
    Malformed,
    /// 200 with the real JSON body cut in half.
    Truncated,
    /// 200 with an empty body.
    Empty,
    /// 200 with valid JSON whose fields have the wrong types.
    WrongTypes,
    /// 200 with a ~50 MB body.
    Huge,
    /// Never answers (an hour, or until the simulator shuts down).
    Hang,
    /// Batch status: some phones report status 42. Other operations: no effect.
    UnknownStatus,
    /// DCS: a never-seen `hibernating_count` and engine `valkey`. Other operations: no effect.
    NewState,
    /// Batch status: the first requested phone is missing from `status_results`.
    MissingPhone,
    /// 307 to the fault's `location` (plus the call's path and query): a hostile or
    /// misconfigured endpoint sending the caller, and its credentials, to another host.
    Redirect,
    /// DDM: `total` says 100,000 whatever the rows. Other operations: no effect.
    TotalLies,
    /// DDM: each page repeats its first row (the repeat replaces the last row of a full page),
    /// and a page past the first starts one row early, as an insertion between calls shifts
    /// it. Batch status: every row twice. Other operations: no effect.
    DuplicateRows,
    /// Batch status: rows also for phones not asked (a few ids nobody asked about).
    UnaskedIds,
    /// IAM: the token's `expires_at` is 1970-01-01 (a nonsense expiry or a skewed clock).
    ExpiredTokenIssued,
    /// DCS: 5,000 extra `<state>_count` fields, top level and in `redis`.
    ManyFields,
    /// DCS: `_count` fields and an engine whose names are no sane label value (quotes, a
    /// newline, non-ASCII, 300 characters).
    InsaneFieldNames,
    /// Batch status: some rows' `status` is 9223372036854775808, the string "3" or 2.5.
    StatusOutOfRange,
    /// KooPhone: the request is rejected as the pages list it: HTTP 400 with
    /// `KOOPHONE.API.1000` (task query: `.1323`, the task does not exist).
    RequestRejected,
    /// KooPhone: the same rejection inside HTTP 200, the form the simulator served before it
    /// followed the pages.
    #[serde(rename = "errors_in_200")]
    ErrorsIn200,
    /// Async command: the first two phones get the same `job_id`. Task query: every job is
    /// listed twice under its id, the copy saying it failed. Other operations: no effect.
    DuplicateJobIds,
    /// The service's error (as `api_error`), its message carrying markup, control characters
    /// and a forged log line and sample: a hostile or compromised peer.
    HostileMessage,
    /// Listings: a page past the first answers no rows though more remain.
    EmptyPage,
    /// Listings: a page answers half the rows asked (at least one) though more remain; the
    /// next page starts where a full page would have ended, so the rest of it is lost.
    ShortPage,
    /// Listings: the total (`total_count`, `total`, `instance_num`) says far more than there are.
    ListTotalLies,
    /// Listings: every page past the first starts one row early (repeating the previous
    /// page's last row), as an insertion between calls shifts them.
    RowsRepeated,
    /// Batch status: a call asking for any of the fault's `ids` answers HTTP 200 with
    /// `KOOPHONE.API.1001` (no permission on those phones), the whole batch failing; calls
    /// without them answer normally. Other operations: no effect.
    ForbiddenIds,
    /// Batch status: a call asking for any of the fault's `ids` is rejected with HTTP 400
    /// `KOOPHONE.API.1000`, as for phones released (unknown ids are a bad parameter).
    ReleasedIds,
    /// [`FaultKind::ReleasedIds`] in the other reading of the pages: `KOOPHONE.API.1000`
    /// inside HTTP 200.
    #[serde(rename = "released_ids_in_200")]
    ReleasedIdsIn200,
    /// IAM: the token it issues is revoked at once, at any age (a password rotation or a policy
    /// change racing the request): every service refuses it with 401 `APIGW.0301`. With
    /// `times`, only that many tokens are; the next one is good.
    RevokedTokenIssued,
    /// The service's error (as `api_error`) with a 100 kB `x-request-id` header of text that
    /// is no id (quotes, `=`, markup, spaces): a gateway or proxy echoing anything as the id.
    HugeRequestId,
    /// Every name in the answer (any string field whose key ends in `name`, and
    /// `unavailable_reason`) carries NUL, ESC, CR, LF, DEL and C1 characters and a forged log
    /// line: a broken or hostile peer's instance, target and VPC names.
    ControlCharactersInNames,
    /// Listings: every page, the first included, answers success with no rows and no total
    /// (KooPhone `{"data":{"result":[],…,"error_code":"0"}}` without `total_count`; DCS and
    /// DDM `{"instances":[]}` without `instance_num`), as a backend that lost its index, or a
    /// gateway serving a stale empty answer, does for a call or two.
    EmptyListing,
    /// Listings: the listing holds only the first quarter of the rows (rounded down, so none of
    /// 3) and its total says exactly that many, first page included: a self-consistent answer
    /// from a backend whose index is partly rebuilt (for 3 DDM instances: no rows and
    /// `instance_num: 0`).
    ShortListing,
}

impl FaultKind {
    pub const ALL: [FaultKind; 37] = [
        FaultKind::ServerError,
        FaultKind::Throttled,
        FaultKind::TokenExpired,
        FaultKind::ApiError,
        FaultKind::Malformed,
        FaultKind::Truncated,
        FaultKind::Empty,
        FaultKind::WrongTypes,
        FaultKind::Huge,
        FaultKind::Hang,
        FaultKind::UnknownStatus,
        FaultKind::NewState,
        FaultKind::MissingPhone,
        FaultKind::Redirect,
        FaultKind::TotalLies,
        FaultKind::DuplicateRows,
        FaultKind::UnaskedIds,
        FaultKind::ExpiredTokenIssued,
        FaultKind::ManyFields,
        FaultKind::InsaneFieldNames,
        FaultKind::StatusOutOfRange,
        FaultKind::RequestRejected,
        FaultKind::ErrorsIn200,
        FaultKind::DuplicateJobIds,
        FaultKind::HostileMessage,
        FaultKind::EmptyPage,
        FaultKind::ShortPage,
        FaultKind::ListTotalLies,
        FaultKind::RowsRepeated,
        FaultKind::ForbiddenIds,
        FaultKind::ReleasedIds,
        FaultKind::ReleasedIdsIn200,
        FaultKind::RevokedTokenIssued,
        FaultKind::HugeRequestId,
        FaultKind::ControlCharactersInNames,
        FaultKind::EmptyListing,
        FaultKind::ShortListing,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            FaultKind::ServerError => "server_error",
            FaultKind::Throttled => "throttled",
            FaultKind::TokenExpired => "token_expired",
            FaultKind::ApiError => "api_error",
            FaultKind::Malformed => "malformed",
            FaultKind::Truncated => "truncated",
            FaultKind::Empty => "empty",
            FaultKind::WrongTypes => "wrong_types",
            FaultKind::Huge => "huge",
            FaultKind::Hang => "hang",
            FaultKind::UnknownStatus => "unknown_status",
            FaultKind::NewState => "new_state",
            FaultKind::MissingPhone => "missing_phone",
            FaultKind::Redirect => "redirect",
            FaultKind::TotalLies => "total_lies",
            FaultKind::DuplicateRows => "duplicate_rows",
            FaultKind::UnaskedIds => "unasked_ids",
            FaultKind::ExpiredTokenIssued => "expired_token_issued",
            FaultKind::ManyFields => "many_fields",
            FaultKind::InsaneFieldNames => "insane_field_names",
            FaultKind::StatusOutOfRange => "status_out_of_range",
            FaultKind::RequestRejected => "request_rejected",
            FaultKind::ErrorsIn200 => "errors_in_200",
            FaultKind::DuplicateJobIds => "duplicate_job_ids",
            FaultKind::HostileMessage => "hostile_message",
            FaultKind::EmptyPage => "empty_page",
            FaultKind::ShortPage => "short_page",
            FaultKind::ListTotalLies => "list_total_lies",
            FaultKind::RowsRepeated => "rows_repeated",
            FaultKind::ForbiddenIds => "forbidden_ids",
            FaultKind::ReleasedIds => "released_ids",
            FaultKind::ReleasedIdsIn200 => "released_ids_in_200",
            FaultKind::RevokedTokenIssued => "revoked_token_issued",
            FaultKind::HugeRequestId => "huge_request_id",
            FaultKind::ControlCharactersInNames => "control_characters_in_names",
            FaultKind::EmptyListing => "empty_listing",
            FaultKind::ShortListing => "short_listing",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FaultKind {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ParseNameError::find("fault kind", &FaultKind::ALL, FaultKind::as_str, s)
    }
}

/// One operation's fault. JSON: `{"kind":"server_error","times":2,"latency_ms":100,"retry_after_secs":1}`,
/// or `{"kind":"redirect","location":"http://127.0.0.1:9"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// What goes wrong; `None` adds only latency.
    #[serde(default)]
    pub kind: Option<FaultKind>,
    /// Extra latency for this operation, on top of the simulator-wide latency.
    #[serde(
        default,
        rename = "latency_ms",
        serialize_with = "ser_ms",
        deserialize_with = "de_ms"
    )]
    pub latency: Option<Duration>,
    /// Apply to the next N calls, then clear; `None` keeps it until cleared.
    #[serde(default)]
    pub times: Option<u32>,
    /// `Retry-After` for [`FaultKind::Throttled`]; 1 when unset.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// Where [`FaultKind::Redirect`] sends the caller (a base URL; the call's path and query
    /// are appended); `http://127.0.0.1:9` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The phones [`FaultKind::ForbiddenIds`] and [`FaultKind::ReleasedIds`] are about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
}

fn ser_ms<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        None => s.serialize_none(),
    }
}

fn de_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
}

/// Parses `OP=KIND[:TIMES]`, the `--fault` flag. `OP` is checked against the declared
/// operations when the simulator starts (they are known only then).
pub fn parse_fault_arg(s: &str) -> Result<(String, FaultSpec), String> {
    let (op, rest) = s.split_once('=').ok_or_else(|| {
        format!("{s:?}: expected OP=KIND[:TIMES], e.g. dcs_status=server_error:2")
    })?;
    let op = op.trim().to_string();
    if op.is_empty() {
        return Err(format!(
            "{s:?}: OP is empty, e.g. dcs_status=server_error:2"
        ));
    }
    let (kind, times) = match rest.split_once(':') {
        Some((kind, times)) => {
            let times: u32 = times
                .trim()
                .parse()
                .map_err(|_| format!("{s:?}: TIMES {times:?} is not a non-negative integer"))?;
            (kind, Some(times))
        }
        None => (rest, None),
    };
    let kind: FaultKind = kind.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
    Ok((
        op,
        FaultSpec {
            kind: Some(kind),
            times,
            ..FaultSpec::default()
        },
    ))
}

/// The live fault settings, shared by every request and the control routes.
#[derive(Default)]
pub(crate) struct FaultTable {
    /// The fault of each operation that has one, by operation name.
    slots: Mutex<HashMap<&'static str, FaultSpec>>,
}

impl FaultTable {
    /// Sets (replaces) an operation's fault; `times: Some(0)` clears it.
    pub(crate) fn set(&self, op: &'static str, spec: FaultSpec) {
        let mut slots = lock(&self.slots);
        if spec.times == Some(0) {
            slots.remove(&op);
        } else {
            slots.insert(op, spec);
        }
    }

    pub(crate) fn clear(&self) {
        lock(&self.slots).clear();
    }

    pub(crate) fn clear_op(&self, op: &str) {
        lock(&self.slots).remove(op);
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<&'static str, FaultSpec> {
        lock(&self.slots)
            .iter()
            .map(|(op, spec)| (*op, spec.clone()))
            .collect()
    }

    /// Takes the fault for one call, counting `times` down. A call that failed authentication
    /// consumes only a `token_expired` fault (which replaces the auth check); any other fault
    /// waits for a call that gets past auth.
    pub(crate) fn take(&self, op: &str, authenticated: bool) -> Option<FaultSpec> {
        let mut slots = lock(&self.slots);
        let spec = slots.get_mut(op)?;
        if !authenticated && spec.kind != Some(FaultKind::TokenExpired) {
            return None;
        }
        let taken = spec.clone();
        if let Some(times) = spec.times.as_mut() {
            *times = times.saturating_sub(1);
            if *times == 0 {
                slots.remove(op);
            }
        }
        Some(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in FaultKind::ALL {
            assert_eq!(kind.as_str().parse::<FaultKind>(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert!("nope".parse::<FaultKind>().is_err());
    }

    #[test]
    fn spec_json_uses_latency_ms() {
        let spec: FaultSpec = serde_json::from_str(
            r#"{"kind":"server_error","times":2,"latency_ms":100,"retry_after_secs":1}"#,
        )
        .unwrap();
        assert_eq!(
            spec,
            FaultSpec {
                kind: Some(FaultKind::ServerError),
                latency: Some(Duration::from_millis(100)),
                times: Some(2),
                retry_after_secs: Some(1),
                location: None,
                ids: None,
            }
        );
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back["latency_ms"], 100);
        assert!(serde_json::from_str::<FaultSpec>(r#"{"kind":"nope"}"#).is_err());
        assert!(serde_json::from_str::<FaultSpec>(r#"{"latency":5}"#).is_err());
    }

    #[test]
    fn fault_arg() {
        let (op, spec) = parse_fault_arg("dcs_status=throttled:3").unwrap();
        assert_eq!(op, "dcs_status");
        assert_eq!(spec.kind, Some(FaultKind::Throttled));
        assert_eq!(spec.times, Some(3));
        let (op, spec) = parse_fault_arg("koophone_task=hang").unwrap();
        assert_eq!(op, "koophone_task");
        assert_eq!(spec.times, None);
        assert!(parse_fault_arg("dcs_status").is_err());
        assert!(parse_fault_arg("=hang").is_err());
        assert!(parse_fault_arg("dcs_status=nope").is_err());
        assert!(parse_fault_arg("dcs_status=hang:x").is_err());
    }

    #[test]
    fn times_counts_down_and_clears() {
        let table = FaultTable::default();
        table.set(
            "dcs_status",
            FaultSpec {
                kind: Some(FaultKind::ServerError),
                times: Some(2),
                ..FaultSpec::default()
            },
        );
        assert!(table.take("dcs_status", false).is_none());
        assert!(table.take("dcs_status", true).is_some());
        assert!(table.take("dcs_status", true).is_some());
        assert!(table.take("dcs_status", true).is_none());
        assert!(table.snapshot().is_empty());
    }
}
