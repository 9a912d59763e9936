"""Each error class, produced by the real gateway: message and status carried, nothing hidden."""

from __future__ import annotations

import asyncio
import math
import pickle
from collections.abc import Callable

import pytest

from conftest import Bridge
from support import Gateway, Peer, SlowReader, fill_queue
from ws_bridge import (
    BadRequest,
    ConnectionGone,
    DeliveryFailed,
    DeliveryReport,
    Unauthorized,
    WsBridgeError,
)

EVENT = {"type": "news", "data": {"title": "hello"}}


async def test_an_invalid_channel_name_is_bad_request_with_the_gateways_reason(
    gateway: Gateway, make_bridge: Callable[..., Bridge]
) -> None:
    bridge = make_bridge(gateway.http_url, retries=3)
    peer = await Peer.connect(gateway.ws_url, channels=["news"])

    with pytest.raises(BadRequest) as caught:
        await bridge.publish("bad name", EVENT)

    assert caught.value.status == 400
    assert "contains ' '" in caught.value.message
    assert isinstance(caught.value, WsBridgeError)
    assert bridge.attempts.count == 1, "a 400 is never retried"
    await peer.nothing_within(0.2)


@pytest.mark.parametrize(
    "event",
    [["not", "an", "object"], "text", 42, None, b'{"type":"bytes"}', {1: "int key"}],
    ids=["list", "str", "int", "none", "bytes", "int-key"],
)
async def test_an_event_that_is_not_a_json_object_is_refused_before_sending(
    gateway: Gateway, make_bridge: Callable[..., Bridge], event: object
) -> None:
    """The gateway only takes a JSON object; the client refuses anything else with TypeError
    (a programming error, not a condition to handle), so nothing reaches the gateway."""
    bridge = make_bridge(gateway.http_url)
    peer = await Peer.connect(gateway.ws_url)

    with pytest.raises(TypeError, match=r"JSON object|keys must be str"):
        await bridge.broadcast(event)

    assert bridge.attempts.count == 0
    await peer.nothing_within(0.2)


async def test_values_json_cannot_carry_are_refused_before_sending(
    gateway: Gateway, make_bridge: Callable[..., Bridge]
) -> None:
    bridge = make_bridge(gateway.http_url)
    with pytest.raises(ValueError, match="not JSON compliant"):
        await bridge.broadcast({"value": math.nan})
    with pytest.raises(TypeError, match="not JSON serializable"):
        await bridge.broadcast({"value": object()})
    assert bridge.attempts.count == 0


async def test_an_empty_path_parameter_is_refused_before_sending(
    gateway: Gateway, make_bridge: Callable[..., Bridge]
) -> None:
    bridge = make_bridge(gateway.http_url)
    with pytest.raises(ValueError, match="channel must not be empty"):
        await bridge.publish("", EVENT)
    with pytest.raises(ValueError, match="connection_id must not be empty"):
        await bridge.send_to_connection("", EVENT)
    assert bridge.attempts.count == 0


async def test_a_missing_or_wrong_api_token_is_unauthorized_and_the_right_one_works(
    start_gateway: Callable[..., Gateway], make_bridge: Callable[..., Bridge]
) -> None:
    gateway = start_gateway("--api-token", "s3cret-token")
    peer = await Peer.connect(gateway.ws_url)
    anonymous = make_bridge(gateway.http_url, retries=3)
    wrong = make_bridge(gateway.http_url, token="wrong-token", retries=3)
    right = make_bridge(gateway.http_url, token="s3cret-token")

    for bridge in (anonymous, wrong):
        with pytest.raises(Unauthorized) as caught:
            await bridge.broadcast(EVENT)
        assert caught.value.status == 401
        assert "bearer token" in caught.value.message
        with pytest.raises(Unauthorized):
            await bridge.count()
        assert bridge.attempts.count == 2, "a 401 is never retried"
    await peer.nothing_within(0.2)

    assert (await right.broadcast(EVENT)).sent == 1
    assert await peer.next() == EVENT
    assert await right.count() == 1


async def test_sending_to_a_closed_connection_is_connection_gone(
    gateway: Gateway, make_bridge: Callable[..., Bridge]
) -> None:
    bridge = make_bridge(gateway.http_url, retries=3)
    peer = await Peer.connect(gateway.ws_url)
    await peer.close()
    await asyncio.sleep(0.1)

    with pytest.raises(ConnectionGone) as caught:
        await bridge.send_to_connection(peer.connection_id, EVENT)

    assert caught.value.status == 404
    assert caught.value.connection_id == peer.connection_id
    assert "is gone" in caught.value.message
    assert bridge.attempts.count == 1


async def test_sending_to_an_id_that_never_existed_is_connection_gone(
    gateway: Gateway, make_bridge: Callable[..., Bridge]
) -> None:
    bridge = make_bridge(gateway.http_url)
    with pytest.raises(ConnectionGone) as caught:
        await bridge.send_to_connection("AAAAAAAAAAAAAAA=", EVENT)
    assert caught.value.connection_id == "AAAAAAAAAAAAAAA="


async def test_a_connection_that_cannot_take_the_message_is_delivery_failed_with_the_report(
    start_gateway: Callable[..., Gateway], make_bridge: Callable[..., Bridge]
) -> None:
    """A reader whose queue is full: the gateway answers 502 with the report naming it."""
    gateway = start_gateway("--client-queue", "1", env={"BROADCAST_MAX_ATTEMPTS": "1"})
    bridge = make_bridge(gateway.http_url, retries=3)
    slow = await asyncio.to_thread(SlowReader, gateway.port)
    try:
        await asyncio.to_thread(fill_queue, gateway, slow.connection_id)

        with pytest.raises(DeliveryFailed) as caught:
            await bridge.send_to_connection(slow.connection_id, EVENT)

        error = caught.value
        assert error.status == 502
        assert error.report.connection_count == 1
        assert error.report.sent == 0
        assert [failure.connection_id for failure in error.report.failed] == [slow.connection_id]
        assert "LimitExceeded" in error.report.failed[0].error
        assert error.message
        assert bridge.attempts.count == 1, "a 502 is never retried"
    finally:
        slow.close()


def test_errors_survive_pickling_as_celery_needs() -> None:
    report = DeliveryReport(1, 0, [], [])
    for error in (
        WsBridgeError("boom", 500),
        BadRequest("bad"),
        Unauthorized("no"),
        ConnectionGone("gone", "abc="),
        DeliveryFailed("failed", report),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert (copy.message, copy.status, str(copy)) == (error.message, error.status, str(error))
    gone = pickle.loads(pickle.dumps(ConnectionGone("gone", "abc=")))
    assert gone.connection_id == "abc="
    assert pickle.loads(pickle.dumps(DeliveryFailed("failed", report))).report == report
