"""Every method of both HTTP clients against a real gateway, checked by real WebSocket peers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from conftest import Bridge
from support import Gateway, Peer, mint_hs256
from ws_bridge import AsyncWsBridge, ChannelStats, DeliveryReport, FailedDelivery, Stats, WsBridge

EVENT = {"type": "comment.created", "data": {"id": 7, "text": "héllo ✓", "tags": ["a", "b"]}}
ODD_CHANNEL = "team:7@eu|shard=2"


async def test_broadcast_reaches_every_connection_and_the_report_says_so(
    gateway: Gateway, make_bridge: Callable[..., Bridge]
) -> None:
    bridge = make_bridge(gateway.http_url)
    peers = [await Peer.connect(gateway.ws_url) for _ in range(3)]

    report = await bridge.broadcast(EVENT)

    assert report == DeliveryReport(connection_count=3, sent=3, gone=[], failed=[])
    for peer in peers:
        assert await peer.next() == EVENT


async def test_publish_reaches_only_the_channel_and_names_are_percent_encoded(
    gateway: Gateway, make_bridge: Callable[..., Bridge]
) -> None:
    bridge = make_bridge(gateway.http_url)
    inside = await Peer.connect(gateway.ws_url, channels=[ODD_CHANNEL])
    outside = await Peer.connect(gateway.ws_url, channels=["team:7@eu|shard=3"])

    report = await bridge.publish(ODD_CHANNEL, EVENT)

    assert (report.connection_count, report.sent, report.gone, report.failed) == (1, 1, [], [])
    assert await inside.next() == EVENT
    await outside.nothing_within(0.3)
    assert await bridge.publish("nobody-here", EVENT) == DeliveryReport(0, 0, [], [])


async def test_send_to_user_reaches_every_connection_of_that_user_only(
    start_gateway: Callable[..., Gateway], make_bridge: Callable[..., Bridge]
) -> None:
    secret = "user-test-secret"
    gateway = start_gateway(env={"JWT_SECRET": secret})
    bridge = make_bridge(gateway.http_url)
    # A subject with a slash: sent unencoded it would name another route.
    user = "auth0|tenant/42@example.org"
    phone = await Peer.connect(gateway.ws_url, token=mint_hs256(secret, user))
    laptop = await Peer.connect(gateway.ws_url, token=mint_hs256(secret, user))
    other = await Peer.connect(gateway.ws_url, token=mint_hs256(secret, "someone-else"))

    report = await bridge.send_to_user(user, EVENT)

    assert (report.connection_count, report.sent) == (2, 2), report
    assert await phone.next() == EVENT
    assert await laptop.next() == EVENT
    await other.nothing_within(0.3)


async def test_send_to_connection_reaches_that_connection_only(
    gateway: Gateway, make_bridge: Callable[..., Bridge]
) -> None:
    bridge = make_bridge(gateway.http_url)
    target = await Peer.connect(gateway.ws_url)
    bystander = await Peer.connect(gateway.ws_url)
    assert "=" in target.connection_id  # ids end in '=', which the path must carry encoded

    report = await bridge.send_to_connection(target.connection_id, EVENT)

    assert report == DeliveryReport(connection_count=1, sent=1, gone=[], failed=[])
    assert await target.next() == EVENT
    await bystander.nothing_within(0.3)


async def test_events_are_delivered_verbatim_as_compact_utf8_json(
    gateway: Gateway, make_bridge: Callable[..., Bridge]
) -> None:
    bridge = make_bridge(gateway.http_url)
    peer = await Peer.connect(gateway.ws_url)

    await bridge.broadcast({"a": 1, "b": "é"})

    assert await asyncio.wait_for(peer.ws.recv(), 5) == '{"a":1,"b":"é"}'


async def test_count_and_stats_describe_connections_and_channels(
    gateway: Gateway, make_bridge: Callable[..., Bridge]
) -> None:
    bridge = make_bridge(gateway.http_url)
    assert await bridge.count() == 0
    for channels in (["news", ODD_CHANNEL], ["news"], []):
        await Peer.connect(gateway.ws_url, channels=channels)

    assert await bridge.count() == 3
    assert await bridge.count(channel="news") == 2
    assert await bridge.count(channel=ODD_CHANNEL) == 1
    assert await bridge.count(channel="empty") == 0
    assert await bridge.stats() == Stats(
        connections=3,
        channels=[ChannelStats("news", 2), ChannelStats(ODD_CHANNEL, 1)],
        channel_count=2,
        truncated=False,
    )
    assert await bridge.stats(limit=1) == Stats(
        connections=3, channels=[ChannelStats("news", 2)], channel_count=2, truncated=True
    )


def test_the_sync_client_works_without_an_event_loop(gateway: Gateway) -> None:
    """Plain synchronous use, as in a script or a Celery task, with its own httpx client."""
    with WsBridge(gateway.http_url, timeout=5) as bridge:
        assert bridge.broadcast({"type": "ping"}) == DeliveryReport(0, 0, [], [])
        assert bridge.count() == 0
        assert bridge.stats().connections == 0


def test_the_sync_client_uses_an_injected_http_client_and_leaves_it_open(gateway: Gateway) -> None:
    requests: list[str] = []
    with httpx.Client(event_hooks={"request": [lambda r: requests.append(r.url.path)]}) as http:
        with WsBridge(gateway.http_url, http_client=http) as bridge:
            assert bridge.count(channel="news") == 0
        assert requests == ["/dev/connections/count"]
        assert http.get(f"{gateway.http_url}/connections/count").status_code == 200


async def test_the_async_client_uses_an_injected_http_client_and_leaves_it_open(
    gateway: Gateway,
) -> None:
    requests: list[str] = []

    async def record(request: httpx.Request) -> None:
        requests.append(request.url.path)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
        async with AsyncWsBridge(gateway.http_url, http_client=http) as bridge:
            assert await bridge.count(channel="news") == 0
        assert requests == ["/dev/connections/count"]
        assert (await http.get(f"{gateway.http_url}/connections/count")).status_code == 200


def test_failed_delivery_is_a_typed_frozen_value() -> None:
    failure = FailedDelivery(connection_id="abc=", error="LimitExceededException")
    report = DeliveryReport(connection_count=1, sent=0, gone=[], failed=[failure])
    with pytest.raises(AttributeError):
        report.sent = 1  # type: ignore[misc]
    assert report.failed[0].connection_id == "abc="
