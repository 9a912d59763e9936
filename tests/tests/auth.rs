//! Authenticated connections end to end: JWTs on `$connect` (HS256, RS256 and ES256 with a
//! JWKS), channel permissions, the per-user connection limit under concurrency and the message
//! rate limit, on the in-memory store and on DynamoDB Local. Keys and tokens are made by the
//! tests (`ws_bridge_e2e::tokens`).

use axum::routing::get;
use futures::StreamExt;
use local_gateway::StoreKind;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use ws_bridge::Settings;
use ws_bridge::auth::{JwksSource, TokenVerifier, VerifierConfig};
use ws_bridge::settings::MessageRate;
use ws_bridge_e2e::tokens::{Signer, claims, jwks, now};
use ws_bridge_e2e::{
    Client, config_on, eventually, fresh_store, get_json, on_every_store, post_json, refused_status,
};

const AUDIENCE: &str = "ws-bridge-tests";
const ISSUER: &str = "https://issuer.example";

/// A gateway running the project's functions with token checks in `$connect`.
async fn gateway_checking_tokens(
    kind: StoreKind,
    verifier: VerifierConfig,
    settings: Settings,
) -> local_gateway::RunningGateway {
    let verifier = Arc::new(TokenVerifier::new(verifier).await.expect("verifier"));
    let store = fresh_store(kind).await;
    local_gateway::start_with(config_on(kind), move |endpoint| {
        let functions = local_gateway::project_functions(
            Arc::clone(&store),
            Arc::new(endpoint.pusher()),
            settings,
            Some(verifier),
        );
        Ok((store, functions.default_routes()))
    })
    .await
    .expect("gateway starts")
}

fn hs256_config(secret: &str) -> VerifierConfig {
    VerifierConfig {
        secret: Some(secret.to_owned()),
        audience: Some(AUDIENCE.into()),
        issuer: Some(ISSUER.into()),
        leeway_secs: 5,
        stored_claims: vec!["email".into()],
        ..VerifierConfig::default()
    }
}

fn valid(sub: &str, extra: Value) -> Value {
    let mut claims = claims(sub, json!({"aud": AUDIENCE, "iss": ISSUER}));
    if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        claims.extend(extra);
    }
    claims
}

fn with_token(gateway: &local_gateway::RunningGateway, token: &str) -> String {
    format!("{}?token={token}", gateway.websocket_url())
}

async fn count(gateway: &local_gateway::RunningGateway) -> u64 {
    get_json(gateway, "/connections/count").await.1["count"]
        .as_u64()
        .expect("a count")
}

