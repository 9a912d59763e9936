"""The I/O-free core both clients share: requests, answers, and the retry decisions.

These drive :func:`ws_bridge._protocol.perform` by hand with the outcomes a transport reports;
the same code runs under both clients in the end-to-end tests.
"""

from __future__ import annotations

import json
from typing import TypeVar

import httpx
import pytest

from ws_bridge import (
    Backoff,
    BadRequest,
    ConnectionGone,
    DeliveryFailed,
    DeliveryReport,
    FailedDelivery,
    TransportError,
    Unauthorized,
    Unavailable,
    WsBridgeError,
)
from ws_bridge import _protocol as protocol

T = TypeVar("T")
BACKOFF = Backoff(initial=0.1, maximum=0.4)
REQUEST = httpx.Request("POST", "http://127.0.0.1:1/dev/broadcast")


def run(call: protocol.Call[T], outcomes: list[protocol.Outcome], retries: int = 3) -> T:
    """Feeds ``outcomes`` to the flow one request at a time; checks the sleeps in between."""
    flow = protocol.perform(call, retries, BACKOFF)
    step = next(flow)
    sends = 0
    try:
        while True:
            if isinstance(step, protocol.Sleep):
                assert 0 <= step.seconds <= BACKOFF.maximum
                step = flow.send(None)
            else:
                assert step == call.request
                outcome = outcomes[sends]
                sends += 1
                step = flow.send(outcome)
    except StopIteration as done:
        assert sends == len(outcomes), f"{len(outcomes) - sends} outcomes unused"
        result: T = done.value
        return result


def body(value: object, status: int = 200) -> protocol.Response:
    return protocol.Response(status, json.dumps(value).encode())


REPORT = {"connectionCount": 2, "sent": 1, "gone": ["g="], "failed": []}
NOTHING_SENT_503 = body(
    {"connectionCount": 0, "sent": 0, "gone": [], "failed": [], "error": "store down"}, 503
)
SOMETHING_SENT_503 = body(
    {"connectionCount": 1, "sent": 1, "gone": [], "failed": [], "error": "store down"}, 503
)
REFUSED = protocol.classify(httpx.ConnectError("refused", request=REQUEST))
READ_TIMEOUT = protocol.classify(httpx.ReadTimeout("slow", request=REQUEST))


def test_requests_are_built_with_encoded_paths_and_compact_json() -> None:
    call = protocol.publish("a:b@c|d=e/f", {"x": "é", "n": 1})
    assert call.request.path == "/broadcast/a%3Ab%40c%7Cd%3De%2Ff"
    assert call.request.body == '{"x":"é","n":1}'.encode()
    assert call.request.sends_message
    assert protocol.send_to_connection("Ab=", {}).request.path == "/connections/Ab%3D"
    assert protocol.send_to_user("u 1", {}).request.path == "/users/u%201"
    count = protocol.count("news&x=1").request
    assert count.url("http://h/dev/") == "http://h/dev/connections/count?channel=news%26x%3D1"
    assert not count.sends_message
    assert protocol.stats(5).request.url("http://h/dev") == "http://h/dev/stats?limit=5"
    assert protocol.broadcast({}).request.headers("t")["authorization"] == "Bearer t"
    assert "authorization" not in protocol.count().request.headers(None)
    with pytest.raises(ValueError, match="limit"):
        protocol.stats(0)


def test_a_report_is_parsed_into_typed_values() -> None:
    failed = {"connectionId": "f=", "error": "throttled"}
    result = run(protocol.broadcast({}), [body({**REPORT, "failed": [failed]})])
    assert result == DeliveryReport(2, 1, ["g="], [FailedDelivery("f=", "throttled")])


