//! The behaviour every [`PresenceStore`] must have, one check per promise, run on each backend
//! through [`presence_contract_tests!`](crate::presence_contract_tests), one test per check.

use super::{Left, Member, PresenceStore};
use serde_json::json;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

/// One `#[tokio::test]` per check. `$new_presence` is a closure to a future of an empty
/// presence store (on DynamoDB, a table of its own).
#[macro_export]
macro_rules! presence_contract_tests {
    ($new_presence:expr) => {
        $crate::presence_contract_tests!(@checks $new_presence;
            a_users_first_connection_joins_and_the_second_does_not,
            the_last_connection_leaves_and_the_check_removes_the_member_once,
            a_join_within_the_grace_period_withdraws_the_leave,
            a_connection_not_in_the_channel_leaves_nothing,
            after_a_confirmed_leave_a_join_is_first_again,
            two_hundred_users_joining_at_once_are_two_hundred_first_joins,
            concurrent_joins_of_one_user_give_exactly_one_first_join,
            concurrent_leaves_of_one_user_give_exactly_one_last_leave,
            members_page_in_user_order,
            info_and_joined_at_are_kept,
            channels_are_independent,
        );
    };
    (@checks $new_presence:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::presence::contract::$check($new_presence).await;
            }
        )*
    };
}

/// Every member of `channel`, read page by page.
async fn all_members(presence: &impl PresenceStore, channel: &str) -> Vec<Member> {
    let mut members = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = presence
            .members(channel, after.as_deref(), super::MAX_MEMBERS_PAGE)
            .await
            .unwrap();
        members.extend(page.members);
        match page.next {
            Some(next) => after = Some(next),
            None => return members,
        }
    }
}

async fn users_and_counts(presence: &impl PresenceStore, channel: &str) -> Vec<(String, usize)> {
    all_members(presence, channel)
        .await
        .into_iter()
        .map(|member| (member.user, member.connections))
        .collect()
}

fn joined(member: Option<Member>) -> bool {
    member.is_some()
}

fn last_token(left: Left) -> String {
    match left {
        Left::Last { token } => token,
        other => panic!("expected the last leave, got {other:?}"),
    }
}

pub async fn a_users_first_connection_joins_and_the_second_does_not<P, F, Fut>(new: F)
where
    P: PresenceStore,
    F: FnOnce() -> Fut,
    Fut: Future<Output = P>,
{
    let presence = new().await;
    assert!(joined(
        presence.join("room", "ada", "c1", None).await.unwrap()
    ));
    assert!(!joined(
        presence.join("room", "ada", "c2", None).await.unwrap()
    ));
    // The same connection joining again (a repeated subscribe) counts once.
    assert!(!joined(
        presence.join("room", "ada", "c2", None).await.unwrap()
    ));
    assert_eq!(
        users_and_counts(&presence, "room").await,
        vec![("ada".to_owned(), 2)]
    );
}

pub async fn the_last_connection_leaves_and_the_check_removes_the_member_once<P, F, Fut>(new: F)
where
    P: PresenceStore,
    F: FnOnce() -> Fut,
    Fut: Future<Output = P>,
{
    let presence = new().await;
    presence.join("room", "ada", "c1", None).await.unwrap();
    presence.join("room", "ada", "c2", None).await.unwrap();
    assert_eq!(
        presence.leave("room", "ada", "c1").await.unwrap(),
        Left::Remaining
    );
    let token = last_token(presence.leave("room", "ada", "c2").await.unwrap());
    // In the grace period the user is still a member, with no connection.
    assert_eq!(
        users_and_counts(&presence, "room").await,
        vec![("ada".to_owned(), 0)]
    );
    assert!(
        !presence
            .confirm_leave("room", "ada", "not the token")
            .await
            .unwrap()
    );
    assert!(presence.confirm_leave("room", "ada", &token).await.unwrap());
    // A check delivered twice removes nobody twice.
    assert!(!presence.confirm_leave("room", "ada", &token).await.unwrap());
    assert_eq!(users_and_counts(&presence, "room").await, vec![]);
}

