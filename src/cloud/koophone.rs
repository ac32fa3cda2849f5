//! KooPhone: batch status, async command and task query. Success is `error_code == "0"` inside
//! HTTP 200 (checked by the transport); these are the `data` payloads.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{ApiError, CloudClient, Operation, Request};

/// Most instance ids one call accepts.
pub const MAX_IDS_PER_CALL: usize = 100;

/// `POST /v1/instances/batch-query-status`.
pub static BATCH_STATUS: Operation = Operation {
    service: "koophone",
    name: "koophone_batch_status",
    idempotent: true,
    koophone: true,
};
/// `POST /v1/instances/async-command`: runs a command, so never retried.
pub static ASYNC_COMMAND: Operation = Operation {
    service: "koophone",
    name: "koophone_async_command",
    idempotent: false,
    koophone: true,
};
/// `GET /v1/instances/tasks/{task_id}`.
pub static TASK: Operation = Operation {
    service: "koophone",
    name: "koophone_task",
    idempotent: true,
    koophone: true,
};

/// `{"data": T, "error_code": "0", ...}`.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    /// The payload.
    pub data: T,
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
    /// Status code (see the page's response table).
    pub status: i64,
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
pub fn parse_status(body: &[u8]) -> Result<Vec<StatusResult>, String> {
    super::decode_json::<Envelope<StatusResultWrapper>>(body).map(|e| e.data.status_results)
}

/// Decodes an async-command body.
pub fn parse_command(body: &[u8]) -> Result<CommandInfo, String> {
    super::decode_json::<Envelope<CommandInfo>>(body).map(|e| e.data)
}

/// Decodes a task body.
pub fn parse_task(body: &[u8]) -> Result<Vec<JobDetail>, String> {
    super::decode_json::<Envelope<JobDetailWrapper>>(body).map(|e| e.data.jobs)
}

impl CloudClient {
    /// Status of up to 100 phones.
    pub async fn koophone_status(
        &self,
        ids: &[String],
        deadline: Instant,
    ) -> Result<Vec<StatusResult>, ApiError> {
        let req = Request {
            op: &BATCH_STATUS,
            method: Method::POST,
            base: self.endpoints.koophone.clone(),
            path: "/v1/instances/batch-query-status".into(),
            query: Vec::new(),
            body: Some(serde_json::to_vec(&IdsBody { instance_ids: ids }).unwrap_or_default()),
        };
        self.call(&req, deadline, parse_status).await
    }

    /// Starts `command` on up to 100 phones.
    pub async fn koophone_command(
        &self,
        command: &str,
        ids: &[String],
        deadline: Instant,
    ) -> Result<CommandInfo, ApiError> {
        let req = Request {
            op: &ASYNC_COMMAND,
            method: Method::POST,
            base: self.endpoints.koophone.clone(),
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
        self.call(&req, deadline, parse_command).await
    }

    /// Jobs of a task.
    pub async fn koophone_task(
        &self,
        task_id: &str,
        deadline: Instant,
    ) -> Result<Vec<JobDetail>, ApiError> {
        let req = Request {
            op: &TASK,
            method: Method::GET,
            base: self.endpoints.koophone.clone(),
            path: format!("/v1/instances/tasks/{}", super::encode_component(task_id)),
            query: Vec::new(),
            body: None,
        };
        self.call(&req, deadline, parse_task).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_page_examples() {
        let s = parse_status(br#"{"data":{"status_results":[{"instance_id":"a44uhlf7","status":0}]},"error_code":"0","error_msg":"ok"}"#).unwrap();
        assert_eq!(
            s,
            vec![StatusResult {
                instance_id: "a44uhlf7".into(),
                status: 0
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
    fn wrong_types_name_the_field() {
        let e = parse_status(
            br#"{"data":{"status_results":[{"instance_id":"a","status":"3"}]},"error_code":"0"}"#,
        )
        .unwrap_err();
        assert!(
            e.starts_with("at data.status_results[0].status: invalid type: string"),
            "{e}"
        );
        let e = parse_status(br#"{"error_code":"0"}"#).unwrap_err();
        assert!(e.contains("missing field `data`"), "{e}");
    }
}