@pytest.mark.parametrize(
    ("status", "expected"),
    [(400, BadRequest), (401, Unauthorized), (404, WsBridgeError), (500, WsBridgeError)],
)
def test_statuses_map_to_exceptions_with_the_servers_message(
    status: int, expected: type[WsBridgeError]
) -> None:
    with pytest.raises(expected) as caught:
        run(protocol.broadcast({}), [body({"error": "why"}, status)])
    assert type(caught.value) is expected
    assert (caught.value.message, caught.value.status) == ("why", status)


def test_404_and_502_on_a_connection_are_gone_and_delivery_failed() -> None:
    with pytest.raises(ConnectionGone) as gone:
        run(protocol.send_to_connection("c=", {}), [body({"error": "gone"}, 404)])
    assert gone.value.connection_id == "c="
    with pytest.raises(DeliveryFailed) as failed:
        run(protocol.send_to_connection("c=", {}), [body({"error": "throttled"}, 502)])
    assert failed.value.report == DeliveryReport(1, 0, [], [FailedDelivery("c=", "throttled")])


def test_a_malformed_success_is_an_error_not_a_guess() -> None:
    with pytest.raises(WsBridgeError, match="unexpected answer"):
        run(protocol.broadcast({}), [protocol.Response(200, b"<html>proxy</html>")])
    with pytest.raises(WsBridgeError, match="count is not an integer"):
        run(protocol.count(), [body({"count": "3"})])


def test_a_503_that_sent_nothing_is_retried_and_may_then_succeed() -> None:
    result = run(protocol.broadcast({}), [NOTHING_SENT_503, NOTHING_SENT_503, body(REPORT)])
    assert isinstance(result, DeliveryReport)
    assert result.sent == 1


@pytest.mark.parametrize(
    "partial",
    [
        {"connectionCount": 1, "sent": 1, "gone": [], "failed": []},
        {"connectionCount": 1, "sent": 0, "gone": ["g="], "failed": []},
        {
            "connectionCount": 1,
            "sent": 0,
            "gone": [],
            "failed": [{"connectionId": "f=", "error": "x"}],
        },
        None,
    ],
    ids=["sent", "gone", "failed", "no-report"],
)
def test_a_503_after_any_delivery_attempt_or_without_a_report_is_not_retried(
    partial: dict[str, object] | None,
) -> None:
    answer = body({**(partial or {}), "error": "store down"}, 503)
    with pytest.raises(Unavailable) as caught:
        run(protocol.publish("c", {}), [answer])
    expected = None if partial is None else protocol.report_from_json(partial)
    assert caught.value.report == expected


def test_after_the_last_retry_the_last_error_is_raised() -> None:
    with pytest.raises(Unavailable):
        run(protocol.broadcast({}), [NOTHING_SENT_503] * 3, retries=2)


def test_connection_failures_are_retried_read_timeouts_only_for_reads() -> None:
    assert run(protocol.broadcast({}), [REFUSED, REFUSED, body(REPORT)]) is not None
    with pytest.raises(TransportError) as caught:
        run(protocol.broadcast({}), [READ_TIMEOUT])
    assert caught.value.maybe_sent
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert run(protocol.count(), [READ_TIMEOUT, body({"count": 4})]) == 4
    assert run(protocol.count(), [body({"error": "x"}, 503), body({"count": 4})]) == 4


def test_an_unusable_url_is_not_retried() -> None:
    unsupported = protocol.classify(httpx.UnsupportedProtocol("ftp?", request=REQUEST))
    with pytest.raises(TransportError) as caught:
        run(protocol.count(), [unsupported])
    assert not caught.value.maybe_sent


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0)
    assert [backoff.ceiling(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    delays = [backoff.delay(3) for _ in range(200)]
    assert all(0 <= delay <= 4.0 for delay in delays)
    assert len(set(delays)) > 100, "jittered"
    assert backoff.ceiling(10_000) == 4.0
    with pytest.raises(ValueError, match="positive"):
        Backoff(initial=0)
    with pytest.raises(ValueError, match="at least"):
        Backoff(initial=2, maximum=1)
