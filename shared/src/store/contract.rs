//! The behaviour every [`ConnectionStore`] must have: one check per promise, each a function that
//! panics when its store breaks it, like any test assertion. Each implementation runs them all
//! against itself through [`store_contract_tests!`](crate::store_contract_tests), one test per
//! check.

use super::{ChannelCounts, Connection, ConnectionStore, Segment};
use crate::Error;
use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::sync::Arc;

/// One `#[tokio::test]` per check, each on a fresh store from `$new_store` (a closure returning
/// a future of an empty store), so that `cargo test` names the promise a store broke, e.g.
/// `on_dynamodb_local::concurrent_subscribes_never_exceed_the_bound ... FAILED`. Invoke it in a
/// module named after the store.
#[macro_export]
macro_rules! store_contract_tests {
    ($new_store:expr) => {
        $crate::store_contract_tests!(@checks $new_store;
            put_get_delete_round_trip,
            delete_is_idempotent,
            put_refuses_an_id_that_is_already_stored,
            listing_is_complete_across_pages,
            listing_is_complete_across_segments,
            listing_survives_deletes_between_pages,
            concurrent_connects_and_disconnects_leave_exact_counts,
            subscriptions_are_found_by_channel,
            subscribing_needs_a_stored_connection,
            channels_per_connection_are_bounded,
            put_subscribes_to_the_connections_channels,
            delete_removes_the_connections_subscriptions,
            channel_listing_is_complete_across_pages,
            channel_counts_are_ordered_and_capped,
            connections_are_found_by_user,
            concurrent_subscribes_never_exceed_the_bound,
            connections_per_user_are_bounded_under_concurrent_connects,
            a_closed_connection_frees_its_users_slot,
            messages_are_counted_per_rate_window,
            identity_fields_round_trip,
            refused_handshakes_are_kept_until_they_expire,
        );
    };
    (@checks $new_store:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let new_store = $new_store;
                $crate::store::contract::$check(new_store().await).await;
            }
        )*
    };
}

/// A connection of `user` made now: a user's slot is held until its connection could have
/// expired, so these rows must not be from the past.
fn of_user(id: &str, user: &str) -> Connection {
    let mut connection = Connection::new(id, crate::time::now_epoch_ms(), "198.51.100.23");
    connection.user_id = Some(user.to_owned());
    connection
}

pub async fn connections_per_user_are_bounded_under_concurrent_connects<S: ConnectionStore>(
    store: S,
) {
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .put_limited(of_user(&format!("ada-{i:02}"), "ada"), 5)
                    .await
            })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => accepted += 1,
            Err(Error::LimitExceeded(_)) => {}
            Err(other) => panic!("unexpected: {other}"),
        }
    }
    assert!((1..=5).contains(&accepted), "accepted {accepted}");
    let held = store.connections_of_user("ada").await.unwrap().len();
    assert_eq!(
        held, accepted,
        "exactly the accepted connections are stored"
    );
    // Fill up one by one: five hold, and the sixth is refused with nothing stored.
    for i in accepted..5 {
        store
            .put_limited(of_user(&format!("ada-late-{i}"), "ada"), 5)
            .await
            .unwrap();
    }
    let refused = store
        .put_limited(of_user("ada-sixth", "ada"), 5)
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::LimitExceeded(_)), "{refused}");
    assert_eq!(store.get("ada-sixth").await.unwrap(), None);
    assert_eq!(store.connections_of_user("ada").await.unwrap().len(), 5);
    // Other users and anonymous connections are not affected.
    store.put_limited(of_user("bob-1", "bob"), 5).await.unwrap();
    store
        .put_limited(sample_connection("anonymous"), 5)
        .await
        .unwrap();
}

pub async fn a_closed_connection_frees_its_users_slot(store: impl ConnectionStore) {
    let store = &store;
    store.put_limited(of_user("a1", "ada"), 2).await.unwrap();
    let mut with_channels = of_user("a2", "ada");
    with_channels.channels = channels(&["news"]);
    store.put_limited(with_channels, 2).await.unwrap();
    assert_eq!(store.count_subscribers("news").await.unwrap(), 1);
    assert!(store.put_limited(of_user("a3", "ada"), 2).await.is_err());

    assert!(store.delete("a1").await.unwrap());

    store.put_limited(of_user("a3", "ada"), 2).await.unwrap();
    assert!(store.put_limited(of_user("a4", "ada"), 2).await.is_err());
    let refused = store
        .put_limited(of_user("a3", "ada"), 3)
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::Conflict(_)), "{refused}");
}

