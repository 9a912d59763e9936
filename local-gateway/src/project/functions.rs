//! The project's own functions: the very handlers the Lambda binaries in `functions/` run, in
//! this process or behind a Lambda Invoke API.

use crate::invoke::{InProcess, InvokeApi, LambdaFunction};
use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Body, Request, Response, Service, service_fn};
use lambda_runtime::LambdaEvent;
use std::future::Future;
use std::sync::Arc;
use ws_bridge::auth::TokenVerifier;
use ws_bridge::aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use ws_bridge::broadcasts::requests::AsyncBroadcasts;
use ws_bridge::handlers::presence::InProcessLeaves;
use ws_bridge::handlers::{
    authorizer, connect, connections_count, default_route, disconnect, handshakes, presence, stats,
};
use ws_bridge::presence::Presence;
use ws_bridge::webhooks::{NoWebhooks, WebhookSink};
use ws_bridge::{ChannelHistory, ConnectionStore, MessagePusher, PresenceStore, Settings};

/// The crates of `functions/`, by the name of their binary: the route functions, then
/// `webhook-dispatch` and `presence-leave`, which no route invokes (the gateway runs their code
/// as its webhooks and its delayed presence leaves).
pub(crate) const WS_CONNECT: &str = "ws-connect";
pub(crate) const WS_DISCONNECT: &str = "ws-disconnect";
pub(crate) const WS_DEFAULT: &str = "ws-default";
pub(crate) const WS_AUTHORIZER: &str = "ws-authorizer";
pub(crate) const HTTP_BROADCAST: &str = "http-broadcast";
pub(crate) const HTTP_CONNECTIONS_COUNT: &str = "http-connections-count";
pub(crate) const HTTP_STATS: &str = "http-stats";
pub(crate) const HTTP_HANDSHAKES: &str = "http-handshakes";
pub(crate) const HTTP_PRESENCE: &str = "http-presence";
pub(crate) const WEBHOOK_DISPATCH: &str = "webhook-dispatch";
pub(crate) const PRESENCE_LEAVE: &str = "presence-leave";
pub(crate) const BROADCAST_WORKER: &str = "broadcast-worker";
const NAMES: [&str; 12] = [
    WS_CONNECT,
    WS_DISCONNECT,
    WS_DEFAULT,
    WS_AUTHORIZER,
    HTTP_BROADCAST,
    HTTP_CONNECTIONS_COUNT,
    HTTP_STATS,
    HTTP_HANDSHAKES,
    HTTP_PRESENCE,
    WEBHOOK_DISPATCH,
    PRESENCE_LEAVE,
    BROADCAST_WORKER,
];

/// A binary of ours, as a template's `BuildProperties.Binary` names it: the gateway can run its
/// code itself.
pub(crate) fn runs_inside(binary: &str) -> Option<&'static str> {
    NAMES.into_iter().find(|name| *name == binary)
}

/// The delivery routes' function: its body is one WebSocket message (see [`crate::routing::HttpRoute`]).
pub(crate) fn delivers_body(binary: &str) -> bool {
    binary == HTTP_BROADCAST
}

/// The eight request functions of `functions/`, run in-process (`webhook-dispatch` is not a
/// route's function: the gateway runs its code itself, see `crate::webhooks`).
#[derive(Clone)]
pub struct ProjectFunctions {
    pub ws_connect: Arc<dyn LambdaFunction>,
    pub ws_disconnect: Arc<dyn LambdaFunction>,
    pub ws_default: Arc<dyn LambdaFunction>,
    pub ws_authorizer: Arc<dyn LambdaFunction>,
    pub http_broadcast: Arc<dyn LambdaFunction>,
    pub http_connections_count: Arc<dyn LambdaFunction>,
    pub http_stats: Arc<dyn LambdaFunction>,
    pub http_handshakes: Arc<dyn LambdaFunction>,
    pub http_presence: Arc<dyn LambdaFunction>,
}

impl ProjectFunctions {
    fn all(&self) -> [&Arc<dyn LambdaFunction>; 9] {
        [
            &self.ws_connect,
            &self.ws_disconnect,
            &self.ws_default,
            &self.ws_authorizer,
            &self.http_broadcast,
            &self.http_connections_count,
            &self.http_stats,
            &self.http_handshakes,
            &self.http_presence,
        ]
    }

