//! Where connection ids live. The trait is the seam between the handlers and a backend: the
//! in-memory store (the local gateway's embedded default) and DynamoDB in production.

mod connection;
mod memory;

#[cfg(any(test, feature = "test-support"))]
pub mod contract;

pub use connection::Connection;
pub use memory::InMemoryStore;

use crate::Error;
use async_trait::async_trait;

/// One page of a listing: ids only, because a broadcast needs nothing else.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionPage {
    pub connection_ids: Vec<String>,
    /// Opaque; pass it back to get the next page. `None` when the listing is complete.
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait ConnectionStore: Send + Sync + 'static {
    /// Records a connection, replacing any row with the same id.
    async fn put(&self, connection: Connection) -> Result<(), Error>;

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, Error>;

    /// Removes a connection. Idempotent: `$disconnect` is best effort and may race a 410 cleanup,
    /// so removing an absent id succeeds. Returns whether a row was removed.
    async fn delete(&self, connection_id: &str) -> Result<bool, Error>;

    /// Lists at most `limit` ids after `cursor`. Every id stored before the listing started and
    /// not removed during it appears exactly once across the pages.
    async fn list_page(&self, cursor: Option<&str>, limit: usize) -> Result<ConnectionPage, Error>;

    async fn count(&self) -> Result<u64, Error>;
}

/// `CONNECTION_STORE`: which store a Lambda binary uses. `memory` (only meaningful when one
/// process serves every route, as the local gateway does) is the one available so far.
pub const STORE_ENV: &str = "CONNECTION_STORE";

/// Builds the store named by [`STORE_ENV`] (default `memory`), once per cold start.
pub fn from_env() -> Result<std::sync::Arc<dyn ConnectionStore>, Error> {
    let kind = std::env::var(STORE_ENV).unwrap_or_else(|_| "memory".into());
    match kind.as_str() {
        "memory" => Ok(std::sync::Arc::new(InMemoryStore::new())),
        other => Err(Error::Config(format!(
            "{STORE_ENV}={other:?} is not a known store; use \"memory\""
        ))),
    }
}
