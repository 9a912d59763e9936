//! Golden tests: the events the gateway sends, compared field by field with the reference's
//! example events (`apigw-websocket.md` §1.7, copied to `tests/fixtures/`). Every object has the
//! same keys; constants are equal; per-event values (ids, times, host) have the reference's form.

use local_gateway::GatewayConfig;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use ws_bridge_e2e::functions::recording_routes;
use ws_bridge_e2e::{next_event, start_gateway_with};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/fixtures/reference-{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

/// How a per-event value must look, by field name; every other leaf must equal the reference.
fn check_dynamic(field: &str, ours: &Value, host: &str) -> Option<Result<(), String>> {
    let text = ours.as_str();
    let verdict = match field {
        "connectionId" | "requestId" | "extendedRequestId" | "messageId" => {
            text.is_some_and(|id| {
                id.len() == 16
                    && id.ends_with('=')
                    && id[..15]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
        }
        "requestTime" => text.is_some_and(|t| {
            chrono::NaiveDateTime::parse_from_str(t, "%d/%b/%Y:%H:%M:%S +0000").is_ok()
        }),
        "connectedAt" | "requestTimeEpoch" => {
            ours.as_i64().is_some_and(|ms| ms > 1_700_000_000_000)
        }
        "Host" | "domainName" => text == Some(host),
        "X-Forwarded-For" | "sourceIp" => text == Some("127.0.0.1") || text == Some(""),
        "Sec-WebSocket-Key" => text.is_some_and(|key| key.len() == 24),
        "X-Amzn-Trace-Id" => text.is_some_and(|t| t.starts_with("Root=1-") && t.len() == 40),
        "apiId" => text.is_some_and(|id| {
            id.len() == 10
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        }),
        _ => return None,
    };
    Some(if verdict {
        Ok(())
    } else {
        Err(format!("{field} has the wrong form: {ours}"))
    })
}

fn compare(
    ours: &Value,
    reference: &Value,
    field: &str,
    path: &str,
    host: &str,
    problems: &mut Vec<String>,
) {
    match (ours, reference) {
        (Value::Object(a), Value::Object(b)) => {
            let mut ours_keys: Vec<&String> = a.keys().collect();
            let mut reference_keys: Vec<&String> = b.keys().collect();
            ours_keys.sort();
            reference_keys.sort();
            if ours_keys != reference_keys {
                problems.push(format!(
                    "{path}: keys {ours_keys:?}, reference has {reference_keys:?}"
                ));
            }
            for (key, value) in a {
                if let Some(expected) = b.get(key) {
                    compare(
                        value,
                        expected,
                        key,
                        &format!("{path}.{key}"),
                        host,
                        problems,
                    );
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                compare(x, y, field, &format!("{path}[{i}]"), host, problems);
            }
        }
        _ => match check_dynamic(field, ours, host) {
            Some(Ok(())) => {}
            Some(Err(problem)) => problems.push(format!("{path}: {problem}")),
            None if ours != reference => {
                problems.push(format!("{path}: {ours}, reference has {reference}"))
            }
            None => {}
        },
    }
}

fn assert_matches_reference(ours: &Value, name: &str, host: &str) {
    let mut problems = Vec::new();
    compare(ours, &fixture(name), "", name, host, &mut problems);
    assert!(
        problems.is_empty(),
        "{name} differs from the reference:\n{}\nours: {ours:#}",
        problems.join("\n")
    );
}

#[tokio::test]
async fn checklist_09_to_24_events_match_the_reference_examples_field_by_field() {
    let (events, mut received) = mpsc::unbounded_channel();
    let connect_ok =
        json!({ "statusCode": 200, "headers": { "Sec-WebSocket-Protocol": "chat.v1" } });
    let routes = recording_routes(connect_ok, events);
    let mut config = GatewayConfig::on_free_port();
    config.stage = "prod".into();
    config.api_id = "k3x9q2m7ab".into();
    config.idle_timeout_secs = 1; // the reference's $disconnect is an idle timeout
    let gateway = start_gateway_with(config, routes).await;
    let host = format!("127.0.0.1:{}", gateway.addr().port());

    // The reference's browser: same headers, same query string.
    let mut request = format!("{}?room=lobby", gateway.websocket_url())
        .into_client_request()
        .unwrap();
    let user_agent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    for (name, value) in [
        ("Origin", "https://app.example.com"),
        (
            "Sec-WebSocket-Extensions",
            "permessage-deflate; client_max_window_bits",
        ),
        ("Sec-WebSocket-Protocol", "chat.v1"),
        ("User-Agent", user_agent),
    ] {
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    let (mut socket, _) = connect_async(request).await.expect("accepted");
    use futures::SinkExt;
    socket
        .send(r#"{"action":"sendmessage","text":"hello"}"#.into())
        .await
        .unwrap();
    let connect = next_event(&mut received).await;
    let custom = next_event(&mut received).await;
    socket.send("plain text, not JSON".into()).await.unwrap();
    let default = next_event(&mut received).await;
    let disconnect = next_event(&mut received).await; // after a second of silence

    assert_matches_reference(&connect, "connect", &host);
    assert_matches_reference(&custom, "message-custom-route", &host);
    assert_matches_reference(&default, "message-default", &host);
    assert_matches_reference(&disconnect, "disconnect", &host);
}
