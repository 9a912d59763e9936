"""The listener against a real gateway: receives, reconnects, re-authenticates, re-subscribes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from support import Gateway, Peer, free_port, mint_hs256
from ws_bridge import (
    AsyncWsBridge,
    Backoff,
    HandshakeRefused,
    Listener,
    SubscriptionError,
    listen,
)

SECRET = "listener-test-secret"
QUICK = Backoff(initial=0.05, maximum=0.3)


async def next_message(messages: Listener, timeout: float = 5) -> dict[str, object]:
    item = await asyncio.wait_for(messages.__anext__(), timeout)
    assert isinstance(item, dict), item
    return item


async def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for a condition"
        await asyncio.sleep(0.02)


async def test_receives_broadcasts_and_channel_messages_as_dicts(gateway: Gateway) -> None:
    async with (
        AsyncWsBridge(gateway.http_url) as bridge,
        listen(gateway.ws_url, channels=["news", "post:42"], backoff=QUICK) as messages,
    ):
        assert messages.connection_id is not None
        assert sorted(messages.channels) == ["news", "post:42"]

        assert (await bridge.broadcast({"type": "hello", "n": 1})).sent == 1
        assert (await bridge.publish("post:42", {"type": "comment", "id": 7})).sent == 1
        assert (await bridge.publish("elsewhere", {"type": "not for us"})).connection_count == 0
        assert (await bridge.publish("news", {"type": "news"})).sent == 1

        assert await next_message(messages) == {"type": "hello", "n": 1}
        assert await next_message(messages) == {"type": "comment", "id": 7}
        assert await next_message(messages) == {"type": "news"}
        assert (await bridge.send_to_connection(messages.connection_id, {"direct": True})).sent == 1
        assert await next_message(messages) == {"direct": True}


async def test_a_message_over_32_kb_arrives_whole(gateway: Gateway) -> None:
    # The gateway sends more than 32 KB as a fragmented message of 32 KB frames, as API Gateway
    # does (checklist 60); the client must reassemble it.
    payload = {"text": "x" * 100_000}
    async with (
        AsyncWsBridge(gateway.http_url) as bridge,
        listen(gateway.ws_url, backoff=QUICK) as messages,
    ):
        assert messages.connection_id is not None
        assert (await bridge.send_to_connection(messages.connection_id, payload)).sent == 1
        assert await next_message(messages) == payload


async def test_a_slow_consumer_holds_messages_back_without_losing_any(gateway: Gateway) -> None:
    async with (
        AsyncWsBridge(gateway.http_url) as bridge,
        listen(gateway.ws_url, max_queue=2, backoff=QUICK) as messages,
    ):
        for n in range(40):
            assert (await bridge.broadcast({"n": n})).sent == 1
        await asyncio.sleep(0.3)
        assert messages._queue is not None
        assert messages._queue.qsize() <= 2, "the queue is bounded"
        assert [(await next_message(messages))["n"] for _ in range(40)] == list(range(40))


async def test_channel_messages_from_other_clients_arrive_in_the_protocol_envelope(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(env={"CLIENT_PUBLISH": "true"})
    author = await Peer.connect(gateway.ws_url, channels=["chat"])
    async with listen(gateway.ws_url, channels=["chat"], backoff=QUICK) as messages:
        await author.ws.send('{"action":"publish","channel":"chat","data":{"text":"hi"}}')
        assert await next_message(messages) == {
            "type": "message",
            "channel": "chat",
            "data": {"text": "hi"},
        }


async def test_after_delete_connection_it_reconnects_re_subscribes_with_a_fresh_token(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(env={"JWT_SECRET": SECRET})
    minted: list[str] = []

    async def token() -> str:
        minted.append(mint_hs256(SECRET, "listener-user", jti=str(len(minted))))
        return minted[-1]

    async with (
        AsyncWsBridge(gateway.http_url) as bridge,
        listen(gateway.ws_url, channels=["post:42"], token=token, backoff=QUICK) as messages,
    ):
        first_id = messages.connection_id
        assert first_id is not None
        assert len(minted) == 1
        assert (await bridge.publish("post:42", {"n": 1})).sent == 1
        assert await next_message(messages) == {"n": 1}

        assert gateway.delete_connection(first_id) == 204
        await wait_for(lambda: messages.connection_id not in (None, first_id))

        assert len(minted) == 2, "the token provider is called before every handshake"
        assert messages.connections == 2
        assert await bridge.count(channel="post:42") == 1, "re-subscribed on the new connection"
        report = await bridge.publish("post:42", {"n": 2})
        assert report.sent == 1
        assert await next_message(messages) == {"n": 2}
        assert await bridge.count() == 1, "the old connection is gone"


async def test_a_sync_token_provider_and_a_plain_token_are_accepted(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(env={"JWT_SECRET": SECRET})
    calls = 0

    def token() -> str:
        nonlocal calls
        calls += 1
        return mint_hs256(SECRET, "sync-user")

    async with listen(gateway.ws_url, token=token, backoff=QUICK) as first:
        assert first.connection_id is not None
    async with listen(gateway.ws_url, token=mint_hs256(SECRET, "str-user")) as second:
        assert second.connection_id is not None
    assert calls == 1


async def test_a_refused_handshake_is_retried_once_with_a_fresh_token_then_raised(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(env={"JWT_SECRET": SECRET})
    calls = 0

    async def bad_token() -> str:
        nonlocal calls
        calls += 1
        return mint_hs256("not-the-secret", "intruder")

    with pytest.raises(HandshakeRefused) as caught:
        async with listen(gateway.ws_url, token=bad_token, backoff=QUICK):
            pytest.fail("entered with a bad token")

    assert caught.value.status == 401
    assert "401" in str(caught.value)
    assert calls == 2


async def test_a_first_refusal_healed_by_a_fresh_token_is_not_an_error(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(env={"JWT_SECRET": SECRET})
    tokens = [mint_hs256(SECRET, "late-user", lifetime=-60), mint_hs256(SECRET, "late-user")]

    async with listen(gateway.ws_url, token=lambda: tokens.pop(0), backoff=QUICK) as messages:
        assert messages.connection_id is not None
    assert tokens == []


async def test_a_refusal_on_reconnect_is_raised_from_the_iterator(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway(env={"JWT_SECRET": SECRET})
    valid = True

    def token() -> str:
        return mint_hs256(SECRET if valid else "revoked", "revoked-user")

    async with listen(gateway.ws_url, token=token, backoff=QUICK) as messages:
        assert messages.connection_id is not None
        valid = False
        assert gateway.delete_connection(messages.connection_id) == 204
        with pytest.raises(HandshakeRefused) as caught:
            await next_message(messages)
        assert caught.value.status == 401
        with pytest.raises(HandshakeRefused):  # and it stays ended
            await next_message(messages)


async def test_subscribe_and_unsubscribe_at_runtime(gateway: Gateway) -> None:
    async with (
        AsyncWsBridge(gateway.http_url) as bridge,
        listen(gateway.ws_url, channels=["a"], backoff=QUICK) as messages,
    ):
        assert sorted(await messages.subscribe(["b", "c"])) == ["a", "b", "c"]
        assert (await bridge.publish("b", {"to": "b"})).sent == 1
        assert await next_message(messages) == {"to": "b"}

        assert sorted(await messages.unsubscribe(["a", "b"])) == ["c"]
        assert messages.channels == ["c"]
        assert (await bridge.publish("a", {"to": "a"})).connection_count == 0

        with pytest.raises(SubscriptionError, match="bad name"):
            await messages.subscribe(["bad name"])
        # Still usable, and the channels survive a reconnect.
        first_id = messages.connection_id
        assert first_id is not None
        gateway.delete_connection(first_id)
        await wait_for(lambda: messages.connection_id not in (None, first_id))
        assert (await bridge.publish("c", {"to": "c"})).sent == 1
        assert await next_message(messages) == {"to": "c"}


async def test_initial_channels_the_gateway_refuses_fail_entering(gateway: Gateway) -> None:
    with pytest.raises(SubscriptionError, match="bad name"):
        async with listen(gateway.ws_url, channels=["news", "bad name"], backoff=QUICK):
            pytest.fail("entered with a refused channel")


async def test_it_connects_once_the_gateway_comes_up(
    start_gateway: Callable[..., Gateway],
) -> None:
    port = free_port()
    entering = asyncio.ensure_future(
        listen(f"ws://127.0.0.1:{port}/dev", channels=["news"], backoff=QUICK).__aenter__()
    )
    await asyncio.sleep(0.5)
    assert not entering.done()
    gateway = await asyncio.to_thread(start_gateway, port=port)
    messages = await asyncio.wait_for(entering, 10)
    try:
        async with AsyncWsBridge(gateway.http_url) as bridge:
            assert (await bridge.publish("news", {"up": True})).sent == 1
        assert await next_message(messages) == {"up": True}
    finally:
        await messages.__aexit__(None, None, None)


async def test_keepalive_pings_hold_the_connection_through_the_idle_timeout(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = start_gateway("--idle-timeout-secs", "1")
    async with (
        listen(gateway.ws_url, keepalive=0.3, backoff=QUICK) as kept,
        listen(gateway.ws_url, keepalive=None, backoff=QUICK) as idle,
    ):
        await asyncio.sleep(2.5)
        assert kept.connections == 1, "the keepalive did not keep the connection open"
        assert idle.connections >= 2, "without keepalive the idle timeout closes it"
        async with AsyncWsBridge(gateway.http_url) as bridge:
            await bridge.broadcast({"still": "here"})
        assert await next_message(kept) == {"still": "here"}, "pongs are not yielded"


async def test_leaving_the_block_closes_the_connection_and_ends_iteration(
    gateway: Gateway,
) -> None:
    async with AsyncWsBridge(gateway.http_url) as bridge:
        async with listen(gateway.ws_url, backoff=QUICK) as messages:
            assert await bridge.count() == 1
            consumer = asyncio.ensure_future(anext_or_end(messages))
            await asyncio.sleep(0.1)
        assert await asyncio.wait_for(consumer, 5) == "ended"
        deadline = time.monotonic() + 5
        while await bridge.count() != 0:
            assert time.monotonic() < deadline, "the connection stayed open"
            await asyncio.sleep(0.05)
        assert [message async for message in messages] == []
        with pytest.raises(RuntimeError):
            await messages.subscribe(["late"])


async def anext_or_end(messages: Listener) -> object:
    try:
        return await messages.__anext__()
    except StopAsyncIteration:
        return "ended"
