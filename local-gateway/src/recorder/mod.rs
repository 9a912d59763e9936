//! The inspector's recorder: a bounded ring of the last N things the gateway did (handshakes,
//! frames, invocations, `@connections` calls, closes, HTTP API calls), which the inspector's
//! pages and feed read.
//!
//! Recording sits on the delivery hot path (a frame out per recipient of a broadcast), so it is
//! a counter increment, one small allocation and one uncontended slot lock: writers never wait
//! for readers, and readers never hold anything a writer needs for longer than one slot's copy.
//! A reader that falls more than N behind is told how many records it missed instead.
//! Credentials are masked as they are recorded ([`redact`]).
//! Everything recorded is masked first ([`Redactor`]); previews are truncated.

pub(crate) mod redact;
use crate::invoke::InvocationFailure;
use crate::registry::{ConnectionContext, Disconnect, LiveConnection};
use axum::extract::ws::Message;
use redact::Redactor;
use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use ws_bridge::time::now_epoch_ms;

/// A frame's preview: its first bytes, cut at a character boundary.
pub(crate) const PREVIEW_BYTES: usize = 200;
/// An invocation's event and result are kept whole up to this size, then cut.
pub(crate) const DETAIL_BYTES: usize = 16 * 1024;

/// One thing the gateway did.
#[derive(Debug)]
pub(crate) struct Record {
    pub seq: u64,
    /// Epoch ms.
    pub at: i64,
    pub connection_id: Option<String>,
    pub kind: Kind,
}

#[derive(Debug)]
pub(crate) enum Kind {
    /// A handshake's answer: 101, or the status the authorizer or `$connect` gave.
    Handshake {
        status: u16,
        source_ip: String,
        user_agent: Option<String>,
        /// Path and query, the query masked.
        target: String,
    },
    FrameIn {
        size: usize,
        preview: Preview,
        /// The route key selected, `None` when no route matched (the `Forbidden` frame).
        route: Option<String>,
    },
    FrameOut {
        size: usize,
        preview: Preview,
    },
    Invocation {
        function: String,
        route_key: Option<String>,
        duration_ms: f64,
        /// When this was the first invocation its process served (a cold start): how long the
        /// process took to initialise, as Lambda's `REPORT` line gives `Init Duration`.
        init_duration_ms: Option<f64>,
        /// `ok`, `error` or `timeout`.
        outcome: &'static str,
        error: Option<String>,
        /// The event as JSON text, masked, cut at [`DETAIL_BYTES`].
        event: Detail,
        result: Option<Detail>,
    },
    /// A call to `@connections`.
    Management {
        method: String,
        status: u16,
        size: Option<u64>,
    },
    Close {
        code: u16,
        reason: String,
    },
    /// A call to an HTTP API route, and what it answered (a broadcast's report, say).
    Http {
        method: String,
        target: String,
        status: u16,
        duration_ms: f64,
        report: Option<Detail>,
    },
}

/// The start of a text, and whether it was cut.
#[derive(Debug)]
pub(crate) struct Preview {
    pub text: String,
    pub truncated: bool,
}

impl Preview {
    pub(crate) fn of(text: &str, limit: usize) -> Self {
        if text.len() <= limit {
            return Self {
                text: text.to_owned(),
                truncated: false,
            };
        }
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            text: text[..end].to_owned(),
            truncated: true,
        }
    }

    fn json(&self) -> Value {
        json!({ "text": self.text, "truncated": self.truncated })
    }
}

/// An invocation's event or result, or an HTTP report: JSON text (or, for a result that is not
/// JSON, the text it was), cut at [`DETAIL_BYTES`].
#[derive(Debug)]
pub(crate) struct Detail(Preview);

impl Detail {
    fn of_json(value: &Value, redactor: &Redactor) -> Self {
        let mut value = value.clone();
        redactor.json(&mut value);
        Self(Preview::of(&value.to_string(), DETAIL_BYTES))
    }

    fn of_bytes(bytes: &[u8], redactor: &Redactor) -> Self {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(value) => Self::of_json(&value, redactor),
            Err(_) => Self(Preview::of(&String::from_utf8_lossy(bytes), DETAIL_BYTES)),
        }
    }

    /// The JSON itself when it is whole JSON, else the text with a `truncated` flag.
    fn json(&self) -> Value {
        if !self.0.truncated
            && let Ok(value) = serde_json::from_str::<Value>(&self.0.text)
        {
            return json!({ "json": value });
        }
        self.0.json()
    }
}

