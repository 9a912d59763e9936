//! The client's side of channel history, played by the tests as the spec has every client
//! play it: positions from `subscribed`, `since` on a resubscribe, live messages buffered until
//! `subscribed` arrives, history then buffered delivered in seq order, every seq at most once.

use crate::{Client, WAIT};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tokio_tungstenite::tungstenite::Message;

/// A gateway configuration with history on every channel and client publishing on, without
/// `make run`'s limit of 20 client messages per 10 s: the tests' clients publish in bursts.
pub fn with_history(mut config: local_gateway::GatewayConfig) -> local_gateway::GatewayConfig {
    config.history_channels = Some("*".parse().expect("pattern"));
    config.client_publish = Some(true);
    config.message_rate_limit = Some(local_gateway::RateLimit(None));
    config
}

/// One subscriber of one history channel, as a client library would follow it.
pub struct Follower {
    pub client: Client,
    pub channel: String,
    /// The last seq delivered (or not needed) and its epoch.
    pub seq: u64,
    pub epoch: String,
    /// What the application got, in order: `(seq, data)`.
    pub delivered: Vec<(u64, Value)>,
    /// The `reset` frames received.
    pub resets: Vec<Value>,
    /// `history` frames received, and messages they carried.
    pub history_frames: usize,
    pub replayed: usize,
    /// Frames with a seq dropped because that seq was already delivered.
    pub duplicates_dropped: usize,
    /// Live messages ahead of the next seq, held until it arrives.
    pending: BTreeMap<u64, Value>,
}

impl Follower {
    /// Connects to `url` and subscribes to `channel` (first time: without `since`).
    pub async fn connect(url: &str, channel: &str) -> Self {
        let mut follower = Self {
            client: Client::connect(url).await,
            channel: channel.to_owned(),
            seq: 0,
            epoch: String::new(),
            delivered: Vec::new(),
            resets: Vec::new(),
            history_frames: 0,
            replayed: 0,
            duplicates_dropped: 0,
            pending: BTreeMap::new(),
        };
        follower.subscribe(false).await;
        follower
    }

    /// A new connection in place of the current one (dropped: a TCP drop if still open), then a
    /// resubscribe with `since`.
    pub async fn reconnect(&mut self, url: &str) -> Value {
        self.client = Client::connect(url).await;
        self.subscribe(true).await
    }

    /// Subscribes (with `since` when `resume`) and returns the `subscribed` reply, having
    /// delivered history and what arrived live meanwhile.
    pub async fn subscribe(&mut self, resume: bool) -> Value {
        let mut request = json!({"action": "subscribe", "channels": [self.channel]});
        if resume {
            request["since"] = json!({&self.channel: {"seq": self.seq, "epoch": self.epoch}});
        }
        self.client.send_text(&request.to_string()).await;
        let mut history = Vec::new();
        let mut live = Vec::new();
        let reply = loop {
            let frame = self.next_frame().await.expect("the subscribe is answered");
            match frame["type"].as_str() {
                Some("subscribed") => break frame,
                Some("history") => {
                    assert_eq!(frame["channel"], self.channel.as_str(), "{frame}");
                    self.history_frames += 1;
                    for message in frame["messages"].as_array().expect("messages") {
                        history.push((seq_of(message), message["data"].clone()));
                    }
                }
                Some("reset") => {
                    assert_eq!(frame["channel"], self.channel.as_str(), "{frame}");
                    self.seq = seq_of(&frame);
                    self.epoch = frame["epoch"].as_str().expect("epoch").to_owned();
                    self.resets.push(frame);
                }
                Some("message") if frame.get("seq").is_some() => {
                    live.push((seq_of(&frame), frame["data"].clone()))
                }
                _ => panic!("unexpected frame while subscribing: {frame}"),
            }
        };
        let position = &reply["data"]["positions"][&self.channel];
        let latest = seq_of(position);
        self.epoch = position["epoch"].as_str().expect("epoch").to_owned();
        self.replayed += history.len();
        if !resume {
            // A first subscribe does not need anything up to the position.
            self.seq = self.seq.max(latest);
        }
        for (seq, data) in history.into_iter().chain(live) {
            self.offer(seq, data);
        }
        reply
    }