pub async fn messages_are_counted_per_rate_window(store: impl ConnectionStore) {
    let store = &store;
    store.put(sample_connection("chatty")).await.unwrap();
    for expected in 1..=3 {
        assert_eq!(store.record_message("chatty", 100).await.unwrap(), expected);
    }
    assert_eq!(
        store.record_message("chatty", 101).await.unwrap(),
        1,
        "a new window starts over"
    );
    assert_eq!(store.record_message("chatty", 101).await.unwrap(), 2);
    let refused = store.record_message("ghost", 101).await.unwrap_err();
    assert!(matches!(refused, Error::NotFound(_)), "{refused}");
    assert_eq!(
        store.get("ghost").await.unwrap(),
        None,
        "no row was created"
    );
    store.delete("chatty").await.unwrap();
    assert!(store.record_message("chatty", 101).await.is_err());
}

pub async fn identity_fields_round_trip(store: impl ConnectionStore) {
    let store = &store;
    let mut connection = of_user("who", "ada");
    connection.claims = [("email".to_string(), "ada@example.com".to_string())].into();
    connection.channel_grants = Some(channels(&[]));
    store.put(connection.clone()).await.unwrap();
    assert_eq!(store.get("who").await.unwrap(), Some(connection));
    let mut open = of_user("open", "bob");
    open.channel_grants = Some(channels(&["news", "post:*"]));
    store.put(open.clone()).await.unwrap();
    assert_eq!(store.get("open").await.unwrap(), Some(open));
}

pub async fn refused_handshakes_are_kept_until_they_expire(store: impl ConnectionStore) {
    let store = &store;
    let now = crate::time::now_epoch_ms().div_euclid(1000);
    assert_eq!(
        store.refused_handshake("never-recorded-01").await.unwrap(),
        None
    );
    store
        .record_refused_handshake("attempt-401-00001", 401, now + 60)
        .await
        .unwrap();
    store
        .record_refused_handshake("attempt-429-00001", 429, now + 60)
        .await
        .unwrap();
    assert_eq!(
        store.refused_handshake("attempt-401-00001").await.unwrap(),
        Some(401)
    );
    assert_eq!(
        store.refused_handshake("attempt-429-00001").await.unwrap(),
        Some(429)
    );
    store
        .record_refused_handshake("attempt-expired-01", 403, now - 1)
        .await
        .unwrap();
    assert_eq!(
        store.refused_handshake("attempt-expired-01").await.unwrap(),
        None,
        "an expired record is as good as gone"
    );
    // They are no connections, and take no user's slot.
    assert_eq!(store.count().await.unwrap(), 0);
    assert!(list_segment(store, Segment::WHOLE, 10).await.is_empty());
    store
        .put_limited(of_user("slot-0", "handshake"), 1)
        .await
        .unwrap();
}

pub fn channels(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// Every subscriber of `channel`, following the cursor.
pub async fn subscribers(
    store: &(impl ConnectionStore + ?Sized),
    channel: &str,
    page_size: usize,
) -> Vec<String> {
    follow_cursor(page_size, |cursor| async move {
        store
            .list_subscribers(channel, cursor.as_deref(), page_size)
            .await
    })
    .await
}

/// Fetches pages through `next` until the cursor runs out, checking each page's size.
async fn follow_cursor<F, Fut>(page_size: usize, mut next: F) -> Vec<String>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<super::ConnectionPage, Error>>,
{
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = next(cursor.take()).await.unwrap();
        assert!(
            page.connection_ids.len() <= page_size,
            "page larger than asked"
        );
        ids.extend(page.connection_ids);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
}

pub async fn subscriptions_are_found_by_channel(store: impl ConnectionStore) {
    let store = &store;
    store.put(sample_connection("a")).await.unwrap();
    store.put(sample_connection("b")).await.unwrap();
    assert_eq!(
        store
            .subscribe("a", &channels(&["post:42", "news"]), 10)
            .await
            .unwrap(),
        channels(&["news", "post:42"])
    );
    store
        .subscribe("b", &channels(&["post:42"]), 10)
        .await
        .unwrap();
    assert_eq!(
        store.get("a").await.unwrap().unwrap().channels,
        channels(&["news", "post:42"]),
        "the connection knows its channels"
    );
    let mut post = subscribers(store, "post:42", 10).await;
    post.sort();
    assert_eq!(post, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(store.count_subscribers("post:42").await.unwrap(), 2);
    assert_eq!(store.count_subscribers("news").await.unwrap(), 1);
    assert_eq!(store.count_subscribers("nobody-here").await.unwrap(), 0);
    assert!(subscribers(store, "nobody-here", 10).await.is_empty());

    // Resubscribing changes nothing; unsubscribing ignores channels it is not in.
    store
        .subscribe("a", &channels(&["news"]), 10)
        .await
        .unwrap();
    assert_eq!(store.count_subscribers("news").await.unwrap(), 1);
    assert_eq!(
        store
            .unsubscribe("a", &channels(&["post:42", "never-joined"]))
            .await
            .unwrap(),
        channels(&["news"])
    );
    assert_eq!(
        subscribers(store, "post:42", 10).await,
        vec!["b".to_string()]
    );
    assert_eq!(
        store.channel_counts(10).await.unwrap(),
        ChannelCounts {
            channels: vec![("news".into(), 1), ("post:42".into(), 1)],
            total_channels: 2
        }
    );
    assert_eq!(
        store.count().await.unwrap(),
        2,
        "subscriptions are not connections"
    );
}

pub async fn subscribing_needs_a_stored_connection(store: impl ConnectionStore) {
    let store = &store;
    let refused = store
        .subscribe("ghost", &channels(&["news"]), 10)
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::NotFound(_)), "{refused}");
    let refused = store
        .unsubscribe("ghost", &channels(&["news"]))
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::NotFound(_)), "{refused}");
    assert_eq!(store.count_subscribers("news").await.unwrap(), 0);
    assert_eq!(
        store.get("ghost").await.unwrap(),
        None,
        "no row was created"
    );
}

