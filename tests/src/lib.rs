//! Helpers for the end-to-end tests: a gateway on a free loopback port, and real clients for it.
//! Every wait is bounded, so a broken behaviour fails a test instead of hanging it.

use clap::Parser;
use futures::{SinkExt, StreamExt};
use local_gateway::{GatewayConfig, RunningGateway};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

pub use tokio_tungstenite::tungstenite;

pub mod history;
pub mod lambda_service;
pub mod tokens;
pub mod webhook_receiver;

/// How long any single expected event may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// `make run`'s arguments (`infra/run.args`), the template's path made absolute.
fn run_args() -> Vec<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    include_str!("../../infra/run.args")
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| match line {
            "template.yaml" => format!("{root}/template.yaml"),
            other => other.to_owned(),
        })
        .collect()
}

/// The gateway as `make run` starts it (ws-bridge's template, its functions in-process, the
/// local API token), on a free loopback port: what a test changes is on top of this.
pub fn run_config() -> GatewayConfig {
    let mut config = GatewayConfig::try_parse_from(
        std::iter::once("local-gateway".to_owned()).chain(run_args()),
    )
    .expect("infra/run.args parses");
    config.port = 0;
    config
}

/// The HTTP API's token of `make run` (`ApiToken` in `infra/run.args`): what a backend sends.
pub fn api_token() -> String {
    run_args()
        .iter()
        .find_map(|arg| arg.strip_prefix("ApiToken="))
        .expect("infra/run.args gives ApiToken")
        .to_owned()
}

/// A gateway started as `make run` starts it, on the in-memory store.
pub async fn start_gateway() -> RunningGateway {
    local_gateway::start(run_config())
        .await
        .expect("gateway starts")
}

/// The real management-API client, pointed at the gateway as a user would point it.
pub fn management_client(gateway: &RunningGateway) -> aws_sdk_apigatewaymanagement::Client {
    ws_bridge::ApiGatewayPusher::local(&gateway.http_url())
        .client()
        .clone()
}

