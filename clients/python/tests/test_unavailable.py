"""503 with DynamoDB Local stopped: the partial report is carried, and a message is re-sent
only when that report says nothing was sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from conftest import FAST_RETRIES, Attempts, Bridge
from support import DynamoDbLocal, Gateway, Peer, SlowReader, fill_queue
from ws_bridge import AsyncWsBridge, Backoff, DeliveryReport, Unavailable, WsBridge


def gateway_on(dynamodb: DynamoDbLocal, *args: str, env: dict[str, str] | None = None) -> Gateway:
    return Gateway(
        *dynamodb.gateway_args(), *args, env={**dynamodb.gateway_env(), **(env or {})}
    ).start()


async def test_with_the_store_down_a_message_is_unavailable_with_the_partial_report(
    dynamodb: DynamoDbLocal,
) -> None:
    gateway = await asyncio.to_thread(gateway_on, dynamodb)
    try:
        peer = await Peer.connect(gateway.ws_url, channels=["news"])
        attempts = Attempts()
        async with (
            httpx.AsyncClient(event_hooks={"request": [attempts.async_hook]}) as http,
            AsyncWsBridge(gateway.http_url, http_client=http, backoff=FAST_RETRIES) as bridge,
        ):
            assert (await bridge.broadcast({"type": "before"})).sent == 1
            assert await peer.next() == {"type": "before"}

            dynamodb.stop()

            attempts.count = 0
            with pytest.raises(Unavailable) as caught:
                await bridge.broadcast({"type": "during"})
            error = caught.value
            assert error.status == 503
            assert "connection store unavailable" in error.message
            assert error.report is not None, "the partial report is carried, not hidden"
            assert (error.report.sent, error.report.gone, error.report.failed) == (0, [], [])
            # Nothing was sent, so re-sending was safe: it was retried (and failed again).
            assert attempts.count == 3

            # A read has no report; it is retried too, then Unavailable.
            attempts.count = 0
            with pytest.raises(Unavailable) as from_count:
                await bridge.count(channel="news")
            assert from_count.value.report is None
            assert attempts.count == 3

        # The sync client carries the same.
        with WsBridge(gateway.http_url, retries=0) as sync_bridge:
            with pytest.raises(Unavailable) as from_sync:
                await asyncio.to_thread(sync_bridge.publish, "news", {"type": "during"})
            assert from_sync.value.report is not None
            assert from_sync.value.report.sent == 0
            assert "connection store unavailable" in from_sync.value.message
            with pytest.raises(Unavailable):
                await asyncio.to_thread(sync_bridge.stats)
        await peer.nothing_within(0.2)
    finally:
        gateway.stop()


async def test_a_503_after_something_was_sent_is_not_re_sent(
    dynamodb: DynamoDbLocal, make_bridge: Callable[..., Bridge]
) -> None:
    """The store fails in the middle of a broadcast: one page was delivered, the next listing
    fails. The gateway answers 503 with `sent` 1; re-sending would deliver it twice.

    One subscriber whose queue is full holds the broadcast (page size 1, one send at a time)
    while the store is stopped; it then reads, gets the message, and the next page fails.
    """
    gateway = await asyncio.to_thread(
        gateway_on,
        dynamodb,
        "--client-queue",
        "1",
        env={
            "BROADCAST_PAGE_SIZE": "1",
            "BROADCAST_CONCURRENCY": "1",
            "BROADCAST_MAX_ATTEMPTS": "20",
        },
    )
    slow = await asyncio.to_thread(SlowReader, gateway.port)
    try:
        slow.send_text('{"action":"subscribe","channels":["room"]}')
        assert '"subscribed"' in slow.recv_text()
        bridge = make_bridge(gateway.http_url, retries=5, backoff=Backoff(0.05, 0.2))

        async def publish(event: dict[str, object]) -> DeliveryReport:
            return await bridge.publish("room", event)

        # Warm the store up, so the first pages of the broadcast below are read at once.
        for n in range(3):
            assert (await publish({"warm": n})).sent == 1
            assert slow.recv_text() == f'{{"warm":{n}}}'
        await asyncio.to_thread(fill_queue, gateway, slow.connection_id)
        bridge.attempts.count = 0

        publishing = asyncio.ensure_future(publish({"final": True}))
        await asyncio.sleep(0.5)  # the broadcast is now retrying the full queue
        dynamodb.stop()
        started = time.monotonic()
        received = await asyncio.to_thread(_until_final, slow)
        with pytest.raises(Unavailable) as caught:
            await asyncio.wait_for(publishing, 30)

        report = caught.value.report
        assert report is not None
        assert report.sent == 1, f"{report} (was the store stopped too early or too late?)"
        assert bridge.attempts.count == 1, "a 503 after a delivery must not be re-sent"
        assert received[-1] == '{"final":true}'
        assert time.monotonic() - started < 30
    finally:
        slow.close()
        gateway.stop()


def _until_final(slow: SlowReader) -> list[str]:
    texts = []
    for text in slow.texts():
        texts.append(text)
        if text == '{"final":true}':
            return texts
    return texts
