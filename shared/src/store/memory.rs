use super::{
    ChannelCounts, Connection, ConnectionPage, ConnectionStore, Segment, already_stored,
    not_stored, too_many_channels, too_many_connections,
};
use crate::Error;
use async_trait::async_trait;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The embedded store: sorted maps behind one lock, so a connection and its subscriptions always
/// change together. Sorted so that a page's cursor is simply the last id it returned, which
/// stays valid while connections come and go.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    tables: RwLock<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    connections: BTreeMap<String, Connection>,
    /// channel → its subscribers; a channel with none is removed.
    subscribers: BTreeMap<String, BTreeSet<String>>,
    /// connection → (rate window, messages in it).
    message_windows: std::collections::HashMap<String, (i64, u64)>,
    /// user → their connections, so the per-user limit and per-user delivery do not scan.
    by_user: std::collections::HashMap<String, BTreeSet<String>>,
    /// handshake attempt id → (the status it was refused with, expiry in epoch seconds).
    refused_handshakes: std::collections::HashMap<String, (u16, i64)>,
}

impl Tables {
    fn add_subscriptions(&mut self, connection_id: &str, channels: &BTreeSet<String>) {
        for channel in channels {
            self.subscribers
                .entry(channel.clone())
                .or_default()
                .insert(connection_id.to_owned());
        }
    }

    fn remove_subscriptions<'a>(
        &mut self,
        connection_id: &str,
        channels: impl IntoIterator<Item = &'a String>,
    ) {
        for channel in channels {
            if let Some(ids) = self.subscribers.get_mut(channel) {
                ids.remove(connection_id);
                if ids.is_empty() {
                    self.subscribers.remove(channel);
                }
            }
        }
    }
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    // A panic while holding the lock cannot leave the maps half-updated (no update calls out
    // while they are inconsistent), so a poisoned lock is still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl InMemoryStore {
    /// Counts the user's connections and inserts under one lock, so concurrent connects of one
    /// user cannot both pass the check.
    fn insert(&self, connection: Connection, max_per_user: Option<usize>) -> Result<(), Error> {
        let mut tables = self.write();
        if let (Some(user), Some(max)) = (connection.user_id.as_deref(), max_per_user) {
            let held = tables.by_user.get(user).map_or(0, BTreeSet::len);
            if held >= max {
                return Err(too_many_connections(user, max));
            }
        }
        match tables.connections.entry(connection.connection_id.clone()) {
            Entry::Vacant(slot) => {
                let id = connection.connection_id.clone();
                let channels = connection.channels.clone();
                let user = connection.user_id.clone();
                slot.insert(connection);
                tables.add_subscriptions(&id, &channels);
                if let Some(user) = user {
                    tables.by_user.entry(user).or_default().insert(id);
                }
                Ok(())
            }
            Entry::Occupied(_) => Err(already_stored(&connection.connection_id)),
        }
    }
}

/// The page of `ids` after `cursor`, at most `limit` long.
fn page_after<'a>(ids: impl Iterator<Item = &'a String>, limit: usize) -> ConnectionPage {
    let mut ids = ids;
    let connection_ids: Vec<String> = ids.by_ref().take(limit.max(1)).cloned().collect();
    let next_cursor = if ids.next().is_some() {
        connection_ids.last().cloned()
    } else {
        None
    };
    ConnectionPage {
        connection_ids,
        next_cursor,
    }
}

fn after(cursor: Option<&str>) -> (Bound<&str>, Bound<&str>) {
    (
        cursor.map_or(Bound::Unbounded, Bound::Excluded),
        Bound::Unbounded,
    )
}

#[async_trait]
impl ConnectionStore for InMemoryStore {
    async fn put(&self, connection: Connection) -> Result<(), Error> {
        self.insert(connection, None)
    }