/// An HTTP client as a backend has one: it sends `make run`'s API token (a gateway without one
/// ignores it).
pub fn http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {}", api_token());
    headers.insert(
        reqwest::header::AUTHORIZATION,
        bearer.parse().expect("a header value"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

/// POSTs `body` to `/broadcast`; returns the status and the JSON answer.
pub async fn broadcast(gateway: &RunningGateway, body: &str) -> (u16, Value) {
    post_json(gateway, "/broadcast", body).await
}

/// POSTs `body` to `path` of the HTTP API (e.g. `/broadcast/news`); returns the status and
/// the JSON answer.
pub async fn post_json(gateway: &RunningGateway, path: &str, body: &str) -> (u16, Value) {
    let response = http()
        .post(format!("{}{path}", gateway.http_url()))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("POST request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("answers JSON"))
}

/// GETs `path` of the HTTP API (e.g. `/stats?limit=2`); returns the status and the JSON answer.
pub async fn get_json(gateway: &RunningGateway, path: &str) -> (u16, Value) {
    let response = http()
        .get(format!("{}{path}", gateway.http_url()))
        .send()
        .await
        .expect("GET request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("answers JSON"))
}

pub async fn connection_count(gateway: &RunningGateway) -> u64 {
    let body: Value = http()
        .get(format!("{}/connections/count", gateway.http_url()))
        .send()
        .await
        .expect("count request")
        .json()
        .await
        .expect("count answers JSON");
    body["count"].as_u64().expect("count is a number")
}

/// Polls `check` until it holds; `$disconnect` runs after the socket closes, so effects of a
/// close are observed this way.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A WebSocket client over a real socket.
pub struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Connects to a URL, or to a request with headers of the test's choosing.
    pub async fn connect(request: impl IntoClientRequest + Unpin) -> Self {
        let (socket, _) = tokio::time::timeout(WAIT, connect_async(request))
            .await
            .expect("handshake in time")
            .expect("handshake accepted");
        Self { socket }
    }

    /// Connects, or returns the HTTP status the handshake was refused with.
    pub async fn try_connect(request: impl IntoClientRequest + Unpin) -> Result<Self, u16> {
        match tokio::time::timeout(WAIT, connect_async(request))
            .await
            .expect("handshake answered in time")
        {
            Ok((socket, _)) => Ok(Self { socket }),
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(other) => panic!("expected a handshake or an HTTP refusal, got {other:?}"),
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket.send(Message::text(text)).await.expect("send");
    }

    /// Sends one text message as `count` frames each carrying `fragment`.
    pub async fn send_fragmented(&mut self, fragment: &str, count: usize) {
        use tungstenite::protocol::frame::Frame;
        use tungstenite::protocol::frame::coding::{Data, OpCode};
        for i in 0..count {
            let opcode = if i == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            let frame = Frame::message(fragment.to_owned(), opcode, i + 1 == count);
            self.send(Message::Frame(frame)).await;
        }
    }

    pub async fn send(&mut self, message: Message) {
        self.socket.send(message).await.expect("send");
    }

    /// The next data message, as text; control frames are skipped.
    pub async fn recv_text(&mut self) -> String {
        loop {
            match self.next().await {
                Some(Message::Text(text)) => return text.as_str().to_owned(),
                Some(Message::Ping(_) | Message::Pong(_)) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    pub async fn recv_json(&mut self) -> Value {
        let text = self.recv_text().await;
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
    }

    /// Sends `request` and returns the JSON reply.
    pub async fn request(&mut self, request: &str) -> Value {
        self.send_text(request).await;
        self.recv_json().await
    }

    /// Asks `$default` for this connection's id.
    pub async fn hello(&mut self) -> Value {
        let reply = self.request(r#"{"action":"hello"}"#).await;
        assert_eq!(reply["type"], "welcome", "{reply}");
        reply
    }

    pub async fn connection_id(&mut self) -> String {
        self.hello().await["data"]["connectionId"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// The next frame within [`WAIT`]; `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Message> {
        match tokio::time::timeout(WAIT, self.socket.next()).await {
            Ok(Some(Ok(message))) => Some(message),
            Ok(Some(Err(_)) | None) => None,
            Err(_) => panic!("no frame within {WAIT:?}"),
        }
    }

    /// Waits for the server's close frame and returns it.
    pub async fn expect_close(&mut self) -> Option<CloseFrame> {
        loop {
            match self.next().await {
                Some(Message::Close(frame)) => return frame,
                Some(Message::Ping(_) | Message::Pong(_)) => continue,
                None => panic!("stream ended without a close frame"),
                Some(other) => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Asserts that no data message arrives within `quiet`.
    pub async fn expect_silence(&mut self, quiet: Duration) {
        if let Ok(Some(Ok(message))) = tokio::time::timeout(quiet, self.socket.next()).await {
            panic!("expected no message, got {message:?}");
        }
    }

    pub async fn close(mut self, frame: Option<CloseFrame>) {
        let _ = self.socket.close(frame).await;
        // Drain until the server's close arrives, completing the closing handshake.
        while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, self.socket.next()).await {}
    }
}

/// Test functions for route tables of the tests' own choosing: each is a real
/// [`local_gateway::LambdaFunction`], invoked through JSON like any other.
pub mod functions {
    use lambda_runtime::{Diagnostic, LambdaEvent};
    use local_gateway::{InProcess, LambdaFunction};
    use serde_json::{Value, json};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::sync::mpsc;

    /// Answers every event with `response`, after reporting the raw event to `events`.
    pub fn recording(
        name: &str,
        response: Value,
        events: mpsc::UnboundedSender<Value>,
    ) -> Arc<dyn LambdaFunction> {
        InProcess::shared(name, move |event: LambdaEvent<Value>| {
            let _ = events.send(event.payload);
            let response = response.clone();
            async move { Ok::<_, Diagnostic>(response) }
        })
    }

    /// A route table whose every route records its events into `events`: `$connect` answers
    /// `connect_response`, the others 200; `sendmessage` is a custom route. All one-way.
    pub fn recording_routes(
        connect_response: Value,
        events: mpsc::UnboundedSender<Value>,
    ) -> local_gateway::RouteTable {
        use local_gateway::{Route, RouteTable};
        let ok = json!({ "statusCode": 200 });
        let route =
            |name: &str, response: Value| Route::one_way(recording(name, response, events.clone()));
        RouteTable {
            connect: Some(route("connect", connect_response)),
            disconnect: Some(route("disconnect", ok.clone())),
            default: Some(route("default", ok.clone())),
            custom: [("sendmessage".to_owned(), route("sendmessage", ok))].into(),
            ..Default::default()
        }
    }

    /// Answers `{"statusCode": status}` plus `extra` fields.
    pub fn answering(name: &str, status: u16, extra: Value) -> Arc<dyn LambdaFunction> {
        let mut response = json!({ "statusCode": status });
        if let (Value::Object(response), Value::Object(extra)) = (&mut response, extra) {
            response.extend(extra);
        }
        let (events, _) = mpsc::unbounded_channel();
        recording(name, response, events)
    }

    /// Echoes the message body back as its `body`.
    pub fn echo(name: &str) -> Arc<dyn LambdaFunction> {
        InProcess::shared(name, |event: LambdaEvent<Value>| async move {
            let body = event.payload["body"].clone();
            Ok::<_, Diagnostic>(json!({ "statusCode": 200, "body": body }))
        })
    }

    pub fn panicking(name: &str) -> Arc<dyn LambdaFunction> {
        async fn handler_bug(_event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
            panic!("handler bug")
        }
        InProcess::shared(name, handler_bug)
    }

    pub fn failing(name: &str) -> Arc<dyn LambdaFunction> {
        InProcess::shared(name, |_event: LambdaEvent<Value>| async move {
            Err::<Value, _>(Diagnostic {
                error_type: "Boom".into(),
                error_message: "it failed".into(),
            })
        })
    }

    /// Takes `delay` before answering 200 (after reporting the event to `events`).
    pub fn slow(
        name: &str,
        delay: Duration,
        events: mpsc::UnboundedSender<Value>,
    ) -> Arc<dyn LambdaFunction> {
        InProcess::shared(name, move |event: LambdaEvent<Value>| {
            let _ = events.send(event.payload);
            async move {
                tokio::time::sleep(delay).await;
                Ok::<_, Diagnostic>(json!({ "statusCode": 200, "body": "late" }))
            }
        })
    }
}

/// A gateway with the given route table on the in-memory store.
pub async fn start_gateway_with(
    config: GatewayConfig,
    routes: local_gateway::RouteTable,
) -> RunningGateway {
    let store: std::sync::Arc<dyn ws_bridge::ConnectionStore> =
        std::sync::Arc::new(ws_bridge::InMemoryStore::new());
    local_gateway::start_with(config, move |_| Ok((store, routes)))
        .await
        .expect("gateway starts")
}

/// Receives the next event a recording function saw.
pub async fn next_event(events: &mut tokio::sync::mpsc::UnboundedReceiver<Value>) -> Value {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("event in time")
        .expect("function alive")
}

/// The handshake's HTTP status when the gateway refuses the upgrade.
pub async fn refused_status(request: impl IntoClientRequest + Unpin) -> u16 {
    match tokio::time::timeout(WAIT, connect_async(request))
        .await
        .expect("answer in time")
    {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other:?}"),
        Ok(_) => panic!("expected the handshake to be refused"),
    }
}

/// Where DynamoDB Local answers. `make test` starts it and sets `AWS_ENDPOINT_URL_DYNAMODB`; a
/// test that needs it fails (never skips) without it.
pub fn dynamodb_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: run the tests with `make test`, which starts \
             DynamoDB Local, or start it with `make dynamodb-local` and export \
             AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000"
        )
    })
}

/// A table name no other test uses, so tests share one DynamoDB Local in parallel.
pub fn unique_table() -> String {
    format!("e2e-{:016x}", rand::random::<u64>())
}

/// Gateway settings for `--store dynamodb` at `endpoint`, with tables no other test uses.
pub fn dynamodb_config(endpoint: &str) -> GatewayConfig {
    let mut config = run_config();
    config.store = local_gateway::StoreKind::Dynamodb;
    config.dynamodb_endpoint = Some(endpoint.to_owned());
    let table = unique_table();
    // Created only when a test turns history or presence on.
    config.history_table = Some(format!("{table}-history"));
    config.presence_table = Some(format!("{table}-presence"));
    config.connections_table = Some(table);
    config
}

/// A gateway with the project's routes on `store`; on DynamoDB, with a table of its own.
pub async fn start_gateway_on(store: local_gateway::StoreKind) -> RunningGateway {
    local_gateway::start(config_on(store))
        .await
        .expect("gateway starts")
}

/// The configuration [`start_gateway_on`] uses, for tests that change a setting first.
pub fn config_on(store: local_gateway::StoreKind) -> GatewayConfig {
    match store {
        local_gateway::StoreKind::Memory => run_config(),
        local_gateway::StoreKind::Dynamodb => dynamodb_config(&dynamodb_endpoint()),
    }
}

/// An empty store of `kind`; on DynamoDB, with tables of its own.
pub async fn fresh_store(
    kind: local_gateway::StoreKind,
) -> std::sync::Arc<dyn ws_bridge::ConnectionStore> {
    match kind {
        local_gateway::StoreKind::Memory => std::sync::Arc::new(ws_bridge::InMemoryStore::new()),
        local_gateway::StoreKind::Dynamodb => {
            std::sync::Arc::new(fresh_dynamodb_store(&dynamodb_endpoint()).await)
        }
    }
}

/// A DynamoDB store on DynamoDB Local with a new table of its own.
pub async fn fresh_dynamodb_store(endpoint: &str) -> ws_bridge::DynamoDbStore {
    local_gateway::dynamodb_store(&dynamodb_config(endpoint))
        .await
        .expect("table created")
}

/// Runs each named `async fn(StoreKind)` once per store: `in_memory::name` and
/// `on_dynamodb_local::name`. One set of tests, both stores.
#[macro_export]
macro_rules! on_every_store {
    ($($test:ident),* $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(local_gateway::StoreKind::Memory).await
                }
            )*
        }
        mod on_dynamodb_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(local_gateway::StoreKind::Dynamodb).await
                }
            )*
        }
    };
}

