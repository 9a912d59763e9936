//! The open connections, by id: what the gateway knows of each, what `@connections` looks up,
//! and the queue through which everything reaches a connection's socket task.

use axum::extract::ws::Message;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use tokio::sync::{Notify, mpsc};

/// What every event of one connection shares.
#[derive(Clone, Debug)]
pub struct ConnectionContext {
    pub connection_id: String,
    /// Epoch ms; the same value in every event of the connection (checklist 18).
    pub connected_at: i64,
    pub source_ip: String,
    pub user_agent: Option<String>,
    /// The host the client dialled (checklist 24).
    pub domain_name: String,
    pub stage: String,
    pub api_id: String,
    /// What a REQUEST authorizer returned (`principalId`, context keys): repeated in every event
    /// of the connection (checklist 57).
    pub authorizer: Option<Map<String, Value>>,
}

/// How a connection ended, as `$disconnect` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disconnect {
    pub status_code: u16,
    pub reason: String,
}

/// What the gateway asks a connection's task to do.
#[derive(Debug)]
pub enum Outbound {
    Send(Message),
    /// Close with this code and reason, and report them to `$disconnect`.
    Close(Disconnect),
}

/// Why a message could not be queued for a client.
#[derive(Debug, PartialEq, Eq)]
pub enum QueueError {
    /// The client is not reading fast enough (`LimitExceededException`).
    Full,
    /// The connection is closing.
    Closed,
}

pub struct LiveConnection {
    pub context: ConnectionContext,
    last_active_ms: AtomicI64,
    outbound: mpsc::Sender<Outbound>,
    /// A close that skips the queue (shutdown): set once, then the task is woken.
    stop: OnceLock<Disconnect>,
    stop_signal: Notify,
    /// Counted by the inspector's recorder, for its connection list.
    pub stats: ConnectionStats,
}

/// Data frames in each direction, as the inspector shows them.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    pub frames_in: AtomicU64,
    pub frames_out: AtomicU64,
}

impl LiveConnection {
    pub fn new(context: ConnectionContext, outbound: mpsc::Sender<Outbound>) -> Self {
        let connected_at = context.connected_at;
        Self {
            context,
            last_active_ms: AtomicI64::new(connected_at),
            outbound,
            stop: OnceLock::new(),
            stop_signal: Notify::new(),
            stats: ConnectionStats::default(),
        }
    }

    pub fn id(&self) -> &str {
        &self.context.connection_id
    }

    /// Records data flowing in either direction; it keeps the connection from idling out.
    pub fn touch(&self) {
        self.last_active_ms
            .fetch_max(ws_bridge::time::now_epoch_ms(), Ordering::Relaxed);
    }

    pub fn last_active_ms(&self) -> i64 {
        self.last_active_ms.load(Ordering::Relaxed)
    }

    /// Queues a data message for the client; it counts as activity.
    pub fn send(&self, message: Message) -> Result<(), QueueError> {
        self.outbound
            .try_send(Outbound::Send(message))
            .map_err(|err| match err {
                mpsc::error::TrySendError::Full(_) => QueueError::Full,
                mpsc::error::TrySendError::Closed(_) => QueueError::Closed,
            })?;
        self.touch();
        Ok(())
    }

    /// Asks the connection to close after what is already queued for it; a full queue (a
    /// client that stopped reading) is skipped instead, so a close never waits on the client.
    pub fn close(&self, how: Disconnect) {
        // Otherwise sent, or the task already ended (and then the socket is closed anyway).
        if let Err(mpsc::error::TrySendError::Full(Outbound::Close(how))) =
            self.outbound.try_send(Outbound::Close(how))
        {
            self.close_now(how);
        }
    }

    /// Asks the connection to close now, ahead of what is queued and without waiting for room
    /// (shutdown: a stalled client's full queue must not hold it up).
    pub fn close_now(&self, how: Disconnect) {
        let _ = self.stop.set(how);
        self.stop_signal.notify_one();
    }

    /// Completes when [`Self::close_now`] was called, with how to close.
    pub async fn stopped(&self) -> Disconnect {
        loop {
            if let Some(how) = self.stop.get() {
                return how.clone();
            }
            self.stop_signal.notified().await;
        }
    }

    /// Completes once the connection's task has ended (its end of the queue is gone).
    pub async fn ended(&self) {
        self.outbound.closed().await;
    }
}

#[derive(Default)]
pub struct Registry {
    connections: RwLock<HashMap<String, Arc<LiveConnection>>>,
}

impl Registry {
    pub fn insert(&self, connection: Arc<LiveConnection>) {
        self.write().insert(connection.id().to_owned(), connection);
    }

    pub fn get(&self, id: &str) -> Option<Arc<LiveConnection>> {
        self.read().get(id).cloned()
    }

    pub fn remove(&self, id: &str) -> Option<Arc<LiveConnection>> {
        self.write().remove(id)
    }

    /// Removes `connection` unless its id now names another one (or none: DELETE came first).
    pub fn remove_if_current(&self, connection: &Arc<LiveConnection>) {
        let mut connections = self.write();
        if connections
            .get(connection.id())
            .is_some_and(|registered| Arc::ptr_eq(registered, connection))
        {
            connections.remove(connection.id());
        }
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Every open connection, at one moment (the inspector's list).
    pub fn snapshot(&self) -> Vec<Arc<LiveConnection>> {
        self.read().values().cloned().collect()
    }

    // Every update is a single insert or remove, so a poisoned map is still consistent.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<LiveConnection>>> {
        self.connections
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<LiveConnection>>> {
        self.connections
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Registry {
    /// Removes and returns every connection (gateway shutdown).
    pub fn drain(&self) -> Vec<Arc<LiveConnection>> {
        self.write()
            .drain()
            .map(|(_, connection)| connection)
            .collect()
    }
}