    /// The next frame as JSON; `None` when the connection ended.
    async fn next_frame(&mut self) -> Option<Value> {
        loop {
            match self.client.next().await? {
                Message::Text(text) => {
                    return Some(serde_json::from_str(text.as_str()).expect("JSON frame"));
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Delivers in order, drops what was delivered, holds what is ahead.
    fn offer(&mut self, seq: u64, data: Value) {
        if seq <= self.seq || self.pending.contains_key(&seq) {
            self.duplicates_dropped += 1;
            return;
        }
        self.pending.insert(seq, data);
        while let Some(data) = self.pending.remove(&(self.seq + 1)) {
            self.seq += 1;
            self.delivered.push((self.seq, data));
        }
    }

    /// Reads live messages until `seq` is delivered. Panics if the connection ends first or
    /// nothing arrives for [`WAIT`].
    pub async fn receive_through(&mut self, seq: u64) {
        while self.seq < seq {
            assert!(
                self.read_live().await,
                "connection ended at seq {}",
                self.seq
            );
        }
    }

    /// Reads one live frame; false when the connection ended.
    pub async fn read_live(&mut self) -> bool {
        match self.next_frame().await {
            Some(frame)
                if frame["type"] == "message" && frame["channel"] == self.channel.as_str() =>
            {
                let seq = seq_of(&frame);
                self.offer(seq, frame["data"].clone());
                true
            }
            Some(frame) => panic!("unexpected live frame: {frame}"),
            None => false,
        }
    }

    /// Reads until the connection ends (after a DeleteConnection), delivering what came first.
    pub async fn read_until_closed(&mut self) {
        while self.read_live().await {}
    }

    /// The seqs delivered, for assertions.
    pub fn seqs(&self) -> Vec<u64> {
        self.delivered.iter().map(|(seq, _)| *seq).collect()
    }
}

fn seq_of(value: &Value) -> u64 {
    value["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no seq in {value}"))
}

/// Waits up to [`WAIT`] for `check`.
pub async fn within_wait<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} within {WAIT:?}"))
}

/// `POST {http_url}/broadcast/{channel}` with `body`: the status and the report.
pub async fn post_to_channel(http_url: &str, channel: &str, body: &str) -> (u16, Value) {
    let response = crate::http()
        .post(format!("{http_url}/broadcast/{channel}"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("POST request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("answers JSON"))
}

/// Publishes `{"n": n}` for each `n` from the backend, `pause` apart; returns `(seq, n)` of each.
pub async fn backend_publishes(
    http_url: String,
    channel: String,
    numbers: impl IntoIterator<Item = u64>,
    pause: std::time::Duration,
) -> Vec<(u64, u64)> {
    let mut taken = Vec::new();
    for n in numbers {
        let (status, report) =
            post_to_channel(&http_url, &channel, &json!({"n": n}).to_string()).await;
        assert_eq!(status, 200, "{report}");
        taken.push((seq_of(&report), n));
        tokio::time::sleep(pause).await;
    }
    taken
}

/// A client that publishes to `channel` (it subscribes first, as it must); returns `(seq, n)`
/// of each publish, from its `published` replies.
pub async fn client_publishes(
    url: String,
    channel: String,
    numbers: impl IntoIterator<Item = u64>,
) -> Vec<(u64, u64)> {
    let mut client = Client::connect(&url).await;
    let reply = request_amid_messages(
        &mut client,
        &json!({"action": "subscribe", "channels": [channel]}).to_string(),
    )
    .await;
    assert_eq!(reply["type"], "subscribed", "{reply}");
    let mut taken = Vec::new();
    for n in numbers {
        let request = json!({"action": "publish", "channel": channel, "data": {"n": n}});
        let reply = request_amid_messages(&mut client, &request.to_string()).await;
        assert_eq!(reply["type"], "published", "{reply}");
        taken.push((seq_of(&reply["data"]), n));
    }
    taken
}

/// Sends `request` and returns its reply, skipping the channel messages that arrive meanwhile.
pub async fn request_amid_messages(client: &mut Client, request: &str) -> Value {
    client.send_text(request).await;
    loop {
        let frame = client.recv_json().await;
        if frame["type"] != "message" {
            return frame;
        }
    }
}
