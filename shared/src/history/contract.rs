//! The behaviour every [`ChannelHistory`] must have, one check per promise, run on each backend
//! through [`history_contract_tests!`](crate::history_contract_tests), one test per check.

use super::{ChannelHistory, Position, Replay, ResetReason};
use crate::settings::HistorySettings;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// One `#[tokio::test]` per check. `$new_history` is a closure from [`HistorySettings`] to a
/// future of an empty history with those settings (on DynamoDB, a table of its own).
#[macro_export]
macro_rules! history_contract_tests {
    ($new_history:expr) => {
        $crate::history_contract_tests!(@checks $new_history;
            numbers_start_at_one_and_are_contiguous,
            a_channel_nobody_published_to_is_at_the_origin,
            replay_returns_every_later_message_in_order,
            replay_from_the_latest_is_empty,
            replay_from_the_origin_starts_at_one,
            another_epoch_resets,
            a_position_ahead_of_the_server_resets,
            more_than_max_messages_later_resets_as_trimmed,
            expired_messages_reset_as_expired,
            concurrent_appends_take_distinct_contiguous_numbers,
            channels_are_numbered_independently,
            data_round_trips_verbatim,
        );
    };
    (@checks $new_history:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::history::contract::$check($new_history).await;
            }
        )*
    };
}

fn settings(ttl_seconds: u64, max_messages: usize) -> HistorySettings {
    HistorySettings {
        channels: "*".parse().unwrap_or_default(),
        ttl_seconds,
        max_messages,
        ..HistorySettings::default()
    }
}

