//! The fan-out engine every delivery goes through: who a message is for (the [`Audience`]), the
//! paginated listing pipelined with the sends, at most `broadcast_concurrency` sends in flight,
//! stale rows removed on 410, and the report of exactly who did and did not get it.

use crate::history::ChannelHistory;
pub use crate::protocol::Audience;
use crate::protocol::{BroadcastReport, FailedDelivery, MAX_MESSAGE_BYTES, message_envelope};
use crate::store::Segment;
use crate::throttle::{MAX_THROTTLES_PER_RECIPIENT, Pacer};
use crate::{ConnectionStore, Error, MessagePusher, PushOutcome, Settings, Throttled};
use futures::stream::{self, BoxStream, StreamExt};

/// One step of the listing: a connection to deliver to, or the reason the listing stopped.
enum Listed {
    Connection(String),
    ListingFailed(Error),
}

enum Cursor {
    Start,
    After(String),
    Done,
}

/// Sends `data` to every connection of `audience` but `except`, never more than the configured
/// number at once, all paced together when API Gateway throttles (see [`crate::throttle`]).
pub async fn deliver(
    store: &dyn ConnectionStore,
    pusher: &dyn MessagePusher,
    settings: &Settings,
    audience: Audience<'_>,
    except: Option<&str>,
    data: &[u8],
) -> BroadcastReport {
    let pacer = Pacer::new();
    let mut report = {
        let deliveries = deliveries(store, pusher, &pacer, settings, audience, except, data);
        tally(deliveries).await
    };
    report.throttle_retries = pacer.retries();
    report.throttled_ms = u64::try_from(pacer.throttled_for().as_millis()).unwrap_or(u64::MAX);
    report
}

/// The report of a stream of deliveries.
async fn tally(
    mut deliveries: BoxStream<'_, Result<(String, PushOutcome), Error>>,
) -> BroadcastReport {
    let mut report = BroadcastReport::default();
    while let Some(delivery) = deliveries.next().await {
        match delivery {
            Ok((id, outcome)) => {
                report.connection_count += 1;
                match outcome {
                    PushOutcome::Delivered => report.sent += 1,
                    PushOutcome::Gone => report.gone.push(id),
                    PushOutcome::Failed(error) => report.failed.push(FailedDelivery {
                        connection_id: id,
                        error,
                    }),
                }
            }
            Err(err) => report.error = Some(err.to_string()),
        }
    }
    report
}

/// Why a message for a history channel was not sent (nor numbered).
#[derive(Debug)]
pub enum NotNumbered {
    /// Its envelope would be over [`MAX_MESSAGE_BYTES`]: `bytes` with the longest seq.
    TooLarge { bytes: usize },
    /// The history refused the append: no number was taken.
    History(Error),
}

/// A message on a channel with history: takes the channel's next number while storing `data`
/// (one atomic step), then delivers the envelope `{"type":"message","channel",…,"seq",…,
/// "data":data}` to the channel's subscribers but `except`. The report carries the number.
pub async fn deliver_numbered(
    store: &dyn ConnectionStore,
    pusher: &dyn MessagePusher,
    history: &dyn ChannelHistory,
    settings: &Settings,
    channel: &str,
    except: Option<&str>,
    data: &str,
) -> Result<BroadcastReport, NotNumbered> {
    // Judged with room for the longest seq, before a number is taken.
    let bytes = message_envelope(channel, u64::MAX, data).len();
    if bytes > MAX_MESSAGE_BYTES {
        return Err(NotNumbered::TooLarge { bytes });
    }
    let position = history
        .append(channel, data)
        .await
        .map_err(NotNumbered::History)?;
    let envelope = message_envelope(channel, position.seq, data);
    let mut report = deliver(
        store,
        pusher,
        settings,
        Audience::Channel(channel),
        except,
        envelope.as_bytes(),
    )
    .await;
    report.seq = Some(position.seq);
    report.epoch = Some(position.epoch);
    Ok(report)
}

/// Every delivery's result, as it completes. Returned boxed: as an opaque type, its closures
/// defeat rustc's `Send` inference (rust-lang/rust#64552) and the handler would not run on
/// lambda_http.
fn deliveries<'a>(
    store: &'a dyn ConnectionStore,
    pusher: &'a dyn MessagePusher,
    pacer: &'a Pacer,
    settings: &Settings,
    audience: Audience<'a>,
    except: Option<&'a str>,
    data: &'a [u8],
) -> BoxStream<'a, Result<(String, PushOutcome), Error>> {
    let page_size = settings.broadcast_page_size;
    // Everyone is listed in segments read in parallel; a channel or a user is one listing.
    let segments = match audience {
        Audience::Everyone => store.listing_segments(),
        Audience::Channel(_) | Audience::User(_) => 1,
    };
    let listings = Segment::all(segments).map(|segment| {
        stream::unfold(Cursor::Start, move |cursor| {
            next_page(store, audience, segment, page_size, cursor)
        })
        .boxed()
    });
    stream::select_all(listings)
        .flat_map(stream::iter)
        .filter(move |listed| {
            let skip = matches!(listed, Listed::Connection(id) if Some(id.as_str()) == except);
            std::future::ready(!skip)
        })
        .map(move |listed| deliver_one(store, pusher, pacer, data, listed))
        .buffer_unordered(settings.broadcast_concurrency)
        .boxed()
}