impl Record {
    /// What the feed and the timeline show: everything but an invocation's event and result
    /// (fetched one record at a time, by [`Record::detail`]).
    pub(crate) fn summary(&self) -> Value {
        self.to_json(false)
    }

    pub(crate) fn detail(&self) -> Value {
        self.to_json(true)
    }

    fn to_json(&self, detail: bool) -> Value {
        let mut out = Map::new();
        out.insert("seq".into(), self.seq.into());
        out.insert("at".into(), self.at.into());
        if let Some(id) = &self.connection_id {
            out.insert("connectionId".into(), id.clone().into());
        }
        let (kind, fields) = match &self.kind {
            Kind::Handshake {
                status,
                source_ip,
                user_agent,
                target,
            } => (
                "handshake",
                json!({"status": status, "sourceIp": source_ip, "userAgent": user_agent, "target": target}),
            ),
            Kind::FrameIn {
                size,
                preview,
                route,
            } => (
                "frame_in",
                json!({"size": size, "preview": preview.json(), "route": route}),
            ),
            Kind::FrameOut { size, preview } => (
                "frame_out",
                json!({"size": size, "preview": preview.json()}),
            ),
            Kind::Invocation {
                function,
                route_key,
                duration_ms,
                init_duration_ms,
                outcome,
                error,
                event,
                result,
            } => {
                let mut fields = json!({
                    "function": function, "routeKey": route_key, "durationMs": duration_ms,
                    "coldStart": init_duration_ms.is_some(), "initDurationMs": init_duration_ms,
                    "outcome": outcome, "error": error,
                    "resultPreview": result.as_ref().map(|result| Preview::of(&result.0.text, PREVIEW_BYTES).json()),
                });
                if detail {
                    fields["event"] = event.json();
                    fields["result"] = result.as_ref().map_or(Value::Null, Detail::json);
                }
                ("invocation", fields)
            }
            Kind::Management {
                method,
                status,
                size,
            } => (
                "management",
                json!({"method": method, "status": status, "size": size}),
            ),
            Kind::Close { code, reason } => ("close", json!({"code": code, "reason": reason})),
            Kind::Http {
                method,
                target,
                status,
                duration_ms,
                report,
            } => {
                let mut fields = json!({
                    "method": method, "target": target, "status": status, "durationMs": duration_ms,
                    "reportPreview": report.as_ref().map(|report| Preview::of(&report.0.text, PREVIEW_BYTES).json()),
                });
                if detail {
                    fields["report"] = report.as_ref().map_or(Value::Null, Detail::json);
                }
                ("http", fields)
            }
        };
        out.insert("type".into(), kind.into());
        if let Value::Object(fields) = fields {
            out.extend(fields);
        }
        Value::Object(out)
    }
}

/// What a reader got: the records from its cursor on, how many it missed (overwritten before it
/// read them), and where to continue.
#[derive(Debug, Default)]
pub(crate) struct Read {
    pub records: Vec<Arc<Record>>,
    pub skipped: u64,
    pub next: u64,
}

type Slot = Mutex<Option<Arc<Record>>>;

pub(crate) struct Recorder {
    enabled: bool,
    redactor: Redactor,
    slots: Box<[Slot]>,
    /// The sequence number of the next record: records `next - N .. next` may be in the ring.
    next: AtomicU64,
    /// Set at shutdown: feeds end.
    stopped: AtomicBool,
}