fn message(n: u64) -> String {
    format!(r#"{{"n":{n}}}"#)
}

async fn publish(history: &impl ChannelHistory, channel: &str, count: u64) -> Position {
    let mut last = Position::default();
    for _ in 0..count {
        last = history
            .append(channel, &message(last.seq + 1))
            .await
            .unwrap();
    }
    last
}

fn missed(replay: Replay) -> Vec<(u64, String)> {
    match replay {
        Replay::Missed { messages, .. } => messages
            .into_iter()
            .map(|entry| (entry.seq, entry.data.to_string()))
            .collect(),
        reset => panic!("expected messages, got {reset:?}"),
    }
}

fn expected(seqs: impl IntoIterator<Item = u64>) -> Vec<(u64, String)> {
    seqs.into_iter().map(|n| (n, message(n))).collect()
}

pub async fn numbers_start_at_one_and_are_contiguous<H, F, Fut>(new: F)
where
    H: ChannelHistory,
    F: FnOnce(HistorySettings) -> Fut,
    Fut: Future<Output = H>,
{
    let history = new(settings(300, 300)).await;
    let first = history.append("post:1", "{}").await.unwrap();
    assert_eq!(first.seq, 1);
    assert!(!first.epoch.is_empty());
    for n in 2..=5 {
        let position = history.append("post:1", "{}").await.unwrap();
        assert_eq!(position, Position::new(n, first.epoch.clone()));
    }
    assert_eq!(
        history.latest("post:1").await.unwrap(),
        Position::new(5, first.epoch)
    );
}

pub async fn a_channel_nobody_published_to_is_at_the_origin<H, F, Fut>(new: F)
where
    H: ChannelHistory,
    F: FnOnce(HistorySettings) -> Fut,
    Fut: Future<Output = H>,
{
    let history = new(settings(300, 300)).await;
    assert_eq!(history.latest("quiet").await.unwrap(), Position::default());
    let replay = history.replay("quiet", &Position::default()).await.unwrap();
    assert_eq!(replay.latest(), &Position::default());
    assert_eq!(missed(replay), vec![]);
    // Reading created nothing: the first publish is still number 1.
    assert_eq!(history.append("quiet", "{}").await.unwrap().seq, 1);
}

pub async fn replay_returns_every_later_message_in_order<H, F, Fut>(new: F)
where
    H: ChannelHistory,
    F: FnOnce(HistorySettings) -> Fut,
    Fut: Future<Output = H>,
{
    let history = new(settings(300, 300)).await;
    let latest = publish(&history, "news", 7).await;
    let replay = history
        .replay("news", &Position::new(3, latest.epoch.clone()))
        .await
        .unwrap();
    assert_eq!(replay.latest(), &latest);
    assert_eq!(missed(replay), expected(4..=7));
}

pub async fn replay_from_the_latest_is_empty<H, F, Fut>(new: F)
where
    H: ChannelHistory,
    F: FnOnce(HistorySettings) -> Fut,
    Fut: Future<Output = H>,
{
    let history = new(settings(300, 300)).await;
    let latest = publish(&history, "news", 3).await;
    let replay = history.replay("news", &latest).await.unwrap();
    assert_eq!(replay.latest(), &latest);
    assert_eq!(missed(replay), vec![]);
}

pub async fn replay_from_the_origin_starts_at_one<H, F, Fut>(new: F)
where
    H: ChannelHistory,
    F: FnOnce(HistorySettings) -> Fut,
    Fut: Future<Output = H>,
{
    let history = new(settings(300, 300)).await;
    publish(&history, "news", 4).await;
    let replay = history.replay("news", &Position::default()).await.unwrap();
    assert_eq!(missed(replay), expected(1..=4));
}

pub async fn another_epoch_resets<H, F, Fut>(new: F)
where
    H: ChannelHistory,
    F: FnOnce(HistorySettings) -> Fut,
    Fut: Future<Output = H>,
{
    let history = new(settings(300, 300)).await;
    let latest = publish(&history, "news", 4).await;
    let replay = history
        .replay("news", &Position::new(2, "another"))
        .await
        .unwrap();
    assert_eq!(
        replay,
        Replay::Reset {
            latest: latest.clone(),
            reason: ResetReason::EpochChanged
        }
    );
    // A position in a numbering the server never had, on a channel nobody published to.
    let replay = history
        .replay("quiet", &Position::new(9, latest.epoch))
        .await
        .unwrap();
    assert_eq!(
        replay,
        Replay::Reset {
            latest: Position::default(),
            reason: ResetReason::EpochChanged
        }
    );
}

pub async fn a_position_ahead_of_the_server_resets<H, F, Fut>(new: F)
where
    H: ChannelHistory,
    F: FnOnce(HistorySettings) -> Fut,
    Fut: Future<Output = H>,
{
    let history = new(settings(300, 300)).await;
    let latest = publish(&history, "news", 2).await;
    let replay = history
        .replay("news", &Position::new(5, latest.epoch.clone()))
        .await
        .unwrap();
    assert_eq!(
        replay,
        Replay::Reset {
            latest,
            reason: ResetReason::AheadOfServer
        }
    );
}

pub async fn more_than_max_messages_later_resets_as_trimmed<H, F, Fut>(new: F)
where
    H: ChannelHistory,
    F: FnOnce(HistorySettings) -> Fut,
    Fut: Future<Output = H>,
{
    let history = new(settings(300, 5)).await;
    let latest = publish(&history, "news", 8).await;
    let replay = history
        .replay("news", &Position::new(2, latest.epoch.clone()))
        .await
        .unwrap();
    assert_eq!(
        replay,
        Replay::Reset {
            latest: latest.clone(),
            reason: ResetReason::Trimmed
        }
    );
    // Exactly the last five are kept.
    let replay = history
        .replay("news", &Position::new(3, latest.epoch))
        .await
        .unwrap();
    assert_eq!(missed(replay), expected(4..=8));
}

pub async fn expired_messages_reset_as_expired<H, F, Fut>(new: F)
where
    H: ChannelHistory,
    F: FnOnce(HistorySettings) -> Fut,
    Fut: Future<Output = H>,
{
    let history = new(settings(1, 300)).await;
    let early = publish(&history, "news", 2).await;
    // Past the one-second TTL (DynamoDB's expiresAt is in whole seconds, rounded up).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let latest = history.append("news", &message(3)).await.unwrap();
    assert_eq!(latest, Position::new(3, early.epoch.clone()));
    let replay = history
        .replay("news", &Position::new(1, early.epoch.clone()))
        .await
        .unwrap();
    assert_eq!(
        replay,
        Replay::Reset {
            latest: latest.clone(),
            reason: ResetReason::Expired
        }
    );
    // What is still kept is still served.
    let replay = history.replay("news", &early).await.unwrap();
    assert_eq!(missed(replay), expected([3]));
}

pub async fn concurrent_appends_take_distinct_contiguous_numbers<H, F, Fut>(new: F)
where
    H: ChannelHistory,
    F: FnOnce(HistorySettings) -> Fut,
    Fut: Future<Output = H>,
{
    let history = Arc::new(new(settings(300, 300)).await);
    let tasks: Vec<_> = (0..8)
        .map(|writer| {
            let history = Arc::clone(&history);
            tokio::spawn(async move {
                let mut taken = Vec::new();
                for i in 0..5 {
                    let data = format!(r#"{{"writer":{writer},"i":{i}}}"#);
                    let position = history.append("busy", &data).await.unwrap();
                    taken.push((position, data));
                }
                taken
            })
        })
        .collect();
    let mut taken = Vec::new();
    for task in tasks {
        taken.extend(task.await.unwrap());
    }
    let epochs: BTreeSet<&str> = taken.iter().map(|(p, _)| p.epoch.as_str()).collect();
    assert_eq!(epochs.len(), 1, "one numbering: {epochs:?}");
    let seqs: BTreeSet<u64> = taken.iter().map(|(p, _)| p.seq).collect();
    assert_eq!(seqs, (1..=40).collect(), "distinct and contiguous");
    // Each number holds the message that took it.
    let replay = history.replay("busy", &Position::default()).await.unwrap();
    let stored = missed(replay);
    for (position, data) in &taken {
        assert_eq!(&stored[(position.seq - 1) as usize].1, data);
    }
}

pub async fn channels_are_numbered_independently<H, F, Fut>(new: F)
where
    H: ChannelHistory,
    F: FnOnce(HistorySettings) -> Fut,
    Fut: Future<Output = H>,
{
    let history = new(settings(300, 300)).await;
    publish(&history, "a", 3).await;
    assert_eq!(history.append("b", "{}").await.unwrap().seq, 1);
    assert_eq!(history.latest("a").await.unwrap().seq, 3);
    assert_eq!(history.latest("b").await.unwrap().seq, 1);
}

pub async fn data_round_trips_verbatim<H, F, Fut>(new: F)
where
    H: ChannelHistory,
    F: FnOnce(HistorySettings) -> Fut,
    Fut: Future<Output = H>,
{
    let history = new(settings(300, 300)).await;
    let body = "{ \"text\" : \"h\u{e9}llo \u{1f600}\",\n \"n\": 1.50 }";
    history.append("news", body).await.unwrap();
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(100_000));
    history.append("news", &big).await.unwrap();
    let replay = history.replay("news", &Position::default()).await.unwrap();
    assert_eq!(missed(replay), vec![(1, body.to_owned()), (2, big)]);
}
