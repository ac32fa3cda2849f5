//! How a simulated service joins the simulator: it declares its routes, each with the
//! operation it serves ([`Routes`]), and the top level hands the simulator the list of them
//! ([`Simulated`], `crate::services::SIMULATED`). Nothing in `sim` names a service. The router
//! mounts IAM's route, every declared route and the `/_sim/` control routes, with the gateway's
//! answers for unknown paths and methods and its `X-Request-Id` on every response.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::MethodFilter;
use axum::Router;

use super::faults::ParseNameError;
use super::pipeline::{endpoint, Ctx, SimService};
use super::state::{gateway_error, hex_id, json_response, GatewayError, SimReply, SimState};
use super::{control, iam};
use crate::transport::Operation;

/// One simulated service, as its folder declares it and the registry lists it.
pub struct Simulated {
    /// Its routes, each declaring the operation it serves.
    pub(crate) routes: fn() -> Routes,
}

impl Simulated {
    /// The operations its routes serve, in declaration order.
    pub fn operations(&self) -> Vec<&'static Operation> {
        (self.routes)().operations
    }
}

/// Routes of one simulated service and the operations they serve, declared together: an
/// operation has faults and a call counter because a route serves it, never otherwise.
pub struct Routes {
    /// The routes.
    router: Router<Arc<SimState>>,
    /// The operation of each route, in declaration order.
    operations: Vec<&'static Operation>,
}

impl Routes {
    pub(crate) fn new() -> Self {
        Routes {
            router: Router::new(),
            operations: Vec::new(),
        }
    }

    /// Adds the route `method path` serving `op` (the client's own [`Operation`], so client
    /// and simulator name a call alike), answered by `answer` through the call pipeline.
    pub(crate) fn route<S, E, A>(
        mut self,
        path: &str,
        method: MethodFilter,
        service: S,
        op: &'static Operation,
        answer: A,
    ) -> Self
    where
        S: SimService,
        E: FromRequestParts<Arc<SimState>> + Send + 'static,
        A: Fn(Ctx<'_>, E) -> SimReply + Clone + Send + Sync + 'static,
    {
        self.router = self
            .router
            .route(path, endpoint(method, service, op, answer));
        self.operations.push(op);
        self
    }
}

/// Every operation the simulator serves: IAM's and each declared service's, by name.
#[derive(Clone, Debug)]
pub(crate) struct Operations(BTreeMap<&'static str, &'static Operation>);

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
    Ok((router, Operations(ops)))
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
