//! IAM: `POST /v3/auth/tokens` (Keystone password method, project scope), issuing the tokens
//! that every other service's auth check accepts ([`super::tokens`]).

use std::time::{Duration, SystemTime};

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::faults::FaultKind;
use super::fleet::{hash_str, mix};
use super::pipeline::{SimService, POST};
use super::routes::Routes;
use super::state::{json_response, SimReply, SimState};
use crate::transport::auth::IAM_TOKEN;

/// IAM's own error shape: `{"error":{"code","message","title"}}`.
fn error(status: StatusCode, message: &str) -> Response {
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

/// IAM as the pipeline sees it: no credentials asked, its own error shape.
#[derive(Clone, Copy)]
pub(super) struct Iam;

impl SimService for Iam {
    const AUTHENTICATED: bool = false;
    const SERVER_ERROR: (&'static str, &'static str) = (
        "",
        "An unexpected error prevented the server from fulfilling your request.",
    );
    const API_ERROR: (StatusCode, &'static str, &'static str) =
        (StatusCode::BAD_REQUEST, "", "The request body is invalid.");

    /// IAM's shape has no code: `error.code` is the HTTP status.
    fn error(&self, status: StatusCode, _code: &str, msg: &str) -> Response {
        error(status, msg)
    }

    fn token_expired(&self) -> Response {
        error(
            StatusCode::UNAUTHORIZED,
            "The request you have made requires authentication.",
        )
    }
}

/// `POST /v3/auth/tokens`.
pub(super) fn routes() -> Routes {
    Routes::new().route("/v3/auth/tokens", POST, Iam, &IAM_TOKEN, |cx, ()| {
        issue(cx.sim, &cx.call.body, cx.fault)
    })
}

/// The credentials of a password-method request, or why the body is not one.
struct PasswordAuth<'a> {
    /// Account (domain) name.
    domain: &'a str,
    /// IAM user name.
    user: &'a str,
    /// The user's password.
    password: &'a str,
    /// The project the token is to be scoped to, if the request names one.
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

fn issue(sim: &SimState, body: &[u8], fault: Option<FaultKind>) -> SimReply {
    let bad = |msg: &str| {
        SimReply::new(
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
        sim.config.users.iter().any(|u| {
            u.domain == creds.domain && u.user == creds.user && u.password == creds.password
        });
    if !known {
        return SimReply::new(
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
    if project_id != sim.config.project_id {
        return SimReply::new(
            StatusCode::UNAUTHORIZED,
            error_body(
                StatusCode::UNAUTHORIZED,
                "The request you have made requires authentication.",
            ),
        );
    }
    let token = sim.tokens.issue();
    if fault == Some(FaultKind::RevokedTokenIssued) {
        sim.tokens.revoke(&token);
    }
    let issued = SystemTime::now();
    let expires = if fault == Some(FaultKind::ExpiredTokenIssued) {
        // The token itself is live; only the expiry it is reported with is nonsense.
        SystemTime::UNIX_EPOCH
    } else {
        issued
            .checked_add(sim.config.token_ttl)
            .unwrap_or(issued + Duration::from_secs(100 * 365 * 86_400))
    };
    let mut reply = SimReply::new(
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
    let h = hash_str(name);
    format!("{:016x}{:016x}", h, mix(h))
}
