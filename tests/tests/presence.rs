//! Presence end to end, on the gateway as `make run` starts it (the template, functions
//! in-process) with JWTs checked in `$connect`, on the in-memory store and on DynamoDB Local:
//! two tabs of one user join once and leave once after the grace period, a reconnect within it
//! produces nothing, an abrupt TCP drop leaves once, 200 users joining at once give an exact
//! member list, and ephemeral publishes reach the others without being numbered.

use futures::future::join_all;
use local_gateway::{RunningGateway, StoreKind};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use ws_bridge_e2e::tokens::{Signer, claims};
use ws_bridge_e2e::webhook_receiver::{Behaviour, Receiver, SECRET};
use ws_bridge_e2e::{Client, config_on, get_json, on_every_store};

/// The grace period of these tests: short, so a test waits little.
const GRACE: Duration = Duration::from_secs(1);
/// Long enough past the grace period that a leave would have been announced.
const PAST_GRACE: Duration = Duration::from_millis(2500);
const ROOM: &str = "room:1";

struct Presence {
    gateway: RunningGateway,
    signer: Signer,
}

impl Presence {
    async fn start(store: StoreKind) -> Self {
        Self::start_with(store, &[]).await
    }

    /// With more template parameters.
    async fn start_with(store: StoreKind, parameters: &[String]) -> Self {
        let (signer, secret) = Signer::hs256();
        let mut config = config_on(store);
        config
            .parameter_overrides
            .extend(parameters.iter().cloned());
        config.parameter_overrides.extend([
            "AuthMode=connect".to_owned(),
            format!("JwtSecret={secret}"),
            "JwtClaims=name".to_owned(),
            "PresenceChannels=room:*".to_owned(),
            format!("PresenceLeaveGraceSeconds={}", GRACE.as_secs()),
            "PresenceInfoClaim=name".to_owned(),
            "HistoryChannels=room:*".to_owned(),
            "ClientPublish=true".to_owned(),
        ]);
        let gateway = local_gateway::start(config).await.expect("gateway starts");
        Self { gateway, signer }
    }

    /// A connection of `user` (named `Name` after it), subscribed to the room.
    async fn tab(&self, user: &str) -> (Client, Value) {
        let name = format!("Name of {user}");
        let token = self.signer.sign(&claims(user, json!({ "name": name })));
        let mut client =
            Client::connect(format!("{}?token={token}", self.gateway.websocket_url())).await;
        client
            .send_text(&format!(
                r#"{{"action":"subscribe","channels":["{ROOM}"],"presence":true}}"#
            ))
            .await;
        // Others joining at the same moment may be announced before the reply.
        loop {
            let reply = client.recv_json().await;
            if reply["type"] != "presence.join" {
                assert_eq!(reply["type"], "subscribed", "{reply}");
                return (client, reply);
            }
        }
    }
}