/// A DynamoDB Local of a test's own, which the test may stop and start again. Its data lives in
/// a temporary folder, so it survives a restart; it is killed when dropped.
pub struct OwnDynamoDbLocal {
    port: u16,
    data: std::path::PathBuf,
    process: Option<std::process::Child>,
}

impl OwnDynamoDbLocal {
    /// Starts one on a free loopback port. `DYNAMODB_LOCAL_HOME` (set by `make test`) names the
    /// folder holding `DynamoDBLocal.jar`.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data =
            std::env::temp_dir().join(format!("ws-bridge-ddb-{port}-{:x}", rand::random::<u32>()));
        std::fs::create_dir_all(&data).unwrap();
        let mut local = Self {
            port,
            data,
            process: None,
        };
        local.resume().await;
        local
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the process (again) and waits until it answers.
    pub async fn resume(&mut self) {
        let home = std::env::var("DYNAMODB_LOCAL_HOME").unwrap_or_else(|_| {
            panic!("DYNAMODB_LOCAL_HOME is not set: run the tests with `make test`")
        });
        let child = std::process::Command::new("java")
            .arg(format!("-Djava.library.path={home}/DynamoDBLocal_lib"))
            .args([
                "-jar",
                &format!("{home}/DynamoDBLocal.jar"),
                "-port",
                &self.port.to_string(),
            ])
            .arg("-dbPath")
            .arg(&self.data)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("java starts DynamoDB Local");
        self.process = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "DynamoDB Local did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the process: from now on every call to it fails.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnDynamoDbLocal {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// A WebSocket client written by hand over raw TCP, for what no well-behaved client sends:
/// malformed handshakes and frames that break RFC 6455.
pub mod raw {
    use super::WAIT;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// A valid key (the RFC's example): the base64 of 16 bytes.
    pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    pub struct RawClient {
        stream: TcpStream,
    }

    /// The handshake's answer: its status and its head (status line and headers) as text.
    pub struct RawResponse {
        pub status: u16,
        pub head: String,
    }

    impl RawResponse {
        /// The value of header `name` (case-insensitive), if present.
        pub fn header(&self, name: &str) -> Option<&str> {
            self.head.lines().skip(1).find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then_some(value.trim())
            })
        }
    }

