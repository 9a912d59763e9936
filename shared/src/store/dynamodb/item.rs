//! A connection as a DynamoDB item, and the keys of the three tables.

use crate::Error;
use crate::store::Connection;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub(super) const ID: &str = "connectionId";
pub(super) const CONNECTED_AT: &str = "connectedAt";
pub(super) const SOURCE_IP: &str = "sourceIp";
pub(super) const USER_AGENT: &str = "userAgent";
pub(super) const QUERY: &str = "query";
pub(super) const EXPIRES_AT: &str = "expiresAt";
pub(super) const USER_ID: &str = "userId";
pub(super) const CHANNELS: &str = "channels";
pub(super) const CHANNEL: &str = "channel";
pub(super) const BY_USER_INDEX: &str = "byUser";
pub(super) const CLAIMS: &str = "claims";
pub(super) const CHANNEL_GRANTS: &str = "channelGrants";
pub(super) const USER_SLOT: &str = "userSlot";
pub(super) const SLOT: &str = "slot";
pub(super) const RATE_WINDOW: &str = "rateWindow";
pub(super) const RATE_COUNT: &str = "rateCount";

pub(super) fn to_item(connection: &Connection) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (
            ID.to_owned(),
            AttributeValue::S(connection.connection_id.clone()),
        ),
        (
            CONNECTED_AT.to_owned(),
            AttributeValue::N(connection.connected_at.to_string()),
        ),
        (
            SOURCE_IP.to_owned(),
            AttributeValue::S(connection.source_ip.clone()),
        ),
        (
            EXPIRES_AT.to_owned(),
            AttributeValue::N(connection.expires_at.to_string()),
        ),
    ]);
    if let Some(user_agent) = &connection.user_agent {
        item.insert(USER_AGENT.to_owned(), AttributeValue::S(user_agent.clone()));
    }
    if let Some(user_id) = &connection.user_id {
        item.insert(USER_ID.to_owned(), AttributeValue::S(user_id.clone()));
    }
    if !connection.claims.is_empty() {
        let claims = connection
            .claims
            .iter()
            .map(|(name, value)| (name.clone(), AttributeValue::S(value.clone())))
            .collect();
        item.insert(CLAIMS.to_owned(), AttributeValue::M(claims));
    }
    // A list, not a set: an empty grant list (only the user's own channel) must be storable.
    if let Some(grants) = &connection.channel_grants {
        let grants = grants.iter().cloned().map(AttributeValue::S).collect();
        item.insert(CHANNEL_GRANTS.to_owned(), AttributeValue::L(grants));
    }
    // DynamoDB has no empty sets: no channels, no attribute.
    if !connection.channels.is_empty() {
        item.insert(CHANNELS.to_owned(), string_set(&connection.channels));
    }
    if !connection.query.is_empty() {
        let query = connection
            .query
            .iter()
            .map(|(name, value)| (name.clone(), AttributeValue::S(value.clone())))
            .collect();
        item.insert(QUERY.to_owned(), AttributeValue::M(query));
    }
    item
}

pub(super) fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Connection, Error> {
    let text = |name: &str| item.get(name).and_then(|value| value.as_s().ok()).cloned();
    let number = |name: &str| {
        item.get(name)
            .and_then(|value| value.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
    };
    let malformed =
        |what: &str| Error::StoreUnavailable(format!("malformed connection item: {what}"));
    let query: BTreeMap<String, String> = match item.get(QUERY) {
        Some(AttributeValue::M(map)) => map
            .iter()
            .filter_map(|(name, value)| value.as_s().ok().map(|v| (name.clone(), v.clone())))
            .collect(),
        _ => BTreeMap::new(),
    };
    Ok(Connection {
        connection_id: text(ID).ok_or_else(|| malformed(ID))?,
        connected_at: number(CONNECTED_AT).ok_or_else(|| malformed(CONNECTED_AT))?,
        source_ip: text(SOURCE_IP).unwrap_or_default(),
        user_agent: text(USER_AGENT),
        query,
        expires_at: number(EXPIRES_AT).ok_or_else(|| malformed(EXPIRES_AT))?,
        user_id: text(USER_ID),
        channels: channels_of(item),
        claims: match item.get(CLAIMS) {
            Some(AttributeValue::M(map)) => map
                .iter()
                .filter_map(|(name, value)| value.as_s().ok().map(|v| (name.clone(), v.clone())))
                .collect(),
            _ => BTreeMap::new(),
        },
        channel_grants: match item.get(CHANNEL_GRANTS) {
            Some(AttributeValue::L(grants)) => Some(
                grants
                    .iter()
                    .filter_map(|grant| grant.as_s().ok().cloned())
                    .collect(),
            ),
            _ => None,
        },
    })
}

pub(super) fn channels_of(item: &HashMap<String, AttributeValue>) -> BTreeSet<String> {
    match item.get(CHANNELS) {
        Some(AttributeValue::Ss(channels)) => channels.iter().cloned().collect(),
        _ => BTreeSet::new(),
    }
}

pub(super) fn string_set<'a>(values: impl IntoIterator<Item = &'a String>) -> AttributeValue {
    AttributeValue::Ss(values.into_iter().cloned().collect())
}

pub(super) fn connection_key(connection_id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(ID.to_owned(), AttributeValue::S(connection_id.to_owned()))])
}

pub(super) fn subscription_key(
    channel: &str,
    connection_id: &str,
) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (CHANNEL.to_owned(), AttributeValue::S(channel.to_owned())),
        (ID.to_owned(), AttributeValue::S(connection_id.to_owned())),
    ])
}

pub(super) fn id_of(item: &HashMap<String, AttributeValue>) -> Option<String> {
    item.get(ID).and_then(|id| id.as_s().ok()).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::sample_connection;

    #[test]
    fn items_round_trip() {
        let mut connection = sample_connection("Vb7rKfZ-joECH_A=");
        assert_eq!(from_item(&to_item(&connection)).unwrap(), connection);
        connection.user_id = Some("user-7".into());
        connection.channels = ["news".to_string(), "post:42".to_string()].into();
        connection.claims = [("email".to_string(), "ada@example.com".to_string())].into();
        connection.channel_grants = Some(Default::default());
        let item = to_item(&connection);
        assert_eq!(
            item[EXPIRES_AT],
            AttributeValue::N(connection.expires_at.to_string())
        );
        assert_eq!(from_item(&item).unwrap(), connection);
    }
}
