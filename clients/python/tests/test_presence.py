"""Presence through the listener against a real gateway: the member list, joins and leaves, and
a reconnect within the grace period that nobody sees."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from support import Gateway, mint_hs256
from ws_bridge import Backoff, Listener, listen

SECRET = "presence-test-secret"
QUICK = Backoff(initial=0.05, maximum=0.3)
ROOM = "room:1"
GRACE = 2


@pytest.fixture
def presence_gateway(start_gateway: Callable[..., Gateway]) -> Gateway:
    return start_gateway(
        env={
            "JWT_SECRET": SECRET,
            "JWT_CLAIMS": "name",
            "PRESENCE_CHANNELS": "room:*",
            "PRESENCE_LEAVE_GRACE_SECONDS": str(GRACE),
            "PRESENCE_INFO_CLAIM": "name",
        }
    )


def token(user: str) -> str:
    return mint_hs256(SECRET, user, name=f"Name of {user}")


def users(listener: Listener) -> list[str]:
    return [str(member["user"]) for member in listener.members(ROOM)]


async def next_event(messages: Listener, timeout: float = 5) -> dict[str, object]:
    item = await asyncio.wait_for(messages.__anext__(), timeout)
    assert isinstance(item, dict), item
    return item


async def nothing_within(messages: Listener, seconds: float) -> None:
    try:
        item = await asyncio.wait_for(messages.__anext__(), seconds)
    except asyncio.TimeoutError:
        return
    pytest.fail(f"expected nothing, got {item!r}")


async def test_members_joins_and_leaves(presence_gateway: Gateway) -> None:
    url = presence_gateway.ws_url
    async with listen(url, channels=[ROOM], token=token("bob"), backoff=QUICK) as bob:
        assert users(bob) == ["bob"]
        async with listen(url, channels=[ROOM], token=token("ada"), backoff=QUICK) as ada:
            assert users(ada) == ["ada", "bob"]
            joined = await next_event(bob)
            assert joined["type"] == "presence.join"
            data = joined["data"]
            assert isinstance(data, dict)
            assert (data["user"], data["connections"]) == ("ada", 1)
            assert bob.members(ROOM)[0]["info"] == {"name": "Name of ada"}
            assert [m["user"] for m in await bob.presence(ROOM)] == ["ada", "bob"]
        left = await next_event(bob, timeout=GRACE + 5)
        assert (left["type"], left["data"]) == ("presence.leave", {"user": "ada"})
        assert users(bob) == ["bob"]


async def test_a_reconnect_within_the_grace_period_shows_no_leave_or_join(
    presence_gateway: Gateway,
) -> None:
    url = presence_gateway.ws_url
    async with (
        listen(url, channels=[ROOM], token=token("bob"), backoff=QUICK) as bob,
        listen(url, channels=[ROOM], token=token("ada"), backoff=QUICK) as ada,
    ):
        assert (await next_event(bob))["type"] == "presence.join"
        first = ada.connection_id
        assert first is not None
        # The backend closes ada's connection (as an idle timeout or a network blip would).
        assert presence_gateway.delete_connection(first) == 204
        await wait_until(lambda: ada.connections == 2)
        assert ada.connection_id != first
        await nothing_within(bob, GRACE + 1.5)
        await nothing_within(ada, 0.2)
        assert users(bob) == ["ada", "bob"]
        assert users(ada) == ["ada", "bob"]


async def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting for a condition"
        await asyncio.sleep(0.02)