    impl RawClient {
        /// Sends an upgrade request to `/{stage}` with the given handshake headers (`None`
        /// leaves the header out) and reads the answer's head.
        pub async fn handshake(
            addr: SocketAddr,
            stage: &str,
            key: Option<&str>,
            version: Option<&str>,
        ) -> (Self, RawResponse) {
            let mut request = format!(
                "GET /{stage} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            );
            if let Some(key) = key {
                request.push_str(&format!("Sec-WebSocket-Key: {key}\r\n"));
            }
            if let Some(version) = version {
                request.push_str(&format!("Sec-WebSocket-Version: {version}\r\n"));
            }
            request.push_str("\r\n");
            let mut stream = TcpStream::connect(addr).await.expect("TCP connect");
            stream.write_all(request.as_bytes()).await.expect("send");
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let byte = tokio::time::timeout(WAIT, stream.read_u8())
                    .await
                    .expect("answer in time")
                    .expect("answer before EOF");
                head.push(byte);
            }
            let head = String::from_utf8(head).expect("ASCII head");
            let status = head
                .split(' ')
                .nth(1)
                .and_then(|code| code.parse().ok())
                .expect("status line");
            (Self { stream }, RawResponse { status, head })
        }

        /// Opens a WebSocket with a valid handshake.
        pub async fn connect(addr: SocketAddr, stage: &str) -> Self {
            let (client, response) = Self::handshake(addr, stage, Some(KEY), Some("13")).await;
            assert_eq!(response.status, 101, "{}", response.head);
            client
        }

