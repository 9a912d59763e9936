use super::{Connection, ConnectionPage, ConnectionStore, Segment};
use crate::Error;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::ops::Bound;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The embedded store: a sorted map behind a lock. Sorted so that a page's cursor is simply the
/// last id it returned, which stays valid while connections come and go.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    connections: RwLock<BTreeMap<String, Connection>>,
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    // A panic while holding the lock cannot leave the map half-updated (every update is one
    // insert or remove), so a poisoned lock is still safe to use.
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Connection>> {
        self.connections
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Connection>> {
        self.connections
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl ConnectionStore for InMemoryStore {
    async fn put(&self, connection: Connection) -> Result<(), Error> {
        match self.write().entry(connection.connection_id.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(connection);
                Ok(())
            }
            Entry::Occupied(_) => Err(Error::Conflict(format!(
                "connection {} is already stored",
                connection.connection_id
            ))),
        }
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, Error> {
        Ok(self.read().get(connection_id).cloned())
    }

    async fn delete(&self, connection_id: &str) -> Result<bool, Error> {
        Ok(self.write().remove(connection_id).is_some())
    }

    async fn list_page(
        &self,
        segment: Segment,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ConnectionPage, Error> {
        let limit = limit.max(1);
        let connections = self.read();
        let start = cursor.map_or(Bound::Unbounded, Bound::Excluded);
        let mut ids = connections
            .range::<str, _>((start, Bound::Unbounded))
            .map(|(id, _)| id)
            .filter(|id| segment.total <= 1 || segment_of(id, segment.total) == segment.index);
        let connection_ids: Vec<String> = ids.by_ref().take(limit).cloned().collect();
        let more = ids.next().is_some();
        let next_cursor = if more {
            connection_ids.last().cloned()
        } else {
            None
        };
        Ok(ConnectionPage {
            connection_ids,
            next_cursor,
        })
    }

    async fn count(&self) -> Result<u64, Error> {
        Ok(self.read().len() as u64)
    }
}

/// A stable share for `id` (FNV-1a), so segments are disjoint and cover every id.
fn segment_of(id: &str, total: u32) -> u32 {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % u64::from(total)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract;

    #[tokio::test]
    async fn in_memory_store_passes_the_store_contract() {
        contract::run_all(|| async { InMemoryStore::new() }).await;
    }
}
