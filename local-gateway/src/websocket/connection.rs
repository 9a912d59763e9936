//! One task per open connection: it reads frames, writes what is queued for the client, and
//! closes with API Gateway's codes on limits, idleness and the maximum duration.

use super::dispatch;
use super::upgrade::Socket;
use crate::registry::{Disconnect, LiveConnection, Outbound};
use crate::state::GatewayState;
use axum::extract::ws::Message as Outgoing;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{Error, Message};
use ws_bridge::time::now_epoch_ms;

/// API Gateway's frame limit (32 KB) and message limit (128 KB, the same as PostToConnection's):
/// beyond them, close 1009.
pub(crate) const MAX_FRAME_BYTES: usize = 32 * 1024;
pub(crate) use ws_bridge::protocol::MAX_MESSAGE_BYTES;

/// Small buffers: tungstenite's 128 KiB default read buffer would cost that much per idle
/// connection; 4 KiB keeps an idle connection near 9 KiB.
pub(super) const SOCKET_BUFFER_BYTES: usize = 4 * 1024;

const CLOSE_NO_STATUS: (u16, &str) = (1005, "Client-side close frame status not set");
const CLOSE_GOING_AWAY: (u16, &str) = (1001, "Going away");
pub(super) const CLOSE_ABNORMAL: (u16, &str) = (1006, "Connection closed abnormally");
const CLOSE_UNSUPPORTED: (u16, &str) = (1003, "Binary frames are not supported");
const CLOSE_TOO_BIG: (u16, &str) = (1009, "Message too big");
// The reference records nothing AWS-specific for frames that break RFC 6455 (§4.2 only names
// 1006 for a TCP drop), so these follow the RFC: a close frame first, 1007 for invalid UTF-8
// (§8.1), 1002 for protocol errors (§7.4.1); the reasons are the RFC's names for the codes.
// As for 1003 and 1009, `$disconnect` reports the code and reason the client was sent.
const CLOSE_PROTOCOL_ERROR: (u16, &str) = (1002, "Protocol error");
const CLOSE_INVALID_PAYLOAD: (u16, &str) = (1007, "Invalid frame payload data");

pub(super) fn disconnect((status_code, reason): (u16, &str)) -> Disconnect {
    Disconnect {
        status_code,
        reason: reason.to_owned(),
    }
}

/// Removes the connection (so `@connections` answers 410 from now on) and runs `$disconnect`.
pub(super) fn end_connection(
    gateway: &Arc<GatewayState>,
    connection: &Arc<LiveConnection>,
    how: Disconnect,
) {
    gateway.registry.remove_if_current(connection);
    gateway.inspector.close(connection, &how);
    tracing::debug!(connection_id = connection.id(), code = how.status_code, reason = %how.reason, "connection closed");
    dispatch::spawn_disconnect(gateway, connection.context.clone(), how);
}

