//! The behaviour every [`BroadcastProgress`] must have, one check per promise, run on each
//! backend through [`broadcast_progress_contract_tests!`](crate::broadcast_progress_contract_tests),
//! one test per check.

use super::{BroadcastJob, BroadcastProgress, Claim, PageTally, new_broadcast_id, new_token};
use crate::Error;
use std::future::Future;
use std::sync::Arc;

/// One `#[tokio::test]` per check. `$new_progress` is a closure returning a future of an empty
/// progress store (on DynamoDB, a table of its own).
#[macro_export]
macro_rules! broadcast_progress_contract_tests {
    ($new_progress:expr) => {
        $crate::broadcast_progress_contract_tests!(@checks $new_progress;
            a_new_broadcast_is_running_with_nothing_counted,
            an_id_is_created_once,
            an_unknown_broadcast_has_no_report,
            a_claim_holds_only_where_the_cursor_was_read,
            completing_moves_the_cursor_and_adds_the_tally,
            only_the_claims_owner_completes_it,
            a_done_shard_takes_no_claim,
            exactly_one_completion_finishes_the_broadcast,
        );
    };
    (@checks $new_progress:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::broadcasts::contract::$check($new_progress).await;
            }
        )*
    };
}

fn job(shard_count: u32) -> BroadcastJob {
    BroadcastJob {
        id: new_broadcast_id(),
        channel: Some("room".into()),
        data: r#"{"type":"message","seq":7}"#.into(),
        seq: Some(7),
        epoch: Some("e1".into()),
        shard_count,
    }
}

fn claim(ids: &[&str], next: Option<&str>, last: bool) -> Claim {
    Claim {
        token: new_token(),
        ids: ids.iter().map(|id| (*id).to_owned()).collect(),
        next: next.map(str::to_owned),
        last,
    }
}

fn tally(sent: u64, gone: u64, failed: u64) -> PageTally {
    PageTally {
        connection_count: sent + gone + failed,
        sent,
        gone,
        failed,
        unconfirmed: failed,
        throttle_retries: 2,
        throttled_ms: 5,
    }
}

pub async fn a_new_broadcast_is_running_with_nothing_counted<P, F>(new: impl Fn() -> F)
where
    P: BroadcastProgress,
    F: Future<Output = P>,
{
    let progress = new().await;
    let job = job(3);
    progress.create(&job).await.unwrap();
    assert_eq!(progress.job(&job.id).await.unwrap(), Some(job.clone()));
    let report = progress.report(&job.id).await.unwrap().expect("a report");
    assert_eq!(report.status, "running");
    assert_eq!((report.shard_count, report.shards_done), (3, 0));
    assert_eq!(
        (report.connection_count, report.sent, report.failed),
        (0, 0, 0)
    );
    assert_eq!((report.seq, report.epoch.as_deref()), (Some(7), Some("e1")));
    assert_eq!(report.channel.as_deref(), Some("room"));
    let shard = progress.shard(&job.id, 2).await.unwrap();
    assert_eq!(shard, super::ShardProgress::default());
}

pub async fn an_id_is_created_once<P, F>(new: impl Fn() -> F)
where
    P: BroadcastProgress,
    F: Future<Output = P>,
{
    let progress = new().await;
    let job = job(1);
    progress.create(&job).await.unwrap();
    assert!(matches!(
        progress.create(&job).await,
        Err(Error::Conflict(_))
    ));
}

pub async fn an_unknown_broadcast_has_no_report<P, F>(new: impl Fn() -> F)
where
    P: BroadcastProgress,
    F: Future<Output = P>,
{
    let progress = new().await;
    let id = new_broadcast_id();
    assert_eq!(progress.report(&id).await.unwrap(), None);
    assert_eq!(progress.job(&id).await.unwrap(), None);
}

pub async fn a_claim_holds_only_where_the_cursor_was_read<P, F>(new: impl Fn() -> F)
where
    P: BroadcastProgress,
    F: Future<Output = P>,
{
    let progress = new().await;
    let job = job(1);
    progress.create(&job).await.unwrap();
    let first = claim(&["a", "b"], Some("b"), false);
    // Nothing completed yet: only a claim from the start holds.
    assert!(matches!(
        progress.claim(&job.id, 0, Some("x"), &first).await,
        Err(Error::Conflict(_))
    ));
    progress.claim(&job.id, 0, None, &first).await.unwrap();
    // A second worker handed the same shard finds it claimed.
    let rival = claim(&["a", "b"], Some("b"), false);
    assert!(matches!(
        progress.claim(&job.id, 0, None, &rival).await,
        Err(Error::Conflict(_))
    ));
    let shard = progress.shard(&job.id, 0).await.unwrap();
    assert_eq!(shard.claim, Some(first));
    assert_eq!(shard.cursor, None);
}