pub async fn channels_per_connection_are_bounded(store: impl ConnectionStore) {
    let store = &store;
    store.put(sample_connection("a")).await.unwrap();
    store
        .subscribe("a", &channels(&["c1", "c2"]), 3)
        .await
        .unwrap();
    let refused = store
        .subscribe("a", &channels(&["c3", "c4"]), 3)
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::LimitExceeded(_)), "{refused}");
    assert_eq!(
        store.get("a").await.unwrap().unwrap().channels,
        channels(&["c1", "c2"]),
        "a refused subscribe changes nothing"
    );
    assert_eq!(store.count_subscribers("c3").await.unwrap(), 0);
    // Only new channels count against the bound.
    assert_eq!(
        store
            .subscribe("a", &channels(&["c2", "c3"]), 3)
            .await
            .unwrap(),
        channels(&["c1", "c2", "c3"])
    );
}

pub async fn put_subscribes_to_the_connections_channels(store: impl ConnectionStore) {
    let store = &store;
    let mut connection = sample_connection("a");
    connection.channels = channels(&["p", "q"]);
    store.put(connection.clone()).await.unwrap();
    assert_eq!(store.get("a").await.unwrap(), Some(connection));
    assert_eq!(store.count_subscribers("p").await.unwrap(), 1);
    assert_eq!(store.count_subscribers("q").await.unwrap(), 1);

    let mut replayed = sample_connection("a");
    replayed.channels = channels(&["r"]);
    let refused = store.put(replayed).await.unwrap_err();
    assert!(matches!(refused, Error::Conflict(_)), "{refused}");
    assert_eq!(
        store.count_subscribers("r").await.unwrap(),
        0,
        "a refused put subscribes to nothing"
    );
}

pub async fn delete_removes_the_connections_subscriptions(store: impl ConnectionStore) {
    let store = &store;
    store.put(sample_connection("a")).await.unwrap();
    store.put(sample_connection("b")).await.unwrap();
    store
        .subscribe("a", &channels(&["x", "y"]), 10)
        .await
        .unwrap();
    store.subscribe("b", &channels(&["x"]), 10).await.unwrap();
    assert!(store.delete("a").await.unwrap());
    assert_eq!(subscribers(store, "x", 10).await, vec!["b".to_string()]);
    assert_eq!(store.count_subscribers("y").await.unwrap(), 0);
    assert_eq!(
        store.channel_counts(10).await.unwrap(),
        ChannelCounts {
            channels: vec![("x".into(), 1)],
            total_channels: 1
        }
    );
}

pub async fn channel_listing_is_complete_across_pages(store: impl ConnectionStore) {
    let store = &store;
    let (total, page_size) = (2_500, 100);
    use futures::StreamExt;
    let expected: HashSet<String> = (0..total).map(|i| format!("sub-{i:05}")).collect();
    futures::stream::iter(&expected)
        .for_each_concurrent(32, |id| async move {
            let mut connection = sample_connection(id);
            connection.channels = channels(&["crowded"]);
            store.put(connection).await.unwrap();
        })
        .await;
    store.put(sample_connection("elsewhere")).await.unwrap();
    store
        .subscribe("elsewhere", &channels(&["quiet"]), 10)
        .await
        .unwrap();
    let listed = subscribers(store, "crowded", page_size).await;
    assert_eq!(listed.len(), total, "no subscriber listed twice");
    assert_eq!(listed.into_iter().collect::<HashSet<_>>(), expected);
    assert_eq!(
        store.count_subscribers("crowded").await.unwrap(),
        total as u64
    );
}

