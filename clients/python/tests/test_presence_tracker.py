"""The member lists on their own, frame by frame (the real-gateway tests are in
test_presence.py): joins and leaves, fresh lists, and what a reconnect missed."""

from __future__ import annotations

from typing import Any

from ws_bridge._presence import PresenceTracker


def member(user: str, connections: int = 1) -> dict[str, Any]:
    return {"user": user, "connections": connections, "joinedAt": 1}


def subscribed(channel: str, *users: str) -> dict[str, Any]:
    return {"channels": [channel], "members": {channel: {"members": [member(u) for u in users]}}}


def users(tracker: PresenceTracker, channel: str = "room") -> list[str]:
    return [m["user"] for m in tracker.members(channel)]


def test_joins_and_leaves_keep_the_list_in_user_order() -> None:
    tracker = PresenceTracker()
    assert tracker.subscribed(subscribed("room", "bob"), reconnected=False) == []
    assert tracker.observe({"type": "presence.join", "channel": "room", "data": member("ada")})
    assert users(tracker) == ["ada", "bob"]
    assert tracker.observe({"type": "presence.leave", "channel": "room", "data": {"user": "bob"}})
    assert users(tracker) == ["ada"]
    assert not tracker.observe({"type": "message", "channel": "room", "data": {"user": "x"}})
    assert not tracker.observe({"type": "presence.join", "channel": "room", "data": "bad"})
    assert users(tracker, "elsewhere") == []


def test_a_reconnect_yields_what_the_fresh_list_shows_was_missed() -> None:
    tracker = PresenceTracker()
    tracker.subscribed(subscribed("room", "ada", "bob", "me"), reconnected=False)
    missed = tracker.subscribed(subscribed("room", "bob", "carol", "me"), reconnected=True)
    assert missed == [
        {"type": "presence.leave", "channel": "room", "data": {"user": "ada"}},
        {"type": "presence.join", "channel": "room", "data": member("carol")},
    ]
    assert users(tracker) == ["bob", "carol", "me"]
    # Its own user was there before and after: nothing about it.
    assert all(frame["data"]["user"] != "me" for frame in missed)


def test_a_subscribe_while_connected_replaces_the_list_silently() -> None:
    tracker = PresenceTracker()
    tracker.subscribed(subscribed("room", "ada"), reconnected=False)
    assert tracker.subscribed(subscribed("room", "bob"), reconnected=False) == []
    assert users(tracker) == ["bob"]
    # A first list after a reconnect has nothing to compare with.
    assert tracker.subscribed(subscribed("other", "x"), reconnected=True) == []


def test_replace_and_forget() -> None:
    tracker = PresenceTracker()
    tracker.replace("room", [member("b"), member("a")])
    assert users(tracker) == ["a", "b"]
    tracker.forget(["room"])
    assert users(tracker) == []
    assert tracker.subscribed({"channels": ["room"]}, reconnected=True) == []
