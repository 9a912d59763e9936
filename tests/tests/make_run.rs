//! The gateway started exactly as `make run` starts it (`infra/run.args`: ws-bridge's template,
//! its functions in-process), with what a user adds on top: each setting the README offers
//! reaches the functions, whether given as a flag (or its variable) or as a template parameter,
//! and what the template path cannot honour is refused by name.

use local_gateway::{GatewayConfig, GatewayError};
use serde_json::Value;
use std::time::Duration;
use ws_bridge_e2e::tokens::{Signer, claims};
use ws_bridge_e2e::webhook_receiver::{Behaviour, Receiver, SECRET};
use ws_bridge_e2e::{Client, api_token, post_json, run_config};

const ARRIVES: Duration = Duration::from_secs(15);

async fn start(config: GatewayConfig) -> local_gateway::RunningGateway {
    local_gateway::start(config).await.expect("gateway starts")
}

async fn refused(config: GatewayConfig) -> String {
    match local_gateway::start(config).await {
        Ok(_) => panic!("started, expected a refusal"),
        Err(err) => err.to_string(),
    }
}

/// A subscriber to `post:1` and the message a channel broadcast brings it.
async fn channel_message(gateway: &local_gateway::RunningGateway) -> (Value, Value) {
    let mut client = Client::connect(format!("{}?channels=post:1", gateway.websocket_url())).await;
    client.hello().await;
    let (status, report) = post_json(gateway, "/broadcast/post:1", r#"{"text":"hi"}"#).await;
    assert_eq!(status, 200, "{report}");
    (report, client.recv_json().await)
}

#[tokio::test]
async fn history_channels_given_as_a_flag_number_the_templates_channel_messages() {
    // `HISTORY_CHANNELS='post:*' make run`: clap reads the variable as --history-channels.
    let mut config = run_config();
    config.history_channels = Some("post:*".parse().unwrap());
    let gateway = start(config).await;
    let (report, message) = channel_message(&gateway).await;
    assert_eq!(report["seq"], 1, "{report}");
    assert_eq!(message["type"], "message", "{message}");
    assert_eq!(message["seq"], 1, "{message}");
    assert_eq!(message["data"]["text"], "hi", "{message}");
}

#[tokio::test]
async fn history_channels_given_as_a_template_parameter_number_channel_messages() {
    let mut config = run_config();
    config
        .parameter_overrides
        .push("HistoryChannels=post:*".into());
    let gateway = start(config).await;
    let (report, message) = channel_message(&gateway).await;
    assert_eq!(report["seq"], 1, "{report}");
    assert_eq!(message["seq"], 1, "{message}");
    assert!(
        gateway
            .summary()
            .iter()
            .any(|(what, line)| *what == "History" && line.starts_with("numbered")),
        "{:?}",
        gateway.summary()
    );
}

#[tokio::test]
async fn without_history_a_channel_message_is_delivered_as_sent() {
    let gateway = start(run_config()).await;
    let (report, message) = channel_message(&gateway).await;
    assert!(report.get("seq").is_none(), "{report}");
    assert_eq!(message, serde_json::json!({"text": "hi"}));
}

#[tokio::test]
async fn the_templates_api_token_is_required_of_a_backend() {
    let gateway = start(run_config()).await;
    let url = format!("{}/broadcast", gateway.http_url());
    let bare = reqwest::Client::new()
        .post(&url)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    let wrong = reqwest::Client::new()
        .post(&url)
        .bearer_auth("not-the-token")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = reqwest::Client::new()
        .post(&url)
        .bearer_auth(api_token())
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert!(
        gateway
            .summary()
            .iter()
            .any(|(what, line)| *what == "HTTP API" && line.contains("Bearer")),
        "{:?}",
        gateway.summary()
    );
}

#[tokio::test]
async fn an_api_token_given_to_the_gateway_replaces_the_templates() {
    let mut config = run_config();
    config.api_token = Some("given-to-the-gateway".into());
    let gateway = start(config).await;
    let url = format!("{}/connections/count", gateway.http_url());
    let templates = reqwest::Client::new()
        .get(&url)
        .bearer_auth(api_token())
        .send()
        .await
        .unwrap();
    assert_eq!(templates.status(), 401);
    let given = reqwest::Client::new()
        .get(&url)
        .bearer_auth("given-to-the-gateway")
        .send()
        .await
        .unwrap();
    assert_eq!(given.status(), 200);
}

#[tokio::test]
async fn webhooks_given_as_flags_are_sent_signed() {
    // `make run GATEWAY_ARGS="--webhook-url … --webhook-secret …"`.
    let receiver = Receiver::start(Behaviour::Accept).await;
    let mut config = run_config();
    config.webhook_url = Some(receiver.url());
    config.webhook_secret = Some(SECRET.parse().unwrap());
    let gateway = start(config).await;
    let mut client = Client::connect(format!("{}?clientId=tab-1", gateway.websocket_url())).await;
    let id = client.connection_id().await;
    receiver
        .event("client.connected", ARRIVES, |e| {
            e["data"]["connectionId"] == id
        })
        .await;
    let signed = receiver
        .requests()
        .into_iter()
        .any(|request| request.verifies_with(SECRET, &request.body));
    assert!(signed, "every webhook is signed with the secret given");
}

#[tokio::test]
async fn webhooks_given_as_template_parameters_are_sent_signed() {
    let receiver = Receiver::start(Behaviour::Accept).await;
    let mut config = run_config();
    config.parameter_overrides.extend([
        format!("WebhookUrl={}", receiver.url()),
        format!("WebhookSecret={SECRET}"),
    ]);
    let gateway = start(config).await;
    let (status, _) = post_json(&gateway, "/broadcast", r#"{"n":1}"#).await;
    assert_eq!(status, 200);
    let event = receiver.event("message.broadcast", ARRIVES, |_| true).await;
    assert!(
        receiver
            .requests()
            .iter()
            .all(|request| request.verifies_with(SECRET, &request.body)),
        "{event}"
    );
}

#[tokio::test]
async fn use_authorizer_with_the_template_is_refused_with_what_to_use_instead() {
    let mut config = run_config();
    config.use_authorizer = true;
    let message = refused(config).await;
    assert!(message.starts_with("--use-authorizer:"), "{message}");
    assert!(message.contains("AuthMode=authorizer"), "{message}");
}

#[tokio::test]
async fn the_templates_authorizer_mode_checks_tokens_at_the_handshake() {
    let (signer, secret) = Signer::hs256();
    let mut config = run_config();
    config.parameter_overrides.extend([
        "AuthMode=authorizer".to_owned(),
        format!("JwtSecret={secret}"),
    ]);
    let gateway = start(config).await;
    let refused = Client::try_connect(format!("{}?token=forged", gateway.websocket_url())).await;
    assert_eq!(refused.err(), Some(401));
    let token = signer.sign(&claims("ada", serde_json::json!({})));
    let mut client = Client::connect(format!("{}?token={token}", gateway.websocket_url())).await;
    client.hello().await;
}

#[tokio::test]
async fn a_route_file_with_the_template_is_refused_by_name() {
    let mut config = run_config();
    config.routes = Some("routes.json".into());
    let message = refused(config).await;
    assert!(message.starts_with("--routes:"), "{message}");
}

#[tokio::test]
async fn a_handler_setting_that_no_function_can_receive_is_refused_by_name() {
    let mut config = GatewayConfig::on_free_port();
    config.invoke_endpoint = Some("http://127.0.0.1:9".into());
    config.history_channels = Some("post:*".parse().unwrap());
    match local_gateway::start(config).await {
        Err(GatewayError::Unsupported { flag, reason }) => {
            assert_eq!(flag, "--history-channels");
            assert!(reason.contains("--invoke-endpoint"), "{reason}");
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("started, expected a refusal"),
    }
}

#[tokio::test]
async fn presence_with_the_functions_as_processes_is_refused_by_name() {
    let mut config = run_config();
    config.processes = true;
    config
        .parameter_overrides
        .push("PresenceChannels=room:*".to_owned());
    let message = refused(config).await;
    assert!(message.starts_with("PresenceChannels:"), "{message}");
    assert!(message.contains("in-process"), "{message}");
}
