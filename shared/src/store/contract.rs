//! The behaviour every [`ConnectionStore`] must have, as one suite that each implementation runs
//! against itself (`run_all`). Panics on the first broken promise, like any test assertion.

use super::{Connection, ConnectionStore, Segment};
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

/// Runs every check, each on a fresh store from `new_store`.
pub async fn run_all<S, F, Fut>(new_store: F)
where
    S: ConnectionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    put_get_delete_round_trip(&new_store().await).await;
    delete_is_idempotent(&new_store().await).await;
    put_refuses_an_id_that_is_already_stored(&new_store().await).await;
    listing_is_complete_across_pages(&new_store().await, 2_600, 100).await;
    listing_is_complete_across_segments(&new_store().await, 2_600, 4).await;
    listing_survives_deletes_between_pages(&new_store().await).await;
    concurrent_connects_and_disconnects_leave_exact_counts(Arc::new(new_store().await)).await;
}

pub fn sample_connection(id: &str) -> Connection {
    let mut connection = Connection::new(id, 1_721_812_502_117, "198.51.100.23");
    connection.user_agent = Some("contract-test".into());
    connection
        .query
        .insert("clientId".into(), format!("client-{id}"));
    connection
}

pub async fn put_get_delete_round_trip(store: &impl ConnectionStore) {
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

pub async fn delete_is_idempotent(store: &impl ConnectionStore) {
    store.put(sample_connection("a")).await.unwrap();
    assert!(store.delete("a").await.unwrap());
    assert!(
        !store.delete("a").await.unwrap(),
        "second delete removes nothing"
    );
    assert!(!store.delete("never-existed").await.unwrap());
}

pub async fn put_refuses_an_id_that_is_already_stored(store: &impl ConnectionStore) {
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

pub async fn listing_is_complete_across_pages(
    store: &impl ConnectionStore,
    total: usize,
    page_size: usize,
) {
    let expected: HashSet<String> = (0..total).map(|i| format!("conn-{i:05}")).collect();
    put_all(store, &expected).await;
    let listed = list_segment(store, Segment::WHOLE, page_size).await;
    assert_eq!(listed.len(), total, "no id listed twice");
    assert_eq!(listed.into_iter().collect::<HashSet<_>>(), expected);
    assert_eq!(store.count().await.unwrap(), total as u64);
}

pub async fn listing_survives_deletes_between_pages(store: &impl ConnectionStore) {
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

pub async fn concurrent_connects_and_disconnects_leave_exact_counts<S: ConnectionStore>(
    store: Arc<S>,
) {
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

pub async fn listing_is_complete_across_segments(
    store: &impl ConnectionStore,
    total: usize,
    segments: u32,
) {
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
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .list_page(segment, cursor.as_deref(), page_size)
            .await
            .unwrap();
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
