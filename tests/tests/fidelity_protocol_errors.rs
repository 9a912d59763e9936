//! RFC 6455 violations by a client: the gateway fails the connection with a close frame (1007 for
//! invalid UTF-8, §8.1; 1002 for protocol errors, §7.4.1) rather than a bare TCP close, and
//! `$disconnect` reports the code it sent. The reference (§4.2, §4.3) records nothing AWS-specific
//! for these; frames are written by hand over raw TCP, since no well-behaved client sends them.

use serde_json::json;
use ws_bridge_e2e::raw::{RawClient, masked_frame, unmasked_frame};
use ws_bridge_e2e::{next_event, start_gateway_with};

const TEXT: u8 = 0x1;
const CONTINUATION: u8 = 0x0;
const PING: u8 = 0x9;
const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;

/// Sends `frame` on a fresh connection; returns the close frame the client got and the code and
/// reason `$disconnect` reported.
async fn violate(frame: Vec<u8>) -> (Option<(u16, String)>, (u64, String)) {
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let routes =
        ws_bridge_e2e::functions::recording_routes(json!({ "statusCode": 200 }), events_tx);
    let gateway = start_gateway_with(local_gateway::GatewayConfig::on_free_port(), routes).await;
    let mut client = RawClient::connect(gateway.addr(), &gateway.config().stage).await;
    next_event(&mut events).await; // $connect

    client.send_bytes(&frame).await;
    let close = client.read_close().await;

    let event = next_event(&mut events).await;
    let context = &event["requestContext"];
    assert_eq!(context["eventType"], "DISCONNECT", "{event}");
    let reported = (
        context["disconnectStatusCode"].as_u64().expect("code"),
        context["disconnectReason"]
            .as_str()
            .expect("reason")
            .to_owned(),
    );
    (close, reported)
}

async fn assert_closed_with(frame: Vec<u8>, code: u16, what: &str) {
    let (close, (reported_code, reported_reason)) = violate(frame).await;
    let (sent_code, sent_reason) = close.unwrap_or_else(|| panic!("{what}: no close frame"));
    assert_eq!(sent_code, code, "{what}: close code");
    assert_eq!(
        (reported_code, reported_reason.as_str()),
        (u64::from(code), sent_reason.as_str()),
        "{what}: $disconnect reports what the client was sent"
    );
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    assert_closed_with(
        masked_frame(FIN | TEXT, &[b'h', 0xff, 0xfe]),
        1007,
        "invalid UTF-8",
    )
    .await;
}

#[tokio::test]
async fn an_unmasked_client_frame_closes_with_1002() {
    assert_closed_with(unmasked_frame(FIN | TEXT, b"hi"), 1002, "unmasked").await;
}

#[tokio::test]
async fn a_ping_over_125_bytes_closes_with_1002() {
    assert_closed_with(masked_frame(FIN | PING, &[b'p'; 126]), 1002, "big ping").await;
}

#[tokio::test]
async fn a_continuation_without_a_start_closes_with_1002() {
    assert_closed_with(
        masked_frame(FIN | CONTINUATION, b"orphan"),
        1002,
        "orphan continuation",
    )
    .await;
}

#[tokio::test]
async fn reserved_bits_close_with_1002() {
    assert_closed_with(masked_frame(FIN | RSV1 | TEXT, b"hi"), 1002, "RSV1").await;
}

#[tokio::test]
async fn reserved_opcodes_close_with_1002() {
    assert_closed_with(masked_frame(FIN | 0x3, b"hi"), 1002, "data opcode 3").await;
    assert_closed_with(masked_frame(FIN | 0xB, b"hi"), 1002, "control opcode 0xB").await;
}