    /// A function by its crate name, e.g. `ws-default`.
    pub fn by_name(&self, name: &str) -> Option<Arc<dyn LambdaFunction>> {
        self.all().into_iter().find(|f| f.name() == name).cloned()
    }

    pub fn names(&self) -> Vec<&str> {
        self.all().into_iter().map(|f| f.name()).collect()
    }
}

/// The project's functions behind a Lambda Invoke API, by their crate names.
pub fn invoked_functions(endpoint: &str) -> ProjectFunctions {
    let client = reqwest::Client::new();
    let function = |name: &str| InvokeApi::shared(endpoint, name, client.clone());
    ProjectFunctions {
        ws_connect: function(WS_CONNECT),
        ws_disconnect: function(WS_DISCONNECT),
        ws_default: function(WS_DEFAULT),
        ws_authorizer: function(WS_AUTHORIZER),
        http_broadcast: function(HTTP_BROADCAST),
        http_connections_count: function(HTTP_CONNECTIONS_COUNT),
        http_stats: function(HTTP_STATS),
        http_handshakes: function(HTTP_HANDSHAKES),
        http_presence: function(HTTP_PRESENCE),
    }
}

/// Builds the project's functions over `store` and `pusher`. With a `verifier`, `ws-connect`
/// and `ws-authorizer` check tokens as the deployed functions do with `JWT_*` set. No channel
/// history and no webhooks.
pub fn project_functions(
    store: Arc<dyn ConnectionStore>,
    pusher: Arc<dyn MessagePusher>,
    settings: Settings,
    verifier: Option<Arc<TokenVerifier>>,
) -> ProjectFunctions {
    project_functions_with(
        store,
        pusher,
        settings,
        verifier,
        Optional {
            history: None,
            presence: None,
            webhooks: Arc::new(NoWebhooks),
            jobs: None,
        },
    )
}

/// What the functions use beyond the connection store, each there when its setting is on: the
/// channel history, presence, the webhooks (a sink that drops them when off) and the
/// asynchronous broadcasts' queue.
pub(crate) struct Optional {
    pub history: Option<Arc<dyn ChannelHistory>>,
    pub presence: Option<Arc<dyn PresenceStore>>,
    pub webhooks: Arc<dyn WebhookSink>,
    pub jobs: Option<Arc<AsyncBroadcasts>>,
}