async fn next_page(
    store: &dyn ConnectionStore,
    audience: Audience<'_>,
    segment: Segment,
    page_size: usize,
    cursor: Cursor,
) -> Option<(Vec<Listed>, Cursor)> {
    let after = match cursor {
        Cursor::Start => None,
        Cursor::After(id) => Some(id),
        Cursor::Done => return None,
    };
    let page = match audience {
        Audience::Everyone => store.list_page(segment, after.as_deref(), page_size).await,
        Audience::Channel(channel) => {
            store
                .list_subscribers(channel, after.as_deref(), page_size)
                .await
        }
        // A user has a handful of connections: one page.
        Audience::User(user) => {
            store
                .connections_of_user(user)
                .await
                .map(|connection_ids| crate::ConnectionPage {
                    connection_ids,
                    next_cursor: None,
                })
        }
    };
    match page {
        Ok(page) => {
            let next = page.next_cursor.map_or(Cursor::Done, Cursor::After);
            let listed = page
                .connection_ids
                .into_iter()
                .map(Listed::Connection)
                .collect();
            Some((listed, next))
        }
        Err(err) => Some((vec![Listed::ListingFailed(err)], Cursor::Done)),
    }
}

async fn deliver_one(
    store: &dyn ConnectionStore,
    pusher: &dyn MessagePusher,
    pacer: &Pacer,
    data: &[u8],
    listed: Listed,
) -> Result<(String, PushOutcome), Error> {
    match listed {
        Listed::Connection(id) => {
            let outcome = deliver_paced(store, pusher, pacer, &id, data).await;
            Ok((id, outcome))
        }
        Listed::ListingFailed(err) => Err(err),
    }
}

/// Sends `data` to one connection at `pacer`'s pace: a 429 slows the pace and is retried, so
/// nobody is reported failed merely for being throttled; a recipient throttled
/// [`MAX_THROTTLES_PER_RECIPIENT`] times in a row (its client-side buffer stays full) is failed
/// with the 429's reason. A 410 removes its row (and subscriptions).
pub async fn deliver_paced(
    store: &dyn ConnectionStore,
    pusher: &dyn MessagePusher,
    pacer: &Pacer,
    connection_id: &str,
    data: &[u8],
) -> PushOutcome {
    let mut throttles = 0;
    let outcome = loop {
        pacer.ready().await;
        match pusher.try_push(connection_id, data).await {
            Ok(outcome) => {
                pacer.accepted();
                break outcome;
            }
            Err(Throttled(reason)) => {
                pacer.throttled();
                throttles += 1;
                if throttles >= MAX_THROTTLES_PER_RECIPIENT {
                    break PushOutcome::Failed(reason);
                }
            }
        }
    };
    if outcome == PushOutcome::Gone {
        remove_stale(store, connection_id).await;
    }
    outcome
}

/// Sends `data` to one connection; a 410 removes its row (and subscriptions).
pub async fn deliver_to_one(
    store: &dyn ConnectionStore,
    pusher: &dyn MessagePusher,
    connection_id: &str,
    data: &[u8],
) -> PushOutcome {
    let outcome = pusher.push(connection_id, data).await;
    if outcome == PushOutcome::Gone {
        remove_stale(store, connection_id).await;
    }
    outcome
}