pub(super) async fn run_connection(
    gateway: Arc<GatewayState>,
    connection: Arc<LiveConnection>,
    mut outbound: mpsc::Receiver<Outbound>,
    mut socket: Socket,
) {
    let idle_timeout = gateway.config.idle_timeout();
    let write_timeout = gateway.config.write_timeout();
    let closes_at = Instant::now() + gateway.config.max_connection_duration();
    let next_check = |connection: &LiveConnection| {
        (Instant::now() + idle_remaining(connection, idle_timeout)).min(closes_at)
    };
    // Every write is bounded: a client that stops reading fills its TCP window, and a write
    // waiting on it would keep the timers below from ever being polled. No write outlives the
    // maximum duration either.
    let write_deadline = || (Instant::now() + write_timeout).min(closes_at);
    // One timer for the connection's life, re-armed when it fires: activity only ever moves the
    // idle deadline later, so firing early costs one check, while a new timer per loop (per
    // frame of a broadcast) cost a timer-wheel insertion and removal each time.
    let timer = tokio::time::sleep_until(next_check(&connection));
    tokio::pin!(timer);
    let how = loop {
        tokio::select! {
            command = outbound.recv() => match command {
                Some(Outbound::Send(message)) => {
                    gateway.inspector.frame_out(&connection, &message);
                    match write(&connection, send_message(&mut socket, message), write_deadline()).await {
                        Written::Done(Ok(())) => {}
                        Written::Done(Err(_)) => break disconnect(CLOSE_ABNORMAL),
                        Written::Stalled => break stalled(&connection, closes_at),
                        Written::Stopped(how) => break how,
                    }
                }
                Some(Outbound::Close(how)) => {
                    send_close(&mut socket, how.status_code, &how.reason).await;
                    break how;
                }
                // Cannot happen while this task holds the connection (and so a sender); close
                // cleanly rather than spin if it ever does.
                None => {
                    send_close(&mut socket, CLOSE_GOING_AWAY.0, CLOSE_GOING_AWAY.1).await;
                    break disconnect(CLOSE_GOING_AWAY);
                }
            },
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    connection.touch();
                    dispatch::dispatch_message(&gateway, &connection, text.as_str().to_owned());
                }
                Some(Ok(Message::Binary(_))) => {
                    send_close(&mut socket, CLOSE_UNSUPPORTED.0, CLOSE_UNSUPPORTED.1).await;
                    break disconnect(CLOSE_UNSUPPORTED);
                }
                // tungstenite queues the pong itself; flush it now. Control frames are never
                // routed and, unless configured, do not count as activity (checklist 59).
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                    if gateway.config.pings_are_activity {
                        connection.touch();
                    }
                    match write(&connection, socket.flush(), write_deadline()).await {
                        Written::Done(_) => {}
                        Written::Stalled => break stalled(&connection, closes_at),
                        Written::Stopped(how) => break how,
                    }
                }
                // Only ever written, never read: tungstenite reassembles fragments itself.
                Some(Ok(Message::Frame(_))) => {}
                Some(Ok(Message::Close(frame))) => {
                    // tungstenite has queued the echoing close frame; flushing completes the
                    // closing handshake (bounded: the peer may have stopped reading).
                    let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, socket.flush()).await;
                    break match frame {
                        Some(CloseFrame { code, reason }) => Disconnect { status_code: code.into(), reason: reason.as_str().to_owned() },
                        None => disconnect(CLOSE_NO_STATUS),
                    };
                }
                Some(Err(err)) => match close_for_read_error(&err) {
                    Some(close) => {
                        tracing::debug!(connection_id = connection.id(), error = %err, "failing the connection");
                        send_close(&mut socket, close.0, close.1).await;
                        break disconnect(close);
                    }
                    None => break disconnect(CLOSE_ABNORMAL),
                },
                None => break disconnect(CLOSE_ABNORMAL),
            },
            () = &mut timer => {
                if Instant::now() >= closes_at || idle_remaining(&connection, idle_timeout).is_zero() {
                    send_close(&mut socket, CLOSE_GOING_AWAY.0, CLOSE_GOING_AWAY.1).await;
                    break disconnect(CLOSE_GOING_AWAY);
                }
                timer.as_mut().reset(next_check(&connection));
            }
            how = connection.stopped() => {
                send_close(&mut socket, how.status_code, &how.reason).await;
                break how;
            }
        }
    };
    end_connection(&gateway, &connection, how);
}

/// How a bounded write ended.
enum Written<T> {
    Done(T),
    /// No progress before the deadline: the peer is not reading.
    Stalled,
    /// The gateway is shutting down: close now, whatever the write had left.
    Stopped(Disconnect),
}

/// Runs one write on the socket until `deadline`, or until the connection is stopped.
async fn write<T>(
    connection: &LiveConnection,
    io: impl Future<Output = T>,
    deadline: Instant,
) -> Written<T> {
    tokio::select! {
        done = tokio::time::timeout_at(deadline, io) => match done {
            Ok(done) => Written::Done(done),
            Err(_) => Written::Stalled,
        },
        how = connection.stopped() => Written::Stopped(how),
    }
}

/// A write that made no progress: at the maximum duration that is the 2-hour close (1001, as
/// the timer reports it; checklist 40); otherwise the peer stopped reading, reported as an
/// abnormal close (1006), the code `$disconnect` gets for a peer that vanished (reference §4.3).
/// No close frame: the socket cannot take one.
fn stalled(connection: &LiveConnection, closes_at: Instant) -> Disconnect {
    tracing::debug!(
        connection_id = connection.id(),
        "closing a connection whose writes made no progress"
    );
    if Instant::now() >= closes_at {
        disconnect(CLOSE_GOING_AWAY)
    } else {
        disconnect(CLOSE_ABNORMAL)
    }
}

fn idle_remaining(connection: &LiveConnection, idle_timeout: Duration) -> Duration {
    let idle_for = u64::try_from(now_epoch_ms() - connection.last_active_ms()).unwrap_or(0);
    idle_timeout.saturating_sub(Duration::from_millis(idle_for))
}

