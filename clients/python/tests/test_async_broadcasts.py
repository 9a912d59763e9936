"""Asynchronous broadcasts with both clients against real gateways (in-process queue and
workers, as `make run` runs them), checked by real WebSocket peers: ``Prefer: respond-async``,
``GET /broadcasts/{id}``, and a 202 the gateway chose (``--broadcast-async-threshold``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from conftest import Bridge
from support import DynamoDbLocal, Gateway, Peer, SlowReader, fill_queue
from ws_bridge import (
    AsyncBroadcast,
    AsyncBroadcastReport,
    BroadcastNotFound,
    BroadcastPending,
    DeliveryReport,
)

EVENT = {"type": "big.news", "n": 1}
# Shards of two recipients: five peers make three shards, all delivered by the workers.
SMALL_SHARDS = ("--broadcast-shard-size", "2")


async def call(bridge: Bridge, method: str, *args: Any, **kwargs: Any) -> Any:
    return await bridge._call(method, *args, **kwargs)


@pytest.mark.parametrize("store", ["memory", "dynamodb"])
async def test_a_prefer_async_broadcast_completes_with_an_exact_report(
    store: str,
    request: pytest.FixtureRequest,
    start_gateway: Callable[..., Gateway],
    make_bridge: Callable[..., Bridge],
) -> None:
    if store == "dynamodb":
        # Progress in a DynamoDB table (created if missing), shards claimed page by page.
        dynamodb: DynamoDbLocal = request.getfixturevalue("dynamodb")
        gateway = await asyncio.to_thread(
            start_gateway, *SMALL_SHARDS, *dynamodb.gateway_args(), env=dynamodb.gateway_env()
        )
    else:
        gateway = start_gateway(*SMALL_SHARDS)
    bridge = make_bridge(gateway.http_url)
    peers = [await Peer.connect(gateway.ws_url) for _ in range(5)]

    accepted = await call(bridge, "broadcast_async", EVENT)

    assert isinstance(accepted, AsyncBroadcast), accepted
    assert accepted.status == "running"
    assert accepted.shard_count >= 3
    assert (accepted.seq, accepted.epoch) == (None, None)
    report = await call(bridge, "wait_for_broadcast", accepted.broadcast_id, timeout=30)
    assert report == AsyncBroadcastReport(
        broadcast_id=accepted.broadcast_id,
        status="completed",
        shard_count=accepted.shard_count,
        shards_done=accepted.shard_count,
        connection_count=5,
        sent=5,
        gone=0,
        failed=0,
        unconfirmed=0,
    )
    for peer in peers:
        assert await peer.next() == EVENT
        await peer.nothing_within(0.1)  # once only
    # The final report stays readable.
    assert await call(bridge, "broadcast_report", accepted.broadcast_id) == report


async def test_publish_async_on_a_history_channel_carries_the_number(
    start_gateway: Callable[..., Gateway], make_bridge: Callable[..., Bridge]
) -> None:
    gateway = start_gateway(*SMALL_SHARDS, "--history-channels", "post:*")
    bridge = make_bridge(gateway.http_url)
    inside = [await Peer.connect(gateway.ws_url, channels=["post:1"]) for _ in range(3)]
    outside = await Peer.connect(gateway.ws_url, channels=["post:2"])

    accepted = await call(bridge, "publish_async", "post:1", EVENT)

    assert isinstance(accepted, AsyncBroadcast), accepted
    assert accepted.seq == 1
    assert accepted.epoch
    report = await call(bridge, "wait_for_broadcast", accepted.broadcast_id, timeout=30)
    assert (report.status, report.connection_count, report.sent) == ("completed", 3, 3)
    assert (report.channel, report.seq, report.epoch) == ("post:1", 1, accepted.epoch)
    for peer in inside:
        envelope = await peer.next()
        assert (envelope["seq"], envelope["data"]) == (1, EVENT)
    await outside.nothing_within(0.3)


async def test_an_unknown_broadcast_id_is_broadcast_not_found(
    gateway: Gateway, make_bridge: Callable[..., Bridge]
) -> None:
    bridge = make_bridge(gateway.http_url)
    unknown = "A" * 22
    with pytest.raises(BroadcastNotFound) as caught:
        await call(bridge, "broadcast_report", unknown)
    assert (caught.value.broadcast_id, caught.value.status) == (unknown, 404)
    with pytest.raises(BroadcastNotFound):
        await call(bridge, "wait_for_broadcast", unknown, timeout=5)
    assert bridge.attempts.count == 2  # a 404 is an answer: not retried


async def test_a_threshold_makes_a_plain_broadcast_follow_the_202_to_the_final_report(
    start_gateway: Callable[..., Gateway], make_bridge: Callable[..., Bridge]
) -> None:
    gateway = start_gateway(*SMALL_SHARDS, "--broadcast-async-threshold", "1")
    bridge = make_bridge(gateway.http_url)
    peers = [await Peer.connect(gateway.ws_url, channels=["news"]) for _ in range(3)]

    report = await bridge.broadcast(EVENT)

    assert isinstance(report, AsyncBroadcastReport), report
    assert report.completed
    assert (report.connection_count, report.sent, report.gone, report.failed) == (3, 3, 0, 0)
    for peer in peers:
        assert await peer.next() == EVENT
    published = await bridge.publish("news", EVENT)
    assert isinstance(published, AsyncBroadcastReport)
    assert published.sent == 3
    for peer in peers:
        assert await peer.next() == EVENT
        await peer.nothing_within(0.1)
    # At or under the threshold the answer stays the synchronous report.
    alone = await Peer.connect(gateway.ws_url, channels=["quiet"])
    assert await bridge.publish("quiet", EVENT) == DeliveryReport(1, 1, [], [])
    assert await alone.next() == EVENT


async def test_a_followed_broadcast_not_done_in_time_is_pending_and_not_sent_again(
    start_gateway: Callable[..., Gateway], make_bridge: Callable[..., Bridge]
) -> None:
    gateway = start_gateway("--broadcast-async-threshold", "1")
    bridge = make_bridge(gateway.http_url, follow_timeout=0)
    peer = await Peer.connect(gateway.ws_url)
    # A reader whose queue is full holds its shard for seconds (the pusher's 429 retries), so
    # the broadcast is still running when the client reads its report the one time it may.
    slow = SlowReader(gateway.port)
    try:
        await asyncio.to_thread(fill_queue, gateway, slow.connection_id)

        with pytest.raises(BroadcastPending) as caught:
            await bridge.broadcast(EVENT)

        pending = caught.value
        assert pending.report is not None
        assert not pending.report.completed
        report = await call(bridge, "wait_for_broadcast", pending.broadcast_id, timeout=60)
        assert report.completed
        assert (report.connection_count, report.sent, report.failed) == (2, 1, 1)
        assert await peer.next() == EVENT
        await peer.nothing_within(0.2)  # accepted once, never re-sent
    finally:
        slow.close()
