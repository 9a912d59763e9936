//! An HTTP client for the AWS SDK that hands each request to the gateway's own router instead of
//! a socket. The in-process handlers still push through the real SDK — it serialises, signs,
//! sends to `@connections` and classifies the answer exactly as against AWS — but a broadcast to
//! many connections no longer pays a loopback TCP round trip per message.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use axum::Router;
use bytes::Bytes;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

/// Sends SDK requests into a router that is set once the gateway is built.
#[derive(Clone, Default)]
pub struct InProcessHttpClient {
    router: Arc<OnceLock<Router>>,
}

impl std::fmt::Debug for InProcessHttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InProcessHttpClient")
    }
}

impl InProcessHttpClient {
    /// Connects the client to the gateway's router; only the first call has an effect.
    pub fn connect(&self, router: Router) {
        let _ = self.router.set(router);
    }

    /// Hands `request` to the gateway's router as it is (the inspector's calls to the HTTP API
    /// go this way); `None` before the gateway has started.
    pub(crate) async fn call(
        &self,
        request: axum::extract::Request,
    ) -> Option<axum::response::Response> {
        let router = self.router.get().cloned()?;
        match router.oneshot(request).await {
            Ok(response) => Some(response),
            Err(never) => match never {},
        }
    }

    async fn send(
        router: Router,
        request: HttpRequest,
    ) -> Result<aws_smithy_runtime_api::http::Response<SdkBody>, ConnectorError> {
        let request = request
            .try_into_http1x()
            .map_err(|err| ConnectorError::other(err.into(), None))?;
        let (parts, body) = request.into_parts();
        // PostToConnection bodies are in memory; a streaming body would have no bytes here.
        let body = Bytes::copy_from_slice(body.bytes().unwrap_or_default());
        let request = http::Request::from_parts(parts, axum::body::Body::from(body));
        let response = match router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|err| ConnectorError::io(err.into()))?;
        aws_smithy_runtime_api::http::Response::try_from(http::Response::from_parts(
            parts,
            SdkBody::from(body),
        ))
        .map_err(|err| ConnectorError::other(err.into(), None))
    }
}

impl HttpConnector for InProcessHttpClient {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let router = self.router.get().cloned();
        HttpConnectorFuture::new(async move {
            let router = router.ok_or_else(|| {
                ConnectorError::other("the gateway has not started yet".into(), None)
            })?;
            Self::send(router, request).await
        })
    }
}

impl HttpClient for InProcessHttpClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}