    async fn put_limited(&self, connection: Connection, max_per_user: usize) -> Result<(), Error> {
        self.insert(connection, Some(max_per_user))
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, Error> {
        Ok(self.read().connections.get(connection_id).cloned())
    }

    async fn delete(&self, connection_id: &str) -> Result<bool, Error> {
        let mut tables = self.write();
        match tables.connections.remove(connection_id) {
            Some(removed) => {
                tables.remove_subscriptions(connection_id, &removed.channels);
                tables.message_windows.remove(connection_id);
                if let Some(user) = &removed.user_id
                    && let Some(ids) = tables.by_user.get_mut(user)
                {
                    ids.remove(connection_id);
                    if ids.is_empty() {
                        tables.by_user.remove(user);
                    }
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn list_page(
        &self,
        segment: Segment,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ConnectionPage, Error> {
        let tables = self.read();
        let ids = tables
            .connections
            .range::<str, _>(after(cursor))
            .map(|(id, _)| id)
            .filter(|id| segment.total <= 1 || segment_of(id, segment.total) == segment.index);
        Ok(page_after(ids, limit))
    }

    async fn count(&self) -> Result<u64, Error> {
        Ok(self.read().connections.len() as u64)
    }

    async fn subscribe(
        &self,
        connection_id: &str,
        channels: &BTreeSet<String>,
        max_channels: usize,
    ) -> Result<BTreeSet<String>, Error> {
        let mut tables = self.write();
        let connection = tables
            .connections
            .get_mut(connection_id)
            .ok_or_else(|| not_stored(connection_id))?;
        let wanted: BTreeSet<String> = connection.channels.union(channels).cloned().collect();
        if wanted.len() > max_channels {
            return Err(too_many_channels(max_channels));
        }
        connection.channels = wanted.clone();
        tables.add_subscriptions(connection_id, channels);
        Ok(wanted)
    }

    async fn unsubscribe(
        &self,
        connection_id: &str,
        channels: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, Error> {
        let mut tables = self.write();
        let connection = tables
            .connections
            .get_mut(connection_id)
            .ok_or_else(|| not_stored(connection_id))?;
        connection
            .channels
            .retain(|channel| !channels.contains(channel));
        let remaining = connection.channels.clone();
        tables.remove_subscriptions(connection_id, channels);
        Ok(remaining)
    }

    async fn list_subscribers(
        &self,
        channel: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ConnectionPage, Error> {
        let tables = self.read();
        Ok(match tables.subscribers.get(channel) {
            Some(ids) => page_after(ids.range::<str, _>(after(cursor)), limit),
            None => ConnectionPage::default(),
        })
    }

    async fn count_subscribers(&self, channel: &str) -> Result<u64, Error> {
        Ok(self
            .read()
            .subscribers
            .get(channel)
            .map_or(0, |ids| ids.len() as u64))
    }

    async fn channel_counts(&self, limit: usize) -> Result<ChannelCounts, Error> {
        let tables = self.read();
        Ok(ChannelCounts::top(
            tables
                .subscribers
                .iter()
                .map(|(channel, ids)| (channel.clone(), ids.len() as u64)),
            limit,
        ))
    }

    async fn record_message(&self, connection_id: &str, window: i64) -> Result<u64, Error> {
        let mut tables = self.write();
        if !tables.connections.contains_key(connection_id) {
            return Err(not_stored(connection_id));
        }
        let entry = tables
            .message_windows
            .entry(connection_id.to_owned())
            .or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        Ok(entry.1)
    }

    async fn connections_of_user(&self, user_id: &str) -> Result<Vec<String>, Error> {
        Ok(self
            .read()
            .by_user
            .get(user_id)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default())
    }

    async fn record_refused_handshake(
        &self,
        attempt_id: &str,
        status: u16,
        expires_at: i64,
    ) -> Result<(), Error> {
        let now = crate::time::now_epoch_ms().div_euclid(1000);
        let mut tables = self.write();
        // Expired records go as new ones come, so the map holds about a minute of refusals.
        tables
            .refused_handshakes
            .retain(|_, (_, until)| *until > now);
        tables
            .refused_handshakes
            .insert(attempt_id.to_owned(), (status, expires_at));
        Ok(())
    }

    async fn refused_handshake(&self, attempt_id: &str) -> Result<Option<u16>, Error> {
        let now = crate::time::now_epoch_ms().div_euclid(1000);
        Ok(self
            .read()
            .refused_handshakes
            .get(attempt_id)
            .filter(|(_, until)| *until > now)
            .map(|(status, _)| *status))
    }
}

/// A stable share for `id` (FNV-1a), so segments are disjoint and cover every id.
fn segment_of(id: &str, total: u32) -> u32 {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % u64::from(total)) as u32
}

/// The store contract, one test per check: `store::memory::in_memory::<check>`.
#[cfg(test)]
mod in_memory {
    crate::store_contract_tests!(|| async { super::InMemoryStore::new() });
}
