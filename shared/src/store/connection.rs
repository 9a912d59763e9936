use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// API Gateway closes every connection two hours after it opened.
pub const MAX_CONNECTION_DURATION_SECS: i64 = 2 * 60 * 60;

/// `$disconnect` is best effort, so rows carry an expiry: the longest a connection can live plus
/// a margin for clock skew and a late `$disconnect`.
pub const EXPIRY_MARGIN_SECS: i64 = 10 * 60;

/// What we know about one live connection, recorded at `$connect`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub connection_id: String,
    /// Epoch milliseconds, as in the event's `requestContext.connectedAt`.
    pub connected_at: i64,
    pub source_ip: String,
    pub user_agent: Option<String>,
    /// The `$connect` URL's query parameters (first value of each), e.g. `clientId`.
    pub query: BTreeMap<String, String>,
    /// Epoch seconds after which the row may be dropped (DynamoDB TTL attribute `expiresAt`).
    pub expires_at: i64,
    /// Who opened it, when an authorizer or token named a user (`principalId` / `sub`); lets a
    /// backend reach every connection of one user.
    pub user_id: Option<String>,
    /// The channels it is subscribed to. The store also indexes them by channel, so a channel's
    /// subscribers are found without scanning every connection.
    pub channels: BTreeSet<String>,
    /// The claims of its token that the deployment chose to keep (`JWT_CLAIMS`).
    pub claims: BTreeMap<String, String>,
    /// The channels its token allows (exact names or `prefix:*`); `None`: any channel (but
    /// other users' `user:` channels).
    pub channel_grants: Option<BTreeSet<String>>,
}

impl Connection {
    pub fn new(
        connection_id: impl Into<String>,
        connected_at: i64,
        source_ip: impl Into<String>,
    ) -> Self {
        Self {
            connection_id: connection_id.into(),
            connected_at,
            source_ip: source_ip.into(),
            user_agent: None,
            query: BTreeMap::new(),
            expires_at: connected_at.div_euclid(1000)
                + MAX_CONNECTION_DURATION_SECS
                + EXPIRY_MARGIN_SECS,
            user_id: None,
            channels: BTreeSet::new(),
            claims: BTreeMap::new(),
            channel_grants: None,
        }
    }

    /// The identifier the client chose for itself with `?clientId=…`, if any.
    pub fn client_id(&self) -> Option<&str> {
        self.query.get("clientId").map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_two_hours_and_a_margin_after_connect() {
        let connection = Connection::new("abc", 1_000_000, "127.0.0.1");
        assert_eq!(connection.expires_at, 1_000 + 7_200 + 600);
    }
}