pub async fn completing_moves_the_cursor_and_adds_the_tally<P, F>(new: impl Fn() -> F)
where
    P: BroadcastProgress,
    F: Future<Output = P>,
{
    let progress = new().await;
    let job = job(2);
    progress.create(&job).await.unwrap();
    let page = claim(&["a", "b", "c"], Some("c"), false);
    progress.claim(&job.id, 1, None, &page).await.unwrap();
    assert!(
        !progress
            .complete(&job.id, 1, &page.token, &tally(2, 1, 0))
            .await
            .unwrap()
    );
    let shard = progress.shard(&job.id, 1).await.unwrap();
    assert_eq!(
        (shard.cursor.as_deref(), shard.claim, shard.done),
        (Some("c"), None, false)
    );
    // The next page claims from the new cursor.
    let next = claim(&["d"], None, true);
    assert!(matches!(
        progress.claim(&job.id, 1, None, &next).await,
        Err(Error::Conflict(_))
    ));
    progress.claim(&job.id, 1, Some("c"), &next).await.unwrap();
    progress
        .complete(&job.id, 1, &next.token, &tally(0, 0, 1))
        .await
        .unwrap();
    let report = progress.report(&job.id).await.unwrap().unwrap();
    assert_eq!(
        (
            report.connection_count,
            report.sent,
            report.gone,
            report.failed,
            report.unconfirmed
        ),
        (4, 2, 1, 1, 1)
    );
    assert_eq!((report.throttle_retries, report.throttled_ms), (4, 10));
    assert_eq!((report.shards_done, report.status), (1, "running"));
    assert!(progress.shard(&job.id, 1).await.unwrap().done);
}

pub async fn only_the_claims_owner_completes_it<P, F>(new: impl Fn() -> F)
where
    P: BroadcastProgress,
    F: Future<Output = P>,
{
    let progress = new().await;
    let job = job(1);
    progress.create(&job).await.unwrap();
    let page = claim(&["a"], Some("a"), false);
    progress.claim(&job.id, 0, None, &page).await.unwrap();
    assert!(matches!(
        progress
            .complete(&job.id, 0, "someone-else", &tally(1, 0, 0))
            .await,
        Err(Error::Conflict(_))
    ));
    progress
        .complete(&job.id, 0, &page.token, &tally(1, 0, 0))
        .await
        .unwrap();
    // Completed once: a repeat (a retried call) adds nothing.
    assert!(matches!(
        progress
            .complete(&job.id, 0, &page.token, &tally(1, 0, 0))
            .await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(progress.report(&job.id).await.unwrap().unwrap().sent, 1);
}

pub async fn a_done_shard_takes_no_claim<P, F>(new: impl Fn() -> F)
where
    P: BroadcastProgress,
    F: Future<Output = P>,
{
    let progress = new().await;
    let job = job(1);
    progress.create(&job).await.unwrap();
    let page = claim(&[], None, true);
    progress.claim(&job.id, 0, None, &page).await.unwrap();
    assert!(
        progress
            .complete(&job.id, 0, &page.token, &PageTally::default())
            .await
            .unwrap(),
        "its only shard: the broadcast is complete"
    );
    let again = claim(&[], None, true);
    assert!(matches!(
        progress.claim(&job.id, 0, None, &again).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        progress.report(&job.id).await.unwrap().unwrap().status,
        "completed"
    );
}

pub async fn exactly_one_completion_finishes_the_broadcast<P, F>(new: impl Fn() -> F)
where
    P: BroadcastProgress,
    F: Future<Output = P>,
{
    const SHARDS: u32 = 8;
    let progress = Arc::new(new().await);
    let job = job(SHARDS);
    progress.create(&job).await.unwrap();
    let finishing = (0..SHARDS).map(|shard| {
        let progress = Arc::clone(&progress);
        let id = job.id.clone();
        tokio::spawn(async move {
            let page = claim(&["x"], None, true);
            progress.claim(&id, shard, None, &page).await.unwrap();
            progress
                .complete(&id, shard, &page.token, &tally(1, 0, 0))
                .await
                .unwrap()
        })
    });
    let mut finished = 0;
    for handle in finishing.collect::<Vec<_>>() {
        if handle.await.unwrap() {
            finished += 1;
        }
    }
    assert_eq!(finished, 1);
    let report = progress.report(&job.id).await.unwrap().unwrap();
    assert_eq!(
        (report.status, report.sent, report.shards_done),
        ("completed", 8, 8)
    );
}