/// A close frame is a courtesy to a peer that may have stopped reading: it gets this long at
/// most, so that closing never waits on a stalled peer (and shutdown stays bounded).
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

async fn send_close(socket: &mut Socket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: code.into(),
        reason: reason.into(),
    };
    // The peer may already be gone, or not reading; there is nobody left to tell.
    let _ = tokio::time::timeout(
        CLOSE_WRITE_TIMEOUT,
        socket.send(Message::Close(Some(frame))),
    )
    .await;
}

/// Writes one message for the client. Data up to 32 KB goes out as one frame; more as a
/// fragmented message of 32 KB frames (the last one shorter), as API Gateway sends a large
/// `PostToConnection` (checklist 60). Frames split at byte offsets, not characters (RFC 6455
/// §5.6: only the whole message must be UTF-8), so a client that decodes each frame on its own
/// fails here as it would on AWS. Data is written as raw frames, which spares re-checking UTF-8
/// that the management API already checked.
async fn send_message(socket: &mut Socket, message: Outgoing) -> Result<(), Error> {
    let (data, kind): (Bytes, Data) = match message {
        Outgoing::Text(text) => (text.into(), Data::Text),
        // Data the management API could not read as UTF-8 goes out as it came.
        Outgoing::Binary(bytes) => (bytes, Data::Binary),
        // Control frames are never queued: closes go through `Outbound::Close`, and tungstenite
        // answers pings itself.
        Outgoing::Ping(_) | Outgoing::Pong(_) | Outgoing::Close(_) => return Ok(()),
    };
    for frame in data_frames(data, kind) {
        socket.feed(Message::Frame(frame)).await?;
    }
    socket.flush().await
}

/// The frames of one data message, each at most [`MAX_FRAME_BYTES`].
fn data_frames(data: Bytes, kind: Data) -> Vec<Frame> {
    let count = data.len().div_ceil(MAX_FRAME_BYTES).max(1);
    (0..count)
        .map(|index| {
            let start = index * MAX_FRAME_BYTES;
            let end = (start + MAX_FRAME_BYTES).min(data.len());
            let opcode = if index == 0 { kind } else { Data::Continue };
            Frame::message(
                data.slice(start..end),
                OpCode::Data(opcode),
                index + 1 == count,
            )
        })
        .collect()
}

/// The close a read error calls for: 1009 past the limits, 1007 for invalid UTF-8, 1002 for a
/// frame that breaks the protocol; `None` when the peer is gone (a reset or EOF is 1006, and
/// there is nobody to send a close frame to).
fn close_for_read_error(err: &Error) -> Option<(u16, &'static str)> {
    match err {
        Error::Capacity(_) => Some(CLOSE_TOO_BIG),
        Error::Utf8(_) => Some(CLOSE_INVALID_PAYLOAD),
        Error::Protocol(
            ProtocolError::NonZeroReservedBits
            | ProtocolError::UnmaskedFrameFromClient
            | ProtocolError::FragmentedControlFrame
            | ProtocolError::ControlFrameTooBig
            | ProtocolError::UnknownControlFrameType(_)
            | ProtocolError::UnknownDataFrameType(_)
            | ProtocolError::UnexpectedContinueFrame
            | ProtocolError::ExpectedFragment(_)
            | ProtocolError::InvalidOpcode(_)
            | ProtocolError::InvalidCloseSequence,
        ) => Some(CLOSE_PROTOCOL_ERROR),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(frames: &[Frame]) -> Vec<(OpCode, bool, usize)> {
        frames
            .iter()
            .map(|frame| {
                (
                    frame.header().opcode,
                    frame.header().is_final,
                    frame.payload().len(),
                )
            })
            .collect()
    }

    #[test]
    fn data_up_to_32_kb_is_one_final_frame() {
        for size in [0, 1, MAX_FRAME_BYTES] {
            let frames = data_frames(Bytes::from(vec![b'a'; size]), Data::Text);
            assert_eq!(shape(&frames), [(OpCode::Data(Data::Text), true, size)]);
        }
    }

    #[test]
    fn longer_data_is_32_kb_frames_then_the_rest() {
        let frames = data_frames(Bytes::from(vec![b'a'; 2 * MAX_FRAME_BYTES + 5]), Data::Text);
        assert_eq!(
            shape(&frames),
            [
                (OpCode::Data(Data::Text), false, MAX_FRAME_BYTES),
                (OpCode::Data(Data::Continue), false, MAX_FRAME_BYTES),
                (OpCode::Data(Data::Continue), true, 5),
            ]
        );
    }
}
