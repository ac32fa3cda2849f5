//! IAM: `POST /v3/auth/tokens` (Keystone password method, project scope) and the store of
//! issued tokens that every other service's auth check consults.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{json_response, Call, FaultKind, Inner, Operation, Reply};

/// Revoked or expired tokens are remembered this long (to answer "token expired"), then forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

pub(crate) enum TokenCheck {
    Valid,
    Expired,
    Unknown,
}

/// IAM-issued tokens and when each stops being valid.
pub(crate) struct TokenStore {
    ttl: Duration,
    expiry: Mutex<HashMap<String, Instant>>,
}

impl TokenStore {
    pub(crate) fn new(ttl: Duration) -> Self {
        TokenStore {
            ttl,
            expiry: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        self.expiry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every token issued and not yet forgotten (tests search logs for them).
    pub(crate) fn issued(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// A new token, live for the configured ttl. Real tokens are long opaque strings; so are these.
    pub(crate) fn issue(&self) -> String {
        let random: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(380)
            .map(char::from)
            .collect();
        let token = format!("MIIE{random}");
        let now = Instant::now();
        let mut expiry = self.lock();
        expiry.retain(|_, until| until.checked_add(FORGET_AFTER).is_none_or(|t| t > now));
        // A ttl too long to represent means "never" in practice: about a century.
        let until = now
            .checked_add(self.ttl)
            .unwrap_or(now + Duration::from_secs(100 * 365 * 86_400));
        expiry.insert(token.clone(), until);
        token
    }

    pub(crate) fn check(&self, token: &str) -> TokenCheck {
        match self.lock().get(token) {
            Some(until) if Instant::now() < *until => TokenCheck::Valid,
            Some(_) => TokenCheck::Expired,
            None => TokenCheck::Unknown,
        }
    }

    /// Every issued token stops working now.
    pub(crate) fn revoke_all(&self) {
        let now = Instant::now();
        for until in self.lock().values_mut() {
            *until = (*until).min(now);
        }
    }
}

/// IAM's own error shape: `{"error":{"code","message","title"}}`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, &error_body(status, message))
}

fn error_body(status: StatusCode, message: &str) -> Value {
    json!({
        "error": {
            "code": status.as_u16(),
            "message": message,
            "title": status.canonical_reason().unwrap_or("Error"),
        }
    })
}

pub(crate) async fn tokens(State(inner): State<Arc<Inner>>, call: Call) -> Response {
    inner
        .serve(Operation::IamToken, &call, |inner, fault| {
            issue(inner, &call.body, fault)
        })
        .await
}

/// The credentials of a password-method request, or why the body is not one.
struct PasswordAuth<'a> {
    domain: &'a str,
    user: &'a str,
    password: &'a str,
    project_id: Option<&'a str>,
}

fn parse(body: &Value) -> Result<PasswordAuth<'_>, &'static str> {
    let auth = body
        .get("auth")
        .ok_or("Expecting to find auth in request body.")?;
    let identity = auth
        .get("identity")
        .ok_or("Expecting to find identity in auth.")?;
    let methods = identity
        .get("methods")
        .and_then(Value::as_array)
        .ok_or("Expecting to find methods in identity.")?;
    if !methods.iter().any(|m| m.as_str() == Some("password")) {
        return Err("Only the password method is supported.");
    }
    let user = identity
        .pointer("/password/user")
        .ok_or("Expecting to find user in password.")?;
    Ok(PasswordAuth {
        user: str_at(user, "/name", "Expecting to find name in user.")?,
        password: str_at(user, "/password", "Expecting to find password in user.")?,
        domain: str_at(
            user,
            "/domain/name",
            "Expecting to find domain name in user.",
        )?,
        project_id: auth.pointer("/scope/project/id").and_then(Value::as_str),
    })
}

fn str_at<'a>(v: &'a Value, path: &str, why: &'static str) -> Result<&'a str, &'static str> {
    v.pointer(path).and_then(Value::as_str).ok_or(why)
}

fn issue(inner: &Inner, body: &[u8], fault: Option<FaultKind>) -> Reply {
    let bad = |msg: &str| {
        Reply::new(
            StatusCode::BAD_REQUEST,
            error_body(StatusCode::BAD_REQUEST, msg),
        )
    };
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return bad("The request body is not valid JSON.");
    };
    let creds = match parse(&value) {
        Ok(creds) => creds,
        Err(why) => return bad(why),
    };
    let known =
        inner.config.users.iter().any(|u| {
            u.domain == creds.domain && u.user == creds.user && u.password == creds.password
        });
    if !known {
        return Reply::new(
            StatusCode::UNAUTHORIZED,
            error_body(
                StatusCode::UNAUTHORIZED,
                "The username or password is wrong.",
            ),
        );
    }
    let Some(project_id) = creds.project_id else {
        return bad("Expecting to find scope.project.id in auth: the simulator issues project-scoped tokens only.");
    };
    if project_id != inner.config.project_id {
        return Reply::new(
            StatusCode::UNAUTHORIZED,
            error_body(
                StatusCode::UNAUTHORIZED,
                "The request you have made requires authentication.",
            ),
        );
    }
    let token = inner.tokens.issue();
    let issued = SystemTime::now();
    let expires = if fault == Some(FaultKind::ExpiredTokenIssued) {
        // The token itself is live; only the expiry it is reported with is nonsense.
        SystemTime::UNIX_EPOCH
    } else {
        issued
            .checked_add(inner.config.token_ttl)
            .unwrap_or(issued + Duration::from_secs(100 * 365 * 86_400))
    };
    let mut reply = Reply::new(
        StatusCode::CREATED,
        json!({
            "token": {
                "expires_at": humantime::format_rfc3339_micros(expires).to_string(),
                "issued_at": humantime::format_rfc3339_micros(issued).to_string(),
                "methods": ["password"],
                "project": {
                    "id": project_id,
                    "name": "ap-southeast-1",
                    "domain": {"name": creds.domain, "id": domain_id(creds.domain)},
                },
                "user": {
                    "name": creds.user,
                    "id": domain_id(creds.user),
                    "domain": {"name": creds.domain, "id": domain_id(creds.domain)},
                    "password_expires_at": "",
                },
                "roles": [{"name": "readonly", "id": "0"}],
                "catalog": [],
            }
        }),
    );
    if let Ok(value) = HeaderValue::from_str(&token) {
        reply
            .headers
            .push((HeaderName::from_static("x-subject-token"), value));
    }
    reply
}

/// A stable 32-hex id for a name.
fn domain_id(name: &str) -> String {
    let h = super::fleet::hash_str(name);
    format!("{:016x}{:016x}", h, super::fleet::mix(h))
}