pub async fn a_join_within_the_grace_period_withdraws_the_leave<P, F, Fut>(new: F)
where
    P: PresenceStore,
    F: FnOnce() -> Fut,
    Fut: Future<Output = P>,
{
    let presence = new().await;
    presence.join("room", "ada", "c1", None).await.unwrap();
    let token = last_token(presence.leave("room", "ada", "c1").await.unwrap());
    assert!(
        presence
            .join("room", "ada", "c2", None)
            .await
            .unwrap()
            .is_none(),
        "a return within the grace period is no join"
    );
    assert!(!presence.confirm_leave("room", "ada", &token).await.unwrap());
    assert_eq!(
        users_and_counts(&presence, "room").await,
        vec![("ada".to_owned(), 1)]
    );
    // The next last leave has a token of its own, and only it confirms.
    let second = last_token(presence.leave("room", "ada", "c2").await.unwrap());
    assert_ne!(second, token);
    assert!(!presence.confirm_leave("room", "ada", &token).await.unwrap());
    assert!(
        presence
            .confirm_leave("room", "ada", &second)
            .await
            .unwrap()
    );
}

pub async fn a_connection_not_in_the_channel_leaves_nothing<P, F, Fut>(new: F)
where
    P: PresenceStore,
    F: FnOnce() -> Fut,
    Fut: Future<Output = P>,
{
    let presence = new().await;
    assert_eq!(
        presence.leave("room", "ada", "c1").await.unwrap(),
        Left::NotMember
    );
    presence.join("room", "ada", "c1", None).await.unwrap();
    assert_eq!(
        presence.leave("room", "ada", "other").await.unwrap(),
        Left::NotMember
    );
    last_token(presence.leave("room", "ada", "c1").await.unwrap());
    // An unsubscribe followed by the disconnect: the second leave finds nothing.
    assert_eq!(
        presence.leave("room", "ada", "c1").await.unwrap(),
        Left::NotMember
    );
}

pub async fn after_a_confirmed_leave_a_join_is_first_again<P, F, Fut>(new: F)
where
    P: PresenceStore,
    F: FnOnce() -> Fut,
    Fut: Future<Output = P>,
{
    let presence = new().await;
    presence.join("room", "ada", "c1", None).await.unwrap();
    let token = last_token(presence.leave("room", "ada", "c1").await.unwrap());
    assert!(presence.confirm_leave("room", "ada", &token).await.unwrap());
    assert!(joined(
        presence.join("room", "ada", "c2", None).await.unwrap()
    ));
}

pub async fn two_hundred_users_joining_at_once_are_two_hundred_first_joins<P, F, Fut>(new: F)
where
    P: PresenceStore,
    F: FnOnce() -> Fut,
    Fut: Future<Output = P>,
{
    let presence = Arc::new(new().await);
    let joins: Vec<_> = (0..200)
        .map(|n| {
            let presence = Arc::clone(&presence);
            tokio::spawn(async move {
                presence
                    .join("crowd", &format!("user{n:03}"), &format!("conn{n}"), None)
                    .await
                    .unwrap()
                    .is_some()
            })
        })
        .collect();
    let mut first = 0;
    for join in joins {
        first += usize::from(join.await.unwrap());
    }
    assert_eq!(first, 200);
    let expected: Vec<(String, usize)> = (0..200).map(|n| (format!("user{n:03}"), 1)).collect();
    assert_eq!(users_and_counts(presence.as_ref(), "crowd").await, expected);
}

pub async fn concurrent_joins_of_one_user_give_exactly_one_first_join<P, F, Fut>(new: F)
where
    P: PresenceStore,
    F: FnOnce() -> Fut,
    Fut: Future<Output = P>,
{
    let presence = Arc::new(new().await);
    let tabs = 20;
    let joins: Vec<_> = (0..tabs)
        .map(|n| {
            let presence = Arc::clone(&presence);
            tokio::spawn(async move {
                presence
                    .join("room", "ada", &format!("tab{n}"), None)
                    .await
                    .unwrap()
                    .is_some()
            })
        })
        .collect();
    let mut first = 0;
    for join in joins {
        first += usize::from(join.await.unwrap());
    }
    assert_eq!(first, 1, "exactly one of {tabs} tabs joined first");
    assert_eq!(
        users_and_counts(presence.as_ref(), "room").await,
        vec![("ada".to_owned(), tabs)]
    );
}

