//! The simulator's router: IAM's routes, the routes of every service it is handed, and the
//! `/_sim/` control routes, with the gateway's answers for unknown paths and methods and its
//! `X-Request-Id` on every response.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;

use super::faults::Operations;
use super::routes::Simulated;
use super::state::{gateway_error, hex_id, json_response, GatewayError, SimState};
use super::{control, iam};

/// IAM's routes and those of `services`, merged, with the operations they declare. Two routes
/// declaring one operation name is a bad registry: the error names it.
pub(super) fn declared(
    services: &[&Simulated],
) -> Result<(Router<Arc<SimState>>, Operations), String> {
    let mut router = Router::new();
    let mut ops = BTreeMap::new();
    for routes in std::iter::once(iam::routes()).chain(services.iter().map(|s| (s.routes)())) {
        for op in routes.operations {
            if ops.insert(op.name, op).is_some() {
                return Err(format!(
                    "operation {:?} is declared by two simulated routes",
                    op.name
                ));
            }
        }
        router = router.merge(routes.router);
    }
    Ok((router, Operations::new(ops)))
}

/// The declared routes and the control routes on one router sharing `state`.
pub(super) fn router(declared: Router<Arc<SimState>>, state: Arc<SimState>) -> Router {
    declared
        .merge(control::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(axum::middleware::from_fn(request_id))
        .with_state(state)
}

/// Every response carries `X-Request-Id`: KooPhone echoes the caller's, the others mint one.
/// A gateway error's body gets the same id as its `request_id`.
async fn request_id(req: Request, next: Next) -> Response {
    let echo = if req.uri().path().starts_with("/v1/") {
        req.headers().get("x-request-id").cloned()
    } else {
        None
    };
    let mut resp = next.run(req).await;
    if !resp.headers().contains_key("x-request-id") {
        let id = echo.or_else(|| HeaderValue::from_str(&hex_id()).ok());
        if let Some(id) = id {
            resp.headers_mut().insert("x-request-id", id);
        }
    }
    if let Some(error) = resp.extensions_mut().remove::<GatewayError>() {
        let id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let (parts, _) = resp.into_parts();
        let body = json_response(parts.status, &error.body(&id)).into_body();
        resp = Response::from_parts(parts, body);
        resp.headers_mut()
            .remove(axum::http::header::CONTENT_LENGTH);
    }
    resp
}

/// What the API gateway says about an API it does not have: a path it does not know, or a
/// known path with another method (the gateway routes by both, so it is 404 too, not 405).
async fn not_found() -> Response {
    gateway_error(
        StatusCode::NOT_FOUND,
        "APIGW.0101",
        "The API does not exist or has not been published in the environment",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_declared_twice_is_refused() {
        static IAM_AGAIN: Simulated = Simulated {
            routes: iam::routes,
        };
        let err = declared(&[&IAM_AGAIN]).err();
        assert_eq!(
            err.as_deref(),
            Some("operation \"iam_token\" is declared by two simulated routes")
        );
        let (_, ops) = declared(&[]).unwrap();
        assert_eq!(ops.names().collect::<Vec<_>>(), ["iam_token"]);
    }
}