        pub async fn send_bytes(&mut self, bytes: &[u8]) {
            self.stream.write_all(bytes).await.expect("send");
        }

        /// Reads the server's next frame and returns its close code and reason, or `None` when
        /// the connection ends without a close frame.
        pub async fn read_close(&mut self) -> Option<(u16, String)> {
            let frame = tokio::time::timeout(WAIT, self.read_frame())
                .await
                .expect("close or EOF in time")?;
            let RawFrame {
                opcode, payload, ..
            } = frame;
            assert_eq!(
                opcode, 0x8,
                "expected a close frame, got opcode {opcode:#x}"
            );
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let reason = String::from_utf8(payload[2..].to_vec()).expect("UTF-8 reason");
            Some((code, reason))
        }

        /// The server's next frame as it is on the wire (no reassembly); `None` on EOF or reset.
        pub async fn read_frame(&mut self) -> Option<RawFrame> {
            let mut header = [0u8; 2];
            self.stream.read_exact(&mut header).await.ok()?;
            let len = match header[1] & 0x7f {
                126 => usize::from(self.stream.read_u16().await.ok()?),
                127 => usize::try_from(self.stream.read_u64().await.ok()?).ok()?,
                len => usize::from(len),
            };
            let mut payload = vec![0u8; len];
            self.stream.read_exact(&mut payload).await.ok()?;
            Some(RawFrame {
                fin: header[0] & 0x80 != 0,
                opcode: header[0] & 0x0f,
                payload,
            })
        }
    }

    /// One unmasked server frame.
    pub struct RawFrame {
        pub fin: bool,
        pub opcode: u8,
        pub payload: Vec<u8>,
    }

    /// A client frame with first byte `first` (FIN, RSV bits, opcode), masked as clients must.
    pub fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut frame = vec![first];
        push_length(&mut frame, 0x80, payload.len());
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        frame
    }

    /// A client frame without a mask, which RFC 6455 §5.1 forbids.
    pub fn unmasked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![first];
        push_length(&mut frame, 0, payload.len());
        frame.extend_from_slice(payload);
        frame
    }

    fn push_length(frame: &mut Vec<u8>, mask_bit: u8, len: usize) {
        match len {
            0..=125 => frame.push(mask_bit | len as u8),
            126..=65535 => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                frame.push(mask_bit | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
    }
}