pub async fn concurrent_leaves_of_one_user_give_exactly_one_last_leave<P, F, Fut>(new: F)
where
    P: PresenceStore,
    F: FnOnce() -> Fut,
    Fut: Future<Output = P>,
{
    let presence = Arc::new(new().await);
    let tabs = 20;
    for n in 0..tabs {
        presence
            .join("room", "ada", &format!("tab{n}"), None)
            .await
            .unwrap();
    }
    let leaves: Vec<_> = (0..tabs)
        .map(|n| {
            let presence = Arc::clone(&presence);
            tokio::spawn(async move {
                presence
                    .leave("room", "ada", &format!("tab{n}"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for leave in leaves {
        match leave.await.unwrap() {
            Left::Last { token } => tokens.push(token),
            Left::Remaining => {}
            Left::NotMember => panic!("every tab was in the channel"),
        }
    }
    assert_eq!(tokens.len(), 1, "exactly one last leave of {tabs}");
    assert!(
        presence
            .confirm_leave("room", "ada", &tokens[0])
            .await
            .unwrap()
    );
}

pub async fn members_page_in_user_order<P, F, Fut>(new: F)
where
    P: PresenceStore,
    F: FnOnce() -> Fut,
    Fut: Future<Output = P>,
{
    let presence = new().await;
    // Joined out of order; listed by user.
    for n in (0..25).rev() {
        presence
            .join("room", &format!("u{n:02}"), &format!("c{n}"), None)
            .await
            .unwrap();
    }
    let first = presence.members("room", None, 10).await.unwrap();
    let users = |page: &super::MemberPage| -> Vec<String> {
        page.members.iter().map(|m| m.user.clone()).collect()
    };
    assert_eq!(
        users(&first),
        (0..10).map(|n| format!("u{n:02}")).collect::<Vec<_>>()
    );
    assert_eq!(first.next.as_deref(), Some("u09"));
    let second = presence.members("room", Some("u09"), 10).await.unwrap();
    assert_eq!(
        users(&second),
        (10..20).map(|n| format!("u{n:02}")).collect::<Vec<_>>()
    );
    let last = presence.members("room", Some("u19"), 10).await.unwrap();
    assert_eq!(
        users(&last),
        (20..25).map(|n| format!("u{n:02}")).collect::<Vec<_>>()
    );
    assert_eq!(last.next, None);
    // Exactly a page's worth: no next page announced.
    let exact = presence.members("room", Some("u14"), 10).await.unwrap();
    assert_eq!(exact.members.len(), 10);
    assert_eq!(exact.next, None);
    let none = presence.members("empty", None, 10).await.unwrap();
    assert_eq!((none.members.len(), none.next), (0, None));
}

pub async fn info_and_joined_at_are_kept<P, F, Fut>(new: F)
where
    P: PresenceStore,
    F: FnOnce() -> Fut,
    Fut: Future<Output = P>,
{
    let presence = new().await;
    let before = crate::time::now_epoch_ms();
    let info = json!({"name": "Ada \u{e9}\u{1f600}"});
    presence
        .join("room", "ada", "c1", Some(&info))
        .await
        .unwrap();
    let joined = all_members(&presence, "room").await;
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0].info, Some(info.clone()));
    assert!(joined[0].joined_at >= before);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    presence
        .join("room", "ada", "c2", Some(&info))
        .await
        .unwrap();
    let again = all_members(&presence, "room").await;
    assert_eq!(
        again[0].joined_at, joined[0].joined_at,
        "joined at the first join"
    );
    presence.join("room", "bob", "c3", None).await.unwrap();
    let bob = &all_members(&presence, "room").await[1];
    assert_eq!((bob.user.as_str(), &bob.info), ("bob", &None));
}

pub async fn channels_are_independent<P, F, Fut>(new: F)
where
    P: PresenceStore,
    F: FnOnce() -> Fut,
    Fut: Future<Output = P>,
{
    let presence = new().await;
    assert!(joined(presence.join("a", "ada", "c1", None).await.unwrap()));
    assert!(joined(presence.join("b", "ada", "c1", None).await.unwrap()));
    last_token(presence.leave("a", "ada", "c1").await.unwrap());
    assert_eq!(
        users_and_counts(&presence, "b").await,
        vec![("ada".to_owned(), 1)]
    );
    let users: BTreeSet<String> = all_members(&presence, "a")
        .await
        .into_iter()
        .map(|m| m.user)
        .collect();
    assert_eq!(users, BTreeSet::from(["ada".to_owned()]));
}