fn users(members: &Value) -> Vec<String> {
    members["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|member| member["user"].as_str().expect("user").to_owned())
        .collect()
}

/// The next frame, which must be `kind` for `user` in the room.
async fn expect_event(client: &mut Client, kind: &str, user: &str) -> Value {
    let event = client.recv_json().await;
    assert_eq!(event["type"], kind, "{event}");
    assert_eq!(event["channel"], ROOM, "{event}");
    assert_eq!(event["data"]["user"], user, "{event}");
    assert!(
        event.get("seq").is_none(),
        "presence events are not numbered: {event}"
    );
    event
}

async fn members(client: &mut Client) -> Vec<String> {
    let reply = client
        .request(&format!(r#"{{"action":"presence","channel":"{ROOM}"}}"#))
        .await;
    assert_eq!(reply["type"], "presence", "{reply}");
    users(&reply["data"])
}

async fn two_tabs_of_one_user_join_once_and_leave_once_after_the_grace_period(store: StoreKind) {
    let presence = Presence::start(store).await;
    let (mut bob, subscribed) = presence.tab("bob").await;
    assert_eq!(users(&subscribed["data"]["members"][ROOM]), ["bob"]);

    let (first_tab, subscribed) = presence.tab("ada").await;
    assert_eq!(users(&subscribed["data"]["members"][ROOM]), ["ada", "bob"]);
    let joined = expect_event(&mut bob, "presence.join", "ada").await;
    assert_eq!(joined["data"]["info"], json!({"name": "Name of ada"}));
    assert_eq!(joined["data"]["connections"], 1);
    assert!(joined["data"]["joinedAt"].as_i64().is_some(), "{joined}");

    let (second_tab, subscribed) = presence.tab("ada").await;
    let ada = &subscribed["data"]["members"][ROOM]["members"][0];
    assert_eq!(
        (&ada["user"], &ada["connections"]),
        (&json!("ada"), &json!(2))
    );
    // The second tab is no join, and closing one of two is no leave.
    first_tab.close(None).await;
    bob.expect_silence(PAST_GRACE).await;
    assert_eq!(members(&mut bob).await, ["ada", "bob"]);

    let closed = Instant::now();
    second_tab.close(None).await;
    expect_event(&mut bob, "presence.leave", "ada").await;
    assert!(
        closed.elapsed() >= GRACE,
        "the leave waited for the grace period ({:?})",
        closed.elapsed()
    );
    bob.expect_silence(Duration::from_millis(500)).await;
    assert_eq!(members(&mut bob).await, ["bob"]);
}

async fn a_reconnect_within_the_grace_period_produces_no_events(store: StoreKind) {
    let presence = Presence::start(store).await;
    let (mut bob, _) = presence.tab("bob").await;
    let (ada, _) = presence.tab("ada").await;
    expect_event(&mut bob, "presence.join", "ada").await;
    // A reload: the page's socket closes and a new one subscribes at once.
    ada.close(None).await;
    let (_reloaded, subscribed) = presence.tab("ada").await;
    assert_eq!(users(&subscribed["data"]["members"][ROOM]), ["ada", "bob"]);
    bob.expect_silence(PAST_GRACE).await;
    assert_eq!(members(&mut bob).await, ["ada", "bob"]);
}

async fn an_abrupt_tcp_drop_leaves_once_after_the_grace_period(store: StoreKind) {
    let presence = Presence::start(store).await;
    let (mut bob, _) = presence.tab("bob").await;
    let (ada, _) = presence.tab("ada").await;
    expect_event(&mut bob, "presence.join", "ada").await;
    // No close frame: the socket just goes.
    drop(ada);
    expect_event(&mut bob, "presence.leave", "ada").await;
    bob.expect_silence(Duration::from_millis(500)).await;
    assert_eq!(members(&mut bob).await, ["bob"]);
}

async fn unsubscribing_leaves_after_the_grace_period(store: StoreKind) {
    let presence = Presence::start(store).await;
    let (mut bob, _) = presence.tab("bob").await;
    let (mut ada, _) = presence.tab("ada").await;
    expect_event(&mut bob, "presence.join", "ada").await;
    let reply = ada
        .request(&format!(
            r#"{{"action":"unsubscribe","channels":["{ROOM}"]}}"#
        ))
        .await;
    assert_eq!(reply["type"], "unsubscribed", "{reply}");
    expect_event(&mut bob, "presence.leave", "ada").await;
    // Ada is no longer in the room: she may not list it.
    let refused = ada
        .request(&format!(r#"{{"action":"presence","channel":"{ROOM}"}}"#))
        .await;
    assert_eq!(refused["type"], "error", "{refused}");
}

async fn two_hundred_users_joining_at_once_give_an_exact_member_list(store: StoreKind) {
    let presence = Presence::start(store).await;
    let (mut bob, _) = presence.tab("bob").await;
    let names: Vec<String> = (0..200).map(|n| format!("user{n:03}")).collect();
    let tabs = join_all(names.iter().map(|name| presence.tab(name))).await;
    let mut joined = BTreeSet::new();
    for _ in 0..200 {
        let event = bob.recv_json().await;
        assert_eq!(event["type"], "presence.join", "{event}");
        assert!(
            joined.insert(event["data"]["user"].as_str().expect("user").to_owned()),
            "one join per user: {event}"
        );
    }
    let expected: BTreeSet<String> = names.iter().cloned().collect();
    assert_eq!(joined, expected);
    let mut listed = members(&mut bob).await;
    listed.retain(|user| user != "bob");
    assert_eq!(listed, names, "the member list is exact, in user order");
    drop(tabs);
}

async fn ephemeral_publishes_reach_the_others_and_are_never_numbered(store: StoreKind) {
    let presence = Presence::start(store).await;
    let (mut bob, _) = presence.tab("bob").await;
    let (mut ada, _) = presence.tab("ada").await;
    expect_event(&mut bob, "presence.join", "ada").await;
    let reply = ada
        .request(&format!(
            r#"{{"action":"publish","channel":"{ROOM}","data":{{"typing":true}},"ephemeral":true}}"#
        ))
        .await;
    assert_eq!(reply["type"], "published", "{reply}");
    assert!(reply["data"].get("seq").is_none(), "{reply}");
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "message", "channel": ROOM, "data": {"typing": true}, "ephemeral": true})
    );
    // The room has history, and the typing indicator took no number from it.
    let reply = ada
        .request(&format!(
            r#"{{"action":"publish","channel":"{ROOM}","data":{{"text":"hi"}}}}"#
        ))
        .await;
    assert_eq!(reply["data"]["seq"], 1, "{reply}");
    let message = bob.recv_json().await;
    assert_eq!(
        (&message["seq"], &message["data"]),
        (&json!(1), &json!({"text": "hi"}))
    );
}

async fn backends_page_through_members_and_hear_joins_and_leaves_by_webhook(store: StoreKind) {
    let receiver = Receiver::start(Behaviour::Accept).await;
    let presence = Presence::start_with(
        store,
        &[
            format!("WebhookUrl={}", receiver.url()),
            format!("WebhookSecret={SECRET}"),
        ],
    )
    .await;
    let (mut bob, _) = presence.tab("bob").await;
    let (ada, _) = presence.tab("ada").await;
    expect_event(&mut bob, "presence.join", "ada").await;
    let (_carol, _) = presence.tab("carol").await;
    expect_event(&mut bob, "presence.join", "carol").await;

    let gateway = &presence.gateway;
    let (status, page) = get_json(gateway, "/channels/room:1/presence?limit=2").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["channel"], ROOM);
    assert_eq!(users(&page), ["ada", "bob"]);
    assert_eq!(page["members"][0]["info"], json!({"name": "Name of ada"}));
    assert_eq!(page["next"], "bob");
    let (_, rest) = get_json(gateway, "/channels/room:1/presence?limit=2&after=bob").await;
    assert_eq!(
        (users(&rest), &rest["next"]),
        (vec!["carol".to_owned()], &Value::Null)
    );
    let (status, refused) = get_json(gateway, "/channels/news/presence").await;
    assert_eq!(status, 404, "{refused}");
    let (status, refused) = get_json(gateway, "/channels/room:1/presence?limit=0").await;
    assert_eq!(status, 400, "{refused}");

    let join = receiver
        .event("presence.join", Duration::from_secs(15), |event| {
            event["data"]["member"]["user"] == "ada"
        })
        .await;
    assert_eq!(join["data"]["channel"], ROOM, "{join}");
    assert_eq!(
        join["data"]["member"]["info"],
        json!({"name": "Name of ada"})
    );
    ada.close(None).await;
    let leave = receiver
        .event("presence.leave", Duration::from_secs(15), |event| {
            event["data"]["member"]["user"] == "ada"
        })
        .await;
    assert_eq!(leave["data"]["channel"], ROOM, "{leave}");
    expect_event(&mut bob, "presence.leave", "ada").await;
    let events = receiver.events();
    let about_ada = |kind: &str| {
        events
            .iter()
            .filter(|e| e["type"] == kind && e["data"]["member"]["user"] == "ada")
            .count()
    };
    assert_eq!(
        (about_ada("presence.join"), about_ada("presence.leave")),
        (1, 1)
    );
}

on_every_store!(
    backends_page_through_members_and_hear_joins_and_leaves_by_webhook,
    two_tabs_of_one_user_join_once_and_leave_once_after_the_grace_period,
    a_reconnect_within_the_grace_period_produces_no_events,
    an_abrupt_tcp_drop_leaves_once_after_the_grace_period,
    unsubscribing_leaves_after_the_grace_period,
    two_hundred_users_joining_at_once_give_an_exact_member_list,
    ephemeral_publishes_reach_the_others_and_are_never_numbered,
);
