//! The project's route table: what `template.yaml` declares, served by the project's functions.

use super::ProjectFunctions;
use crate::invoke::LambdaFunction;
use crate::routing::{HttpRoute, Route, RouteTable};
use std::sync::Arc;

impl ProjectFunctions {
    /// The backend's HTTP API, as `template.yaml` declares it.
    pub fn http_routes(&self) -> Vec<HttpRoute> {
        let route =
            |method: http::Method, path: &str, function: &Arc<dyn LambdaFunction>| HttpRoute {
                method,
                path: path.into(),
                function: Arc::clone(function),
                delivers_body: false,
            };
        let delivery = |path: &str| HttpRoute {
            delivers_body: true,
            ..route(http::Method::POST, path, &self.http_broadcast)
        };
        vec![
            delivery("/broadcast"),
            delivery("/broadcast/{channel}"),
            delivery("/users/{userId}"),
            delivery("/connections/{connectionId}"),
            route(
                http::Method::GET,
                "/connections/count",
                &self.http_connections_count,
            ),
            route(http::Method::GET, "/stats", &self.http_stats),
            route(
                http::Method::GET,
                "/broadcasts/{broadcastId}",
                &self.http_broadcast,
            ),
            route(
                http::Method::GET,
                "/handshakes/{attemptId}",
                &self.http_handshakes,
            ),
            route(
                http::Method::GET,
                "/channels/{channel}/presence",
                &self.http_presence,
            ),
        ]
    }

    /// The default route table: `$connect`, `$disconnect`, `$default` (two-way: it answers
    /// through the route response), and the HTTP routes.
    pub fn default_routes(&self) -> RouteTable {
        RouteTable {
            connect: Some(Route::one_way(Arc::clone(&self.ws_connect))),
            disconnect: Some(Route::one_way(Arc::clone(&self.ws_disconnect))),
            default: Some(Route::two_way(Arc::clone(&self.ws_default))),
            custom: Default::default(),
            authorizer: None,
            http: self.http_routes(),
            selection: Default::default(),
            functions: Default::default(),
        }
    }
}