async fn a_valid_token_connects_and_the_connection_carries_its_user_and_claims(kind: StoreKind) {
    let (signer, secret) = Signer::hs256();
    let gateway = gateway_checking_tokens(kind, hs256_config(&secret), Settings::default()).await;
    let token = signer.sign(&valid(
        "ada",
        json!({"email": "ada@example.com", "role": "x"}),
    ));

    let mut client =
        Client::connect(&format!("{}&clientId=tab-1", with_token(&gateway, &token))).await;

    let id = client.connection_id().await;
    let row = gateway.store().get(&id).await.unwrap().expect("stored");
    assert_eq!(row.user_id.as_deref(), Some("ada"));
    assert_eq!(
        row.claims,
        [("email".to_string(), "ada@example.com".to_string())].into(),
        "only the claims JWT_CLAIMS names"
    );
    assert_eq!(row.client_id(), Some("tab-1"));
    assert!(
        !row.query.contains_key("token"),
        "the token is never stored"
    );
    let (_, report) = post_json(&gateway, "/users/ada", r#"{"hi":"ada"}"#).await;
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(client.recv_text().await, r#"{"hi":"ada"}"#);

    // Non-browser clients may send the token as a bearer header instead.
    let mut request = gateway.websocket_url().into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", signer.sign(&valid("bob", json!({}))))
            .parse()
            .unwrap(),
    );
    let mut bob = Client::connect(request).await;
    let bob_id = bob.connection_id().await;
    let row = gateway.store().get(&bob_id).await.unwrap().unwrap();
    assert_eq!(row.user_id.as_deref(), Some("bob"));
}

async fn missing_expired_forged_and_misaddressed_tokens_are_401_and_store_nothing(kind: StoreKind) {
    let (signer, secret) = Signer::hs256();
    let (stranger, _) = Signer::hs256();
    let gateway = gateway_checking_tokens(kind, hs256_config(&secret), Settings::default()).await;
    let in_an_hour = now() + 3600;
    let refused = [
        ("missing", None),
        ("empty", Some(String::new())),
        ("garbage", Some("not.a.token".to_owned())),
        (
            "expired beyond the leeway",
            Some(signer.sign(&valid("ada", json!({"exp": now() - 60})))),
        ),
        (
            "not valid yet",
            Some(signer.sign(&valid("ada", json!({"nbf": now() + 600})))),
        ),
        (
            "wrong signature",
            Some(stranger.sign(&valid("ada", json!({})))),
        ),
        (
            "wrong audience",
            Some(signer.sign(&valid("ada", json!({"aud": "someone-else"})))),
        ),
        (
            "wrong issuer",
            Some(signer.sign(&valid("ada", json!({"iss": "https://evil.example"})))),
        ),
        (
            "no subject",
            Some(signer.sign(&json!({"exp": in_an_hour, "aud": AUDIENCE, "iss": ISSUER}))),
        ),
        (
            "unsigned (alg none)",
            Some(format!(
                "{}.{}.",
                base64_url(r#"{"alg":"none","typ":"JWT"}"#),
                base64_url(&valid("ada", json!({})).to_string())
            )),
        ),
    ];
    for (case, token) in refused {
        let url = match &token {
            None => gateway.websocket_url(),
            Some(token) => with_token(&gateway, token),
        };
        assert_eq!(refused_status(url.as_str()).await, 401, "{case}");
    }
    assert_eq!(count(&gateway).await, 0, "nothing was stored");

    // Within the leeway, an expired token still passes.
    let barely = signer.sign(&valid("ada", json!({"exp": now() - 2})));
    let _held = Client::connect(with_token(&gateway, &barely).as_str()).await;
    assert_eq!(count(&gateway).await, 1);
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

async fn rs256_and_es256_tokens_verify_against_a_jwks_file(kind: StoreKind) {
    let rsa = Signer::rs256("rsa-1");
    let ec = Signer::es256("ec-1");
    let path = std::env::temp_dir().join(format!("jwks-{:016x}.json", rand::random::<u64>()));
    std::fs::write(&path, jwks(&[&rsa, &ec]).to_string()).unwrap();
    let config = VerifierConfig {
        jwks: Some(JwksSource::File(path)),
        audience: Some(AUDIENCE.into()),
        leeway_secs: 5,
        ..VerifierConfig::default()
    };
    let gateway = gateway_checking_tokens(kind, config, Settings::default()).await;

    for (signer, user) in [(&rsa, "rsa-user"), (&ec, "ec-user")] {
        let token = signer.sign(&valid(user, json!({})));
        let mut client = Client::connect(with_token(&gateway, &token).as_str()).await;
        let id = client.connection_id().await;
        let row = gateway.store().get(&id).await.unwrap().unwrap();
        assert_eq!(row.user_id.as_deref(), Some(user));
    }
    // An HS256 token is refused outright when no secret is configured: a token cannot pick a
    // weaker check than the deployment's keys.
    let (hs, _) = Signer::hs256();
    let token = hs.sign(&valid("ada", json!({})));
    assert_eq!(
        refused_status(with_token(&gateway, &token).as_str()).await,
        401
    );
}

/// A JWKS endpoint on loopback that counts its fetches and can rotate its keys.
struct JwksServer {
    url: String,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(initial: Value) -> Self {
        let keys = Arc::new(Mutex::new(initial));
        let fetches = Arc::new(AtomicUsize::new(0));
        let app = {
            let (keys, fetches) = (Arc::clone(&keys), Arc::clone(&fetches));
            axum::Router::new().route(
                "/.well-known/jwks.json",
                get(move || {
                    let (keys, fetches) = (Arc::clone(&keys), Arc::clone(&fetches));
                    async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        axum::Json(keys.lock().unwrap().clone())
                    }
                }),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, keys, fetches }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_rotation_an_unknown_kid_triggers_exactly_one_refresh() {
    let old = Signer::rs256("2026-10");
    let new = Signer::es256("2026-11");
    let server = JwksServer::start(jwks(&[&old])).await;
    let config = VerifierConfig {
        jwks: Some(JwksSource::Url(server.url.clone())),
        leeway_secs: 5,
        ..VerifierConfig::default()
    };
    let gateway = gateway_checking_tokens(StoreKind::Memory, config, Settings::default()).await;
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        1,
        "loaded once at start"
    );
    let _ada =
        Client::connect(with_token(&gateway, &old.sign(&claims("ada", json!({})))).as_str()).await;
    assert_eq!(
        server.fetches.load(Ordering::SeqCst),
        1,
        "a known kid needs no fetch"
    );

    // The issuer rotates in a new key; the first token signed with it triggers one refresh.
    *server.keys.lock().unwrap() = jwks(&[&old, &new]);
    let _bob =
        Client::connect(with_token(&gateway, &new.sign(&claims("bob", json!({})))).as_str()).await;
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);

    // Made-up key ids do not turn into a fetch each.
    let unknown = Signer::es256("made-up");
    for _ in 0..3 {
        let token = unknown.sign(&claims("mallory", json!({})));
        assert_eq!(
            refused_status(with_token(&gateway, &token).as_str()).await,
            401
        );
    }
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
    assert_eq!(count(&gateway).await, 2);
}

async fn the_sixth_concurrent_connection_of_a_user_is_refused_with_429_while_five_hold(
    kind: StoreKind,
) {
    let (signer, secret) = Signer::hs256();
    let gateway = gateway_checking_tokens(kind, hs256_config(&secret), Settings::default()).await;
    let ada = with_token(&gateway, &signer.sign(&valid("ada", json!({}))));

    // Eight at once: never more than five get through, the rest are 429.
    let attempts: Vec<Result<Client, u16>> = futures::stream::iter(0..8)
        .map(|_| Client::try_connect(ada.as_str()))
        .buffer_unordered(8)
        .collect()
        .await;
    let (mut held, refused): (Vec<_>, Vec<_>) = attempts.into_iter().partition(Result::is_ok);
    assert!(
        (1..=5).contains(&held.len()),
        "{} of 8 concurrent connects held",
        held.len()
    );
    let statuses: Vec<u16> = refused.into_iter().filter_map(Result::err).collect();
    assert!(statuses.iter().all(|status| *status == 429), "{statuses:?}");
    // Fill up to five, one at a time; the sixth is refused while five hold.
    while held.len() < 5 {
        held.push(Client::try_connect(ada.as_str()).await);
    }
    assert_eq!(refused_status(ada.as_str()).await, 429);
    assert_eq!(count(&gateway).await, 5);
    // Another user is not affected; closing one of ada's connections frees a place.
    let bob = with_token(&gateway, &signer.sign(&valid("bob", json!({}))));
    let _bob = Client::connect(bob.as_str()).await;
    held.pop().unwrap().ok().unwrap().close(None).await;
    eventually("ada's slot is free again", || async {
        Client::try_connect(ada.as_str()).await.is_ok()
    })
    .await;
}

async fn channel_permissions_come_from_the_token_and_a_users_channel_is_theirs_alone(
    kind: StoreKind,
) {
    let (signer, secret) = Signer::hs256();
    let gateway = gateway_checking_tokens(kind, hs256_config(&secret), Settings::default()).await;
    let token = signer.sign(&valid("ada", json!({"channels": ["news", "post:*"]})));
    let mut ada = Client::connect(with_token(&gateway, &token).as_str()).await;

    for allowed in [&["news"][..], &["post:42", "user:ada"][..]] {
        let reply = ada
            .request(&json!({"action": "subscribe", "channels": allowed}).to_string())
            .await;
        assert_eq!(reply["type"], "subscribed", "{allowed:?}: {reply}");
    }
    for denied in ["sport", "user:bob", "postal"] {
        let reply = ada
            .request(&json!({"action": "subscribe", "channels": ["news", denied]}).to_string())
            .await;
        assert_eq!(reply["type"], "error", "{denied}");
        assert!(
            reply["data"]["error"].as_str().unwrap().contains(denied),
            "{reply}"
        );
    }
    let (_, count) = get_json(&gateway, "/connections/count?channel=sport").await;
    assert_eq!(count["count"], 0, "a refused subscribe changes nothing");

    // A token without a channels claim may join anything but someone else's user channel.
    let open = signer.sign(&valid("bob", json!({})));
    let mut bob = Client::connect(with_token(&gateway, &open).as_str()).await;
    let reply = bob
        .request(r#"{"action":"subscribe","channels":["sport","user:bob"]}"#)
        .await;
    assert_eq!(reply["type"], "subscribed", "{reply}");
    let reply = bob
        .request(r#"{"action":"subscribe","channels":["user:ada"]}"#)
        .await;
    assert_eq!(reply["type"], "error", "{reply}");

    // Connect-time channels are checked the same way, before anything is stored.
    let url = format!("{}&channels=news,sport", with_token(&gateway, &token));
    assert_eq!(refused_status(url.as_str()).await, 403);
    let (_, report) = post_json(&gateway, "/broadcast/user:ada", r#"{"for":"ada"}"#).await;
    assert_eq!(report["connectionCount"], 1);
    assert_eq!(ada.recv_text().await, r#"{"for":"ada"}"#);
}

async fn a_connection_over_its_message_rate_gets_errors_then_is_closed(kind: StoreKind) {
    let (signer, secret) = Signer::hs256();
    let settings = Settings {
        // An hour's window, so the test never straddles two windows.
        message_rate: Some(MessageRate {
            messages: 3,
            window_secs: 3600,
        }),
        ..Settings::default()
    };
    let gateway = gateway_checking_tokens(kind, hs256_config(&secret), settings).await;
    let token = signer.sign(&valid("ada", json!({})));
    let mut chatty = Client::connect(with_token(&gateway, &token).as_str()).await;
    let mut calm = Client::connect(with_token(&gateway, &token).as_str()).await;

    for _ in 0..3 {
        assert_eq!(chatty.request(r#"{"action":"ping"}"#).await["type"], "pong");
    }
    for _ in 0..3 {
        let refused = chatty.request(r#"{"action":"ping"}"#).await;
        assert_eq!(refused["type"], "error");
        assert!(
            refused["data"]["error"]
                .as_str()
                .unwrap()
                .contains("rate limit exceeded: at most 3 messages per 3600 s"),
            "{refused}"
        );
    }
    // Twice the limit: closed through DeleteConnection.
    chatty.send_text(r#"{"action":"ping"}"#).await;
    chatty.expect_close().await;
    eventually("the closed connection is forgotten", || async {
        count(&gateway).await == 1
    })
    .await;
    // The limit is per connection: the same user's other connection is unaffected.
    assert_eq!(calm.request(r#"{"action":"ping"}"#).await["type"], "pong");
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// What `GET /handshakes/{attemptId}` says about a handshake (always a 200, open to any origin).
async fn handshake_status(gateway: &local_gateway::RunningGateway, attempt: &str) -> Value {
    let response = ws_bridge_e2e::http()
        .get(format!("{}/handshakes/{attempt}", gateway.http_url()))
        .send()
        .await
        .expect("GET /handshakes");
    assert_eq!(response.status().as_u16(), 200, "{attempt}");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "*",
        "{attempt}"
    );
    response.json().await.expect("JSON")
}

async fn a_refused_handshake_is_told_by_its_attempt_id_without_a_bearer_token(kind: StoreKind) {
    let (signer, secret) = Signer::hs256();
    let settings = Settings {
        api_token: Some("backend-only-token".into()),
        max_connections_per_user: 1,
        ..Settings::default()
    };
    let gateway = gateway_checking_tokens(kind, hs256_config(&secret), settings).await;
    let attempt = |id: &str, token: Option<&str>| {
        let mut url = format!("{}?ws_bridge_attempt={id}", gateway.websocket_url());
        if let Some(token) = token {
            url.push_str(&format!("&token={token}"));
        }
        url
    };
    let ada = signer.sign(&valid("ada", json!({})));

    assert_eq!(
        refused_status(attempt("no-token-attempt-0001", None).as_str()).await,
        401
    );
    let _held = Client::connect(attempt("accepted-attempt-0001", Some(&ada)).as_str()).await;
    assert_eq!(
        refused_status(attempt("second-of-ada-0000001", Some(&ada)).as_str()).await,
        429
    );

    let told = handshake_status(&gateway, "no-token-attempt-0001").await;
    assert_eq!(
        told,
        json!({"attemptId": "no-token-attempt-0001", "status": 401})
    );
    assert_eq!(
        handshake_status(&gateway, "second-of-ada-0000001").await["status"],
        429
    );
    // Accepted, never tried, or not an attempt id at all: nothing recorded, still a 200.
    for nothing in [
        "accepted-attempt-0001",
        "never-tried-attempt-01",
        "bad%20id",
    ] {
        assert_eq!(
            handshake_status(&gateway, nothing).await["status"],
            Value::Null,
            "{nothing}"
        );
    }
    // The backend's routes still need the bearer token.
    assert_eq!(get_json(&gateway, "/connections/count").await.0, 401);
}

on_every_store!(
    a_refused_handshake_is_told_by_its_attempt_id_without_a_bearer_token,
    a_valid_token_connects_and_the_connection_carries_its_user_and_claims,
    missing_expired_forged_and_misaddressed_tokens_are_401_and_store_nothing,
    rs256_and_es256_tokens_verify_against_a_jwks_file,
    the_sixth_concurrent_connection_of_a_user_is_refused_with_429_while_five_hold,
    channel_permissions_come_from_the_token_and_a_users_channel_is_theirs_alone,
    a_connection_over_its_message_rate_gets_errors_then_is_closed,
);
