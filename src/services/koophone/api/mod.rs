//! KooPhone's calls and models: batch status, async command and task query, and the phone
//! listing. Success is `error_code == "0"` inside HTTP 200 (checked by the transport); these are
//! the `data` payloads.
//!
//! One file per call family: `call` (what every call shares: the operation's shape, the answer's
//! envelope, the call itself), `status` (batch status), `command` (async command and task query,
//! for the probe), `list` (the listing, for discovery).

mod call;
mod command;
mod list;
mod status;
#[cfg(test)]
mod tests;

pub use call::{parse_answer, CallResult, MAX_IDS_PER_CALL};
pub use command::{
    parse_command, parse_task, CmdJob, CommandInfo, JobDetail, JobDetailWrapper, ASYNC_COMMAND,
    TASK,
};
pub use list::{
    parse_list, phone_id, ListFilter, Phone, PhoneListPage, DISCOVERY, LIST, LIST_PAGE_SIZE,
    LIST_WINDOW,
};
pub use status::{
    parse_status, StatusResult, StatusResultWrapper, StatusValue, BATCH_STATUS,
    MAX_RAW_STATUS_CHARS,
};
