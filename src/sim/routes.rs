//! How a simulated service joins the simulator: it declares its routes, each with the
//! operation it serves ([`Routes`]), and the top level hands the simulator the list of them
//! ([`Simulated`], `crate::services::SIMULATED`). Nothing in `sim` names a service.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::routing::MethodFilter;
use axum::Router;

use super::pipeline::{endpoint, Ctx, SimService};
use super::state::{SimReply, SimState};
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
    pub(super) router: Router<Arc<SimState>>,
    /// The operation of each route, in declaration order.
    pub(super) operations: Vec<&'static Operation>,
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
