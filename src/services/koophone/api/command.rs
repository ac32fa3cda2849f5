//! The probe's two calls: async command (`POST /v1/instances/async-command`, which runs a
//! command on phones and returns a task) and task query (`GET /v1/instances/tasks/{task_id}`,
//! each phone's job in it): their payloads and the calls.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::call::{operation, parse_answer, CallResult};
use crate::transport::{BodyError, CloudClient, Operation, Permission};

/// `POST /v1/instances/async-command`: runs a command, so never retried.
pub static ASYNC_COMMAND: Operation = operation(
    "koophone_async_command",
    false,
    Permission {
        action: "koophone:cloudphoneResource:asyncInvokeInstance",
        api: "POST /v1/instances/async-command",
        used_by: "probes: running the command (**Write**)",
    },
);
/// `GET /v1/instances/tasks/{task_id}`.
pub static TASK: Operation = operation(
    "koophone_task",
    true,
    Permission {
        action: "koophone:cloudphoneResource:queryExecuteJob",
        api: "GET /v1/instances/tasks/{task_id}",
        used_by: "probes: polling the command's task (Read)",
    },
);

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

/// One job's state. Its `Option` fields decode as `None` when missing or null.
#[derive(Debug, Deserialize, PartialEq, Clone)]
pub struct JobDetail {
    /// Job id.
    pub job_id: String,
    /// 1 running, 2 successful, -1 failed.
    pub status: i64,
    /// Job error code ("" when none).
    pub error_code: Option<String>,
    /// Job error text.
    pub error_msg: Option<String>,
    /// Command output (≤ 1,024 bytes), null when none.
    pub execute_msg: Option<String>,
}

/// The async-command request body.
#[derive(Serialize)]
struct CommandBody<'a> {
    /// The command, from the module's config.
    command: &'a str,
    /// The phones it runs on.
    instance_ids: &'a [String],
}

/// Decodes an async-command body.
pub fn parse_command(body: &[u8]) -> Result<CommandInfo, BodyError> {
    parse_answer(body)
}

/// Decodes a task body.
pub fn parse_task(body: &[u8]) -> Result<Vec<JobDetail>, BodyError> {
    parse_answer::<JobDetailWrapper>(body).map(|d| d.jobs)
}

impl CloudClient {
    /// Starts `command` on up to 100 phones; also returns the answer's request id.
    pub async fn koophone_command(
        &self,
        command: &str,
        ids: &[String],
        deadline: Instant,
    ) -> CallResult<CommandInfo> {
        let body = serde_json::to_vec(&CommandBody {
            command,
            instance_ids: ids,
        })
        .unwrap_or_default();
        self.koophone_call(
            &ASYNC_COMMAND,
            Method::POST,
            "/v1/instances/async-command".into(),
            Some(body),
            deadline,
            parse_command,
        )
        .await
    }

    /// Jobs of a task; also returns the answer's request id.
    pub async fn koophone_task(
        &self,
        task_id: &str,
        deadline: Instant,
    ) -> CallResult<Vec<JobDetail>> {
        let path = format!(
            "/v1/instances/tasks/{}",
            crate::transport::encode_component(task_id)
        );
        self.koophone_call(&TASK, Method::GET, path, None, deadline, parse_task)
            .await
    }
}