pub async fn channel_counts_are_ordered_and_capped(store: impl ConnectionStore) {
    let store = &store;
    for (id, joined) in [
        ("a", &["c1", "c2", "c3"][..]),
        ("b", &["c1", "c2"][..]),
        ("c", &["c1"][..]),
    ] {
        store.put(sample_connection(id)).await.unwrap();
        store.subscribe(id, &channels(joined), 10).await.unwrap();
    }
    assert_eq!(
        store.channel_counts(2).await.unwrap(),
        ChannelCounts {
            channels: vec![("c1".into(), 3), ("c2".into(), 2)],
            total_channels: 3
        }
    );
}

pub async fn connections_are_found_by_user(store: impl ConnectionStore) {
    let store = &store;
    for (id, user) in [
        ("a", Some("u1")),
        ("b", Some("u1")),
        ("c", Some("u2")),
        ("d", None),
    ] {
        let mut connection = sample_connection(id);
        connection.user_id = user.map(str::to_owned);
        store.put(connection).await.unwrap();
    }
    let mut of_u1 = store.connections_of_user("u1").await.unwrap();
    of_u1.sort();
    assert_eq!(of_u1, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(
        store.connections_of_user("u2").await.unwrap(),
        vec!["c".to_string()]
    );
    assert!(
        store
            .connections_of_user("nobody")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.get("a").await.unwrap().unwrap().user_id.as_deref(),
        Some("u1")
    );
}

pub async fn concurrent_subscribes_never_exceed_the_bound<S: ConnectionStore>(store: S) {
    let store = Arc::new(store);
    store.put(sample_connection("busy")).await.unwrap();
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .subscribe("busy", &channels(&[&format!("ch-{i:02}")]), 5)
                    .await
            })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => accepted += 1,
            // Over the bound is the only refusal: a store retries a write that lost a race.
            Err(Error::LimitExceeded(_)) => {}
            Err(other) => panic!("unexpected: {other}"),
        }
    }
    // Channels are only added, so a subscribe is refused only once five are in: twelve
    // distinct channels fill the bound exactly.
    assert_eq!(accepted, 5, "every subscribe within the bound is accepted");
    let joined = store.get("busy").await.unwrap().unwrap().channels;
    assert!(joined.len() <= 5, "bound held: {joined:?}");
    assert_eq!(
        joined.len(),
        accepted,
        "every accepted subscribe is recorded"
    );
    let indexed: BTreeSet<String> = store
        .channel_counts(100)
        .await
        .unwrap()
        .channels
        .into_iter()
        .map(|(channel, _)| channel)
        .collect();
    assert_eq!(indexed, joined, "the index agrees with the connection");
}

pub fn sample_connection(id: &str) -> Connection {
    // Connected now: a row whose `expiresAt` (connected + 2 h 10 min) is past may be deleted by
    // DynamoDB Local's TTL sweep at any moment of a test, as DynamoDB would delete it.
    let mut connection = Connection::new(id, crate::time::now_epoch_ms(), "198.51.100.23");
    connection.user_agent = Some("contract-test".into());
    connection
        .query
        .insert("clientId".into(), format!("client-{id}"));
    connection
}

pub async fn put_get_delete_round_trip(store: impl ConnectionStore) {
    let store = &store;
    assert_eq!(store.count().await.unwrap(), 0);
    let connection = sample_connection("Vb7rKfZ-joECH_A=");
    store.put(connection.clone()).await.unwrap();

    let stored = store
        .get("Vb7rKfZ-joECH_A=")
        .await
        .unwrap()
        .expect("stored row");
    assert_eq!(stored, connection);
    assert_eq!(stored.client_id(), Some("client-Vb7rKfZ-joECH_A="));
    assert_eq!(
        stored.expires_at, connection.expires_at,
        "TTL attribute kept"
    );
    assert!(stored.expires_at > stored.connected_at / 1000 + 7_200);
    assert_eq!(store.count().await.unwrap(), 1);

    assert!(store.delete("Vb7rKfZ-joECH_A=").await.unwrap());
    assert_eq!(store.get("Vb7rKfZ-joECH_A=").await.unwrap(), None);
    assert_eq!(store.count().await.unwrap(), 0);
}