impl Recorder {
    /// A recorder keeping the last `capacity` records; a disabled one records nothing.
    pub(crate) fn new(enabled: bool, capacity: usize, redactor: Redactor) -> Self {
        let capacity = if enabled { capacity.max(1) } else { 0 };
        Self {
            enabled,
            redactor,
            slots: (0..capacity).map(|_| Mutex::new(None)).collect(),
            next: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Ends every feed (the gateway is shutting down).
    pub(crate) fn stop_feeds(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    pub(crate) fn feeds_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    pub(crate) fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The sequence number the next record will get.
    pub(crate) fn head(&self) -> u64 {
        self.next.load(Ordering::Acquire)
    }

    fn slot(&self, seq: u64) -> &Slot {
        // `slots` is non-empty whenever anything is recorded or read (`enabled`).
        &self.slots[(seq % self.slots.len() as u64) as usize]
    }

    fn push(&self, connection_id: Option<String>, kind: Kind) {
        let seq = self.next.fetch_add(1, Ordering::AcqRel);
        let record = Arc::new(Record {
            seq,
            at: now_epoch_ms(),
            connection_id,
            kind,
        });
        let replaced = {
            let mut slot = self
                .slot(seq)
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // A writer a whole ring ahead got here first: this record is already gone.
            if slot.as_ref().is_some_and(|newer| newer.seq > seq) {
                return;
            }
            slot.replace(record)
        };
        // The old record is freed outside the lock.
        drop(replaced);
    }

    /// Up to `max` records from `from` on. A record not yet written ends the read (its writer
    /// is between taking the number and storing it); the next read starts there.
    pub(crate) fn read(&self, from: u64, max: usize) -> Read {
        if !self.enabled {
            return Read::default();
        }
        let head = self.head();
        let oldest = head.saturating_sub(self.slots.len() as u64);
        let mut read = Read {
            records: Vec::new(),
            skipped: oldest.saturating_sub(from),
            next: from.max(oldest),
        };
        while read.next < head && read.records.len() < max {
            let seq = read.next;
            let record = self
                .slot(seq)
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            match record {
                Some(record) if record.seq == seq => read.records.push(record),
                Some(record) if record.seq > seq => read.skipped += 1,
                _ => break,
            }
            read.next += 1;
        }
        read
    }

    /// The record numbered `seq`, while the ring still holds it.
    pub(crate) fn get(&self, seq: u64) -> Option<Arc<Record>> {
        if !self.enabled {
            return None;
        }
        self.slot(seq)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .filter(|record| record.seq == seq)
    }

    pub(crate) fn handshake(&self, context: &ConnectionContext, target: &http::Uri, status: u16) {
        if !self.enabled {
            return;
        }
        self.push(
            Some(context.connection_id.clone()),
            Kind::Handshake {
                status,
                source_ip: context.source_ip.clone(),
                user_agent: context.user_agent.clone(),
                target: self.redactor.uri(target).into_owned(),
            },
        );
    }

    pub(crate) fn frame_in(&self, connection: &LiveConnection, text: &str, route: Option<&str>) {
        if !self.enabled {
            return;
        }
        connection.stats.frames_in.fetch_add(1, Ordering::Relaxed);
        self.push(
            Some(connection.id().to_owned()),
            Kind::FrameIn {
                size: text.len(),
                preview: Preview::of(text, PREVIEW_BYTES),
                route: route.map(str::to_owned),
            },
        );
    }

    pub(crate) fn frame_out(&self, connection: &LiveConnection, message: &Message) {
        if !self.enabled {
            return;
        }
        connection.stats.frames_out.fetch_add(1, Ordering::Relaxed);
        let (size, preview) = match message {
            Message::Text(text) => (text.len(), Preview::of(text.as_str(), PREVIEW_BYTES)),
            Message::Binary(bytes) => (bytes.len(), Preview::of("(binary)", PREVIEW_BYTES)),
            // Control frames are not data; the connection task writes them itself.
            _ => return,
        };
        self.push(
            Some(connection.id().to_owned()),
            Kind::FrameOut { size, preview },
        );
    }

    /// An invocation of `function` with `event`; the connection and route key are the event's
    /// own (`requestContext.connectionId`, `requestContext.routeKey`). `init_duration`: the
    /// process's initialisation, when the invocation was a cold start.
    pub(crate) fn invocation(
        &self,
        function: &str,
        event: &Value,
        outcome: &Result<Vec<u8>, InvocationFailure>,
        elapsed: Duration,
        init_duration: Option<Duration>,
    ) {
        if !self.enabled {
            return;
        }
        let context = event.get("requestContext");
        let field = |name: &str| {
            context
                .and_then(|context| context.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let (outcome, error, result) = match outcome {
            Ok(result) => ("ok", None, Some(Detail::of_bytes(result, &self.redactor))),
            Err(InvocationFailure::Function(err)) => ("error", Some(err.to_string()), None),
            Err(InvocationFailure::TimedOut) => {
                ("timeout", Some("integration timed out".to_owned()), None)
            }
        };
        self.push(
            field("connectionId"),
            Kind::Invocation {
                function: function.to_owned(),
                route_key: field("routeKey"),
                duration_ms: elapsed.as_secs_f64() * 1000.0,
                init_duration_ms: init_duration.map(|init| init.as_secs_f64() * 1000.0),
                outcome,
                error,
                event: Detail::of_json(event, &self.redactor),
                result,
            },
        );
    }

    pub(crate) fn management(
        &self,
        method: &http::Method,
        connection_id: String,
        status: u16,
        size: Option<u64>,
    ) {
        if !self.enabled {
            return;
        }
        self.push(
            Some(connection_id),
            Kind::Management {
                method: method.to_string(),
                status,
                size,
            },
        );
    }

    pub(crate) fn close(&self, connection: &LiveConnection, how: &Disconnect) {
        if !self.enabled {
            return;
        }
        self.push(
            Some(connection.id().to_owned()),
            Kind::Close {
                code: how.status_code,
                reason: how.reason.clone(),
            },
        );
    }

    pub(crate) fn http(
        &self,
        method: &http::Method,
        target: &http::Uri,
        status: u16,
        elapsed: Duration,
        report: Option<&[u8]>,
    ) {
        if !self.enabled {
            return;
        }
        self.push(
            None,
            Kind::Http {
                method: method.to_string(),
                target: self.redactor.uri(target).into_owned(),
                status,
                duration_ms: elapsed.as_secs_f64() * 1000.0,
                report: report.map(|report| Detail::of_bytes(report, &self.redactor)),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(recorder: &Recorder, code: u16) {
        recorder.push(
            Some("c".into()),
            Kind::Close {
                code,
                reason: String::new(),
            },
        );
    }

    #[test]
    fn the_ring_keeps_the_last_n_and_a_late_reader_learns_what_it_missed() {
        let recorder = Recorder::new(true, 100, Redactor::default());
        for _ in 0..100_000 {
            close(&recorder, 1000);
        }
        let read = recorder.read(0, usize::MAX);
        assert_eq!(read.skipped, 100_000 - 100);
        assert_eq!(read.records.len(), 100);
        assert_eq!(read.records[0].seq, 100_000 - 100);
        assert_eq!(read.next, 100_000);
        assert!(recorder.get(5).is_none());
        assert_eq!(recorder.get(99_999).map(|record| record.seq), Some(99_999));
        // Caught up: nothing new, nothing missed.
        let again = recorder.read(read.next, usize::MAX);
        assert!(again.records.is_empty() && again.skipped == 0);
    }

    #[test]
    fn a_disabled_recorder_keeps_nothing() {
        let recorder = Recorder::new(false, 100, Redactor::default());
        let uri: http::Uri = "/dev".parse().unwrap();
        recorder.http(&http::Method::GET, &uri, 200, Duration::ZERO, None);
        assert_eq!(recorder.head(), 0);
        assert!(recorder.read(0, 10).records.is_empty());
    }

    #[test]
    fn previews_are_cut_at_a_character_boundary() {
        let preview = Preview::of("héllo", 2);
        assert_eq!(preview.text, "h");
        assert!(preview.truncated);
        assert!(!Preview::of("hé", 3).truncated);
    }

    #[test]
    fn invocations_are_masked_before_they_are_kept() {
        let recorder = Recorder::new(true, 10, Redactor::default());
        let event = json!({
            "queryStringParameters": {"token": "eyJ.secret"},
            "headers": {"Authorization": "Bearer secret"},
            "requestContext": {"connectionId": "c1", "routeKey": "$connect"},
        });
        recorder.invocation(
            "ws-connect",
            &event,
            &Ok(br#"{"statusCode":200}"#.to_vec()),
            Duration::from_millis(3),
            Some(Duration::from_millis(120)),
        );
        let detail = recorder.get(0).map(|record| record.detail()).unwrap();
        let text = detail.to_string();
        assert!(!text.contains("secret"), "{text}");
        assert_eq!(detail["connectionId"], "c1");
        assert_eq!(detail["routeKey"], "$connect");
        assert_eq!(detail["result"]["json"]["statusCode"], 200);
        assert_eq!(detail["coldStart"], true);
        assert_eq!(detail["initDurationMs"], 120.0);
    }
}
