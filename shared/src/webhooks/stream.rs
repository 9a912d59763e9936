//! DynamoDB Streams records of the connections and subscriptions tables, read as
//! [`StoreChange`]s. The connections table streams NEW_AND_OLD_IMAGES: an INSERT carries the
//! new row, a REMOVE the old one. A REMOVE made by TTL carries `userIdentity` `{"type":
//! "Service", "principalId": "dynamodb.amazonaws.com"}`: the connection vanished without
//! `$disconnect`. `$disconnect` writes the close code and reason onto the row just before
//! deleting it ([`CLOSE_CODE`], [`CLOSE_REASON`]), so its REMOVE carries them.

use super::changes::StoreChange;
use super::event::Closing;
use crate::Error;
use crate::store::Connection;
use aws_lambda_events::dynamodb::EventRecord;
use serde_json::Value;

/// Attributes `$disconnect` sets on the row before removing it, for `client.disconnected`.
pub const CLOSE_CODE: &str = "closeCode";
pub const CLOSE_REASON: &str = "closeReason";

/// The principal of deletions made by DynamoDB's TTL.
const TTL_PRINCIPAL: &str = "dynamodb.amazonaws.com";

/// The change one record describes; `None` for records that make no event (MODIFY).
pub fn change_from_record(record: &EventRecord) -> Result<Option<StoreChange>, Error> {
    let id = format!("evt_{}", record.event_id);
    fn json(item: &impl serde::Serialize, event_id: &str) -> Result<Value, Error> {
        serde_json::to_value(item).map_err(|err| malformed(event_id, &err.to_string()))
    }
    let image = |item| json(item, &record.event_id);
    let keys = image(&record.change.keys)?;
    let added = match record.event_name.as_str() {
        "INSERT" => true,
        "REMOVE" => false,
        _ => return Ok(None),
    };
    if let Some(channel) = string(&keys, "channel") {
        return Ok(Some(StoreChange::Subscription { id, channel, added }));
    }
    if added {
        let row = image(&record.change.new_image)?;
        let connection = connection_from_image(&row)
            .ok_or_else(|| malformed(&record.event_id, "INSERT without a connection's NewImage"))?;
        return Ok(Some(StoreChange::ConnectionAdded { id, connection }));
    }
    let row = image(&record.change.old_image)?;
    let connection = connection_from_image(&row)
        .ok_or_else(|| malformed(&record.event_id, "REMOVE without a connection's OldImage"))?;
    let expired = record
        .user_identity
        .as_ref()
        .is_some_and(|who| who.principal_id == TTL_PRINCIPAL);
    let closing = Closing {
        code: number(&row, CLOSE_CODE),
        reason: string(&row, CLOSE_REASON),
        expired,
    };
    let at_ms = record
        .change
        .approximate_creation_date_time
        .timestamp_millis();
    Ok(Some(StoreChange::ConnectionRemoved {
        id,
        connection,
        closing,
        at_ms,
    }))
}

fn malformed(event_id: &str, problem: &str) -> Error {
    Error::MalformedEvent(format!("stream record {event_id}: {problem}"))
}

/// The fields of a connection row (see README "Connection storage") an event needs.
fn connection_from_image(row: &Value) -> Option<Connection> {
    let id = string(row, "connectionId")?;
    let mut connection = Connection::new(id, number(row, "connectedAt").unwrap_or(0), "");
    connection.source_ip = string(row, "sourceIp").unwrap_or_default();
    connection.user_id = string(row, "userId");
    if let Some(query) = row
        .get("query")
        .and_then(|q| q.get("M"))
        .and_then(Value::as_object)
    {
        for (name, value) in query {
            if let Some(text) = value.get("S").and_then(Value::as_str) {
                connection.query.insert(name.clone(), text.to_owned());
            }
        }
    }
    if let Some(channels) = row
        .get("channels")
        .and_then(|c| c.get("SS"))
        .and_then(Value::as_array)
    {
        connection.channels = channels
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
    }
    Some(connection)
}

fn string(item: &Value, name: &str) -> Option<String> {
    item.get(name)?.get("S")?.as_str().map(str::to_owned)
}

fn number(item: &Value, name: &str) -> Option<i64> {
    item.get(name)?.get("N")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(value: Value) -> EventRecord {
        serde_json::from_value(value).expect("a stream record")
    }

    #[test]
    fn a_ttl_remove_is_an_expired_disconnect_with_the_old_row() {
        let change = change_from_record(&record(json!({
            "eventID": "c4ca4238a0b923820dcc509a6f75849b",
            "eventName": "REMOVE",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
            "dynamodb": {
                "ApproximateCreationDateTime": 1_721_820_000.0,
                "Keys": {"connectionId": {"S": "Vb7rKfZ-joECH_A="}},
                "OldImage": {
                    "connectionId": {"S": "Vb7rKfZ-joECH_A="},
                    "connectedAt": {"N": "1721812502117"},
                    "userId": {"S": "alice"},
                    "query": {"M": {"clientId": {"S": "tab-1"}}},
                    "channels": {"SS": ["news"]}
                },
                "SequenceNumber": "111",
                "SizeBytes": 26,
                "StreamViewType": "NEW_AND_OLD_IMAGES"
            }
        })))
        .unwrap()
        .unwrap();
        let StoreChange::ConnectionRemoved {
            id,
            connection,
            closing,
            at_ms,
        } = change
        else {
            panic!("a removal: {change:?}");
        };
        assert_eq!(id, "evt_c4ca4238a0b923820dcc509a6f75849b");
        assert!(closing.expired);
        assert_eq!(closing.code, None);
        assert_eq!(connection.user_id.as_deref(), Some("alice"));
        assert_eq!(connection.client_id(), Some("tab-1"));
        assert_eq!(at_ms, 1_721_820_000_000);
    }

    #[test]
    fn modify_records_make_nothing_and_subscriptions_name_their_channel() {
        let modify = record(json!({
            "eventID": "1", "awsRegion": "us-east-1", "eventName": "MODIFY",
            "dynamodb": {"Keys": {"connectionId": {"S": "a"}}, "SizeBytes": 1}
        }));
        assert_eq!(change_from_record(&modify).unwrap(), None);
        let subscribed = record(json!({
            "eventID": "2", "awsRegion": "us-east-1", "eventName": "INSERT",
            "dynamodb": {"Keys": {"channel": {"S": "news"}, "connectionId": {"S": "a"}}, "SizeBytes": 1}
        }));
        assert_eq!(
            change_from_record(&subscribed).unwrap(),
            Some(StoreChange::Subscription {
                id: "evt_2".into(),
                channel: "news".into(),
                added: true
            })
        );
        let broken = record(json!({
            "eventID": "3", "awsRegion": "us-east-1", "eventName": "INSERT",
            "dynamodb": {"Keys": {"connectionId": {"S": "a"}}, "SizeBytes": 1}
        }));
        assert!(change_from_record(&broken).is_err());
    }
}