/// [`project_functions`] with what the settings turn on (see [`Optional`]): the channel history
/// `ws-default` and `http-broadcast` use for the channels `settings.history` names, presence,
/// the webhooks that `$disconnect`, the delivery routes and `/stats` report to, and the
/// asynchronous broadcasts' queue.
pub(crate) fn project_functions_with(
    store: Arc<dyn ConnectionStore>,
    pusher: Arc<dyn MessagePusher>,
    settings: Settings,
    verifier: Option<Arc<TokenVerifier>>,
    optional: Optional,
) -> ProjectFunctions {
    let Optional {
        history,
        presence,
        webhooks,
        jobs,
    } = optional;
    // Pending leaves wait in this process, then run the check presence-leave runs on AWS.
    let presence = presence.map(|presence| Presence {
        store: Arc::clone(&presence),
        leaves: Arc::new(InProcessLeaves::new(
            presence,
            Arc::clone(&store),
            Arc::clone(&pusher),
            settings.clone(),
            Arc::clone(&webhooks),
        )),
        webhooks: Arc::clone(&webhooks),
    });
    let ws_connect = {
        let (store, settings, verifier) = (Arc::clone(&store), settings.clone(), verifier.clone());
        InProcess::shared(
            WS_CONNECT,
            move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
                let (store, settings, verifier) =
                    (Arc::clone(&store), settings.clone(), verifier.clone());
                async move {
                    connect::handle(
                        store.as_ref(),
                        &settings,
                        verifier.as_deref(),
                        event.payload,
                    )
                    .await
                }
            },
        )
    };
    let ws_authorizer = {
        let store = Arc::clone(&store);
        InProcess::shared(
            WS_AUTHORIZER,
            move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| {
                let (verifier, store) = (verifier.clone(), Arc::clone(&store));
                async move {
                    match verifier {
                        Some(verifier) => {
                            authorizer::handle(&verifier, Some(store.as_ref()), event.payload).await
                        }
                        None => Err(ws_bridge::Error::Config(
                            "ws-authorizer needs JWT_SECRET, JWT_JWKS_URL or JWT_JWKS_FILE".into(),
                        )),
                    }
                }
            },
        )
    };
    let ws_disconnect = {
        let (store, webhooks, presence, settings) = (
            Arc::clone(&store),
            Arc::clone(&webhooks),
            presence.clone(),
            settings.clone(),
        );
        InProcess::shared(
            WS_DISCONNECT,
            move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
                let (store, webhooks, presence, settings) = (
                    Arc::clone(&store),
                    Arc::clone(&webhooks),
                    presence.clone(),
                    settings.clone(),
                );
                async move {
                    disconnect::handle(
                        store.as_ref(),
                        webhooks.as_ref(),
                        presence.as_ref().map(|presence| (presence, &settings)),
                        event.payload,
                    )
                    .await
                }
            },
        )
    };
    let ws_default = {
        let (store, history, presence, pusher, settings) = (
            Arc::clone(&store),
            history.clone(),
            presence.clone(),
            Arc::clone(&pusher),
            settings.clone(),
        );
        InProcess::shared(
            WS_DEFAULT,
            move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
                let (store, history, presence, pusher, settings) = (
                    Arc::clone(&store),
                    history.clone(),
                    presence.clone(),
                    Arc::clone(&pusher),
                    settings.clone(),
                );
                async move {
                    default_route::handle(
                        store.as_ref(),
                        history.as_deref(),
                        presence.as_ref(),
                        pusher.as_ref(),
                        &settings,
                        event.payload,
                    )
                    .await
                }
            },
        )
    };
    let http_broadcast = {
        let (store, settings, webhooks) =
            (Arc::clone(&store), settings.clone(), Arc::clone(&webhooks));
        http_function(HTTP_BROADCAST, move |request: Request| {
            let (store, history, pusher, settings, webhooks, jobs) = (
                Arc::clone(&store),
                history.clone(),
                Arc::clone(&pusher),
                settings.clone(),
                Arc::clone(&webhooks),
                jobs.clone(),
            );
            async move {
                ws_bridge::broadcasts::requests::handle(
                    store.as_ref(),
                    history.as_deref(),
                    pusher.as_ref(),
                    &settings,
                    webhooks.as_ref(),
                    jobs.as_deref(),
                    request,
                )
                .await
            }
        })
    };
    let http_count = {
        let (store, settings) = (Arc::clone(&store), settings.clone());
        http_function(HTTP_CONNECTIONS_COUNT, move |request: Request| {
            let (store, settings) = (Arc::clone(&store), settings.clone());
            async move { connections_count::handle(store.as_ref(), &settings, request).await }
        })
    };
    let http_handshakes = {
        let store = Arc::clone(&store);
        http_function(HTTP_HANDSHAKES, move |request: Request| {
            let store = Arc::clone(&store);
            async move { handshakes::handle(store.as_ref(), request).await }
        })
    };
    let http_presence = {
        let (presence, settings) = (
            presence
                .as_ref()
                .map(|presence| Arc::clone(&presence.store)),
            settings.clone(),
        );
        http_function(HTTP_PRESENCE, move |request: Request| {
            let (presence, settings) = (presence.clone(), settings.clone());
            async move { presence::handle_members_route(presence.as_deref(), &settings, request).await }
        })
    };
    let http_stats = http_function(HTTP_STATS, move |request: Request| {
        let (store, settings, webhooks) =
            (Arc::clone(&store), settings.clone(), Arc::clone(&webhooks));
        async move { stats::handle(store.as_ref(), &settings, webhooks.as_ref(), request).await }
    });

    ProjectFunctions {
        ws_connect,
        ws_disconnect,
        ws_default,
        ws_authorizer,
        http_broadcast,
        http_connections_count: http_count,
        http_stats,
        http_handshakes,
        http_presence,
    }
}

/// An HTTP API function as `lambda_http::run` runs it: the event is read as lambda_http's
/// `LambdaRequest` and goes through lambda_http's own adapter, in and out.
fn http_function<F, Fut>(name: &str, handler: F) -> Arc<dyn LambdaFunction>
where
    F: Fn(Request) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, ws_bridge::Error>> + Send + 'static,
{
    InProcess::shared(name, move |event: LambdaEvent<LambdaRequest>| {
        let mut adapter = Adapter::from(service_fn(handler.clone()));
        adapter.call(event)
    })
}