pub async fn delete_is_idempotent(store: impl ConnectionStore) {
    let store = &store;
    store.put(sample_connection("a")).await.unwrap();
    assert!(store.delete("a").await.unwrap());
    assert!(
        !store.delete("a").await.unwrap(),
        "second delete removes nothing"
    );
    assert!(!store.delete("never-existed").await.unwrap());
}

pub async fn put_refuses_an_id_that_is_already_stored(store: impl ConnectionStore) {
    let store = &store;
    let original = sample_connection("a");
    store.put(original.clone()).await.unwrap();
    let mut replacement = sample_connection("a");
    replacement.source_ip = "203.0.113.9".into();
    let refused = store.put(replacement).await.unwrap_err();
    assert!(matches!(refused, crate::Error::Conflict(_)), "{refused}");
    assert_eq!(store.count().await.unwrap(), 1);
    assert_eq!(
        store.get("a").await.unwrap(),
        Some(original),
        "the first row is kept"
    );
}

pub async fn listing_is_complete_across_pages(store: impl ConnectionStore) {
    let store = &store;
    let (total, page_size) = (2_600, 100);
    let expected: HashSet<String> = (0..total).map(|i| format!("conn-{i:05}")).collect();
    put_all(store, &expected).await;
    let listed = list_segment(store, Segment::WHOLE, page_size).await;
    assert_eq!(listed.len(), total, "no id listed twice");
    assert_eq!(listed.into_iter().collect::<HashSet<_>>(), expected);
    assert_eq!(store.count().await.unwrap(), total as u64);
}

pub async fn listing_survives_deletes_between_pages(store: impl ConnectionStore) {
    let store = &store;
    for i in 0..50 {
        store
            .put(sample_connection(&format!("conn-{i:03}")))
            .await
            .unwrap();
    }
    let first = store.list_page(Segment::WHOLE, None, 10).await.unwrap();
    assert_eq!(first.connection_ids.len(), 10);
    // Remove the page's last id (the in-memory cursor) and one not yet listed.
    store
        .delete(first.connection_ids.last().unwrap())
        .await
        .unwrap();
    store.delete("conn-049").await.unwrap();
    let mut seen: Vec<String> = first.connection_ids.clone();
    let mut cursor = first.next_cursor;
    while let Some(current) = cursor {
        let page = store
            .list_page(Segment::WHOLE, Some(&current), 10)
            .await
            .unwrap();
        seen.extend(page.connection_ids);
        cursor = page.next_cursor;
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no id listed twice");
    for i in 0..49 {
        assert!(
            unique.contains(&format!("conn-{i:03}")),
            "conn-{i:03} listed"
        );
    }
}

pub async fn concurrent_connects_and_disconnects_leave_exact_counts<S: ConnectionStore>(store: S) {
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let id = format!("concurrent-{i:04}");
            store.put(sample_connection(&id)).await.unwrap();
            if i % 2 == 0 {
                store.delete(&id).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.count().await.unwrap(), 100);
    assert_eq!(
        list_segment(store.as_ref(), Segment::WHOLE, 37).await.len(),
        100
    );
}

pub async fn listing_is_complete_across_segments(store: impl ConnectionStore) {
    let store = &store;
    let (total, segments) = (2_600, 4);
    let expected: HashSet<String> = (0..total).map(|i| format!("seg-{i:05}")).collect();
    put_all(store, &expected).await;
    let mut listed = Vec::new();
    for segment in Segment::all(segments) {
        let share = list_segment(store, segment, 250).await;
        assert!(
            share.len() < total,
            "segment {segment:?} is a share, not everything"
        );
        listed.extend(share);
    }
    assert_eq!(listed.len(), total, "segments are disjoint");
    assert_eq!(listed.into_iter().collect::<HashSet<_>>(), expected);
}

/// Stores a connection for each id, 32 at a time.
async fn put_all(store: &impl ConnectionStore, ids: &HashSet<String>) {
    use futures::StreamExt;
    futures::stream::iter(ids)
        .for_each_concurrent(32, |id| async move {
            store.put(sample_connection(id)).await.unwrap()
        })
        .await;
}

/// Follows the cursor until the segment's listing ends.
pub async fn list_segment(
    store: &(impl ConnectionStore + ?Sized),
    segment: Segment,
    page_size: usize,
) -> Vec<String> {
    follow_cursor(page_size, |cursor| async move {
        store.list_page(segment, cursor.as_deref(), page_size).await
    })
    .await
}