async fn remove_stale(store: &dyn ConnectionStore, id: &str) {
    if let Err(err) = store.delete(id).await {
        // The row's TTL removes it eventually; the report still names it as gone.
        tracing::warn!(connection_id = %id, error = %err, "could not remove stale connection");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryStore;
    use crate::store::contract::sample_connection;
    use async_trait::async_trait;
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Records what it was asked to send; answers per id from a fixed rule. It stands in for
    /// the network only in these unit tests of the fan-out's bookkeeping: the end-to-end
    /// tests drive the real SDK against the real gateway.
    struct RecordingPusher {
        sent: Mutex<Vec<String>>,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
    }

    impl RecordingPusher {
        fn new() -> Self {
            Self {
                sent: Mutex::new(Vec::new()),
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
            }
        }
    }

    #[async_trait]
    impl MessagePusher for RecordingPusher {
        async fn push(&self, connection_id: &str, _data: &[u8]) -> PushOutcome {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::task::yield_now().await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.sent.lock().unwrap().push(connection_id.to_owned());
            match connection_id {
                id if id.starts_with("gone") => PushOutcome::Gone,
                id if id.starts_with("fail") => PushOutcome::Failed("throttled".into()),
                _ => PushOutcome::Delivered,
            }
        }

        async fn disconnect(&self, _connection_id: &str) -> PushOutcome {
            PushOutcome::Delivered
        }
    }

    #[tokio::test]
    async fn every_page_is_delivered_and_410s_remove_only_their_own_rows() {
        let store = InMemoryStore::new();
        for i in 0..2_503 {
            store
                .put(sample_connection(&format!("live-{i:05}")))
                .await
                .unwrap();
        }
        store.put(sample_connection("gone-1")).await.unwrap();
        store.put(sample_connection("fail-1")).await.unwrap();
        let pusher = RecordingPusher::new();
        let settings = Settings {
            broadcast_concurrency: 16,
            broadcast_page_size: 100,
            ..Settings::default()
        };

        let report = deliver(&store, &pusher, &settings, Audience::Everyone, None, b"{}").await;

        assert_eq!(report.connection_count, 2_505);
        assert_eq!(report.sent, 2_503);
        assert_eq!(report.gone, vec!["gone-1".to_string()]);
        assert_eq!(
            report.failed,
            vec![FailedDelivery {
                connection_id: "fail-1".into(),
                error: "throttled".into()
            }]
        );
        assert_eq!(report.error, None);
        let sent: HashSet<String> = pusher.sent.lock().unwrap().iter().cloned().collect();
        assert_eq!(sent.len(), 2_505, "each connection addressed exactly once");
        assert_eq!(
            store.get("gone-1").await.unwrap(),
            None,
            "stale row removed"
        );
        assert!(
            store.get("fail-1").await.unwrap().is_some(),
            "failed row kept"
        );
        let peak = pusher.max_in_flight.load(Ordering::SeqCst);
        assert!(peak > 1 && peak <= 16, "concurrency bounded, got {peak}");
    }

    /// Throttles each id's first try, and every try of ids starting with `full`.
    struct ThrottlingPusher {
        tried: Mutex<HashSet<String>>,
    }

    #[async_trait]
    impl MessagePusher for ThrottlingPusher {
        async fn push(&self, _connection_id: &str, _data: &[u8]) -> PushOutcome {
            unreachable!("a broadcast tries, it does not push")
        }

        async fn try_push(
            &self,
            connection_id: &str,
            _data: &[u8],
        ) -> Result<PushOutcome, Throttled> {
            let first = self.tried.lock().unwrap().insert(connection_id.to_owned());
            if first || connection_id.starts_with("full") {
                Err(Throttled(
                    "LimitExceededException: Too Many Requests".into(),
                ))
            } else {
                Ok(PushOutcome::Delivered)
            }
        }

        async fn disconnect(&self, _connection_id: &str) -> PushOutcome {
            PushOutcome::Delivered
        }
    }

    #[tokio::test]
    async fn throttled_sends_are_retried_and_only_a_recipient_that_stays_throttled_fails() {
        let store = InMemoryStore::new();
        for id in ["a", "b", "c", "full-1"] {
            store.put(sample_connection(id)).await.unwrap();
        }
        let pusher = ThrottlingPusher {
            tried: Mutex::new(HashSet::new()),
        };

        let report = deliver(
            &store,
            &pusher,
            &Settings::default(),
            Audience::Everyone,
            None,
            b"{}",
        )
        .await;

        assert_eq!((report.connection_count, report.sent), (4, 3));
        assert_eq!(
            report.failed,
            vec![FailedDelivery {
                connection_id: "full-1".into(),
                error: "LimitExceededException: Too Many Requests".into()
            }]
        );
        let expected = 3 + u64::from(crate::throttle::MAX_THROTTLES_PER_RECIPIENT);
        assert_eq!(report.throttle_retries, expected);
        assert!(report.throttled_ms > 0, "the paced retries waited");
    }

    #[tokio::test]
    async fn a_channel_delivery_reaches_its_subscribers_but_the_excepted_one() {
        let store = InMemoryStore::new();
        for id in ["a", "b", "c", "outsider"] {
            store.put(sample_connection(id)).await.unwrap();
        }
        let channel: std::collections::BTreeSet<String> = ["room".to_string()].into();
        for id in ["a", "b", "c"] {
            store.subscribe(id, &channel, 5).await.unwrap();
        }
        let pusher = RecordingPusher::new();

        let report = deliver(
            &store,
            &pusher,
            &Settings::default(),
            Audience::Channel("room"),
            Some("a"),
            b"{}",
        )
        .await;

        assert_eq!((report.connection_count, report.sent), (2, 2));
        let mut sent = pusher.sent.lock().unwrap().clone();
        sent.sort();
        assert_eq!(sent, vec!["b".to_string(), "c".to_string()]);
    }
}
