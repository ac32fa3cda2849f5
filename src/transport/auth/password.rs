//! The IAM password-flow token request: the body it sends, and what is read from the answer
//! (the token from `X-Subject-Token`, its expiry from the body). When to ask is the token
//! provider's business ([`super::token`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::time::Instant;

use crate::transport::body::decode_json;
use crate::transport::http::Transport;
use crate::transport::request::{Operation, Reply, Request};
use crate::upstream::ApiError;

/// The IAM token operation.
pub static IAM_TOKEN: Operation = Operation {
    service: "iam",
    name: "iam_token",
    idempotent: false,
    sends_request_id: false,
    budget: None,
    // Getting a token of one's own needs no permission.
    iam: None,
};

/// How long IAM tokens live (DESIGN.md), assumed when an answer does not say.
const DOCUMENTED_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// What a password-flow token request needs; shared with the spawned request.
pub(super) struct Password {
    /// `cloud` label, for log lines.
    pub(super) cloud: String,
    /// Where the request goes out (counted and timed like every call).
    pub(super) transport: Arc<Transport>,
    /// IAM base URL, without a trailing `/`.
    pub(super) iam: String,
    /// The account (domain) name.
    pub(super) domain: String,
    /// The IAM user name.
    pub(super) user: String,
    /// The user's password.
    pub(super) password: SecretString,
    /// The project the token is scoped to.
    pub(super) project_id: String,
}

/// A token request's answer: the token, its believed expiry, the answer's request id.
pub(super) type TokenFetch = Result<(SecretString, Option<SystemTime>, Option<String>), ApiError>;

/// IAM's token answer body (the token itself is in `X-Subject-Token`).
#[derive(Deserialize)]
struct TokenBody {
    /// `token`.
    token: TokenInfo,
}

/// The part of `token` that is read.
#[derive(Deserialize)]
struct TokenInfo {
    /// RFC 3339.
    #[serde(default)]
    expires_at: Option<String>,
}

impl Password {
    pub(super) async fn fetch(&self, deadline: Instant) -> TokenFetch {
        let Password {
            transport,
            iam,
            domain,
            user,
            password,
            project_id,
            ..
        } = self;
        let body = serde_json::json!({
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": user,
                            "password": password.expose_secret(),
                            "domain": { "name": domain }
                        }
                    }
                },
                "scope": { "project": { "id": project_id } }
            }
        });
        let req = Request {
            op: &IAM_TOKEN,
            method: Method::POST,
            base: iam.clone(),
            path: "/v3/auth/tokens".into(),
            query: Vec::new(),
            body: Some(serde_json::to_vec(&body).unwrap_or_default()),
        };
        let url = format!("{iam}/v3/auth/tokens");
        let reply = transport
            .execute(&req, &url, HeaderMap::new(), deadline)
            .await?;
        let decoded = self.decode(&reply);
        transport
            .record_decoded(&IAM_TOKEN, decoded)
            .map(|(t, e)| (t, e, reply.request_id.clone()))
    }

    /// The token (from `X-Subject-Token`) and its expiry (from the body).
    fn decode(&self, reply: &Reply) -> Result<(SecretString, Option<SystemTime>), ApiError> {
        let token = reply
            .headers
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_string()))
            .ok_or_else(|| {
                ApiError::decode(
                    IAM_TOKEN.name,
                    reply,
                    "answer has no X-Subject-Token header",
                )
            })?;
        let expiry =
            parse_expiry(&reply.body).map_err(|m| ApiError::decode(IAM_TOKEN.name, reply, m))?;
        let expires_at = match expiry {
            Ok(t) => t,
            Err(why) => {
                tracing::warn!(cloud = %self.cloud, problem = %why, "assuming the documented 24h token lifetime");
                SystemTime::now() + DOCUMENTED_LIFETIME
            }
        };
        Ok((token, Some(expires_at)))
    }
}

/// Reads `token.expires_at` from an IAM token body: `Err` when the body does not decode,
/// `Ok(Err(why))` when it decodes but carries no usable expiry, `Ok(Ok(t))` otherwise.
pub fn parse_expiry(body: &[u8]) -> Result<Result<SystemTime, String>, String> {
    let info: TokenBody = decode_json(body)?;
    Ok(match info.token.expires_at.as_deref() {
        None => Err("token.expires_at is missing".into()),
        Some(s) => humantime::parse_rfc3339_weak(s)
            .map_err(|e| format!("token.expires_at is not RFC 3339 ({e})")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_in_the_past_still_parses() {
        let t = parse_expiry(br#"{"token":{"expires_at":"1970-01-01T00:00:00.000000Z"}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(t, SystemTime::UNIX_EPOCH);
    }
}
