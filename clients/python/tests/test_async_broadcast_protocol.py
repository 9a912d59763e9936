"""The I/O-free side of asynchronous broadcasts: a 202 is never read as a report, the polling
of ``GET /broadcasts/{id}`` is bounded, and a followed broadcast is never given up as unsent."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TypeVar

import httpx
import pytest

from ws_bridge import (
    AsyncBroadcast,
    AsyncBroadcastReport,
    Backoff,
    BroadcastNotFound,
    BroadcastPending,
    DeliveryReport,
    TransportError,
)
from ws_bridge import _protocol as protocol

T = TypeVar("T")
BACKOFF = Backoff(initial=0.01, maximum=0.02)
ID = "q3xYq3xYq3xYq3xYq3xYq3"
ACCEPTED = {"broadcastId": ID, "status": "running", "shardCount": 4, "seq": 9, "epoch": "e1"}
RUNNING = {
    "broadcastId": ID,
    "status": "running",
    "shardCount": 4,
    "shardsDone": 1,
    "connectionCount": 10,
    "sent": 10,
    "gone": 0,
    "failed": 0,
    "unconfirmed": 0,
    "throttleRetries": 0,
    "throttledMs": 0,
}
COMPLETED = {**RUNNING, "status": "completed", "shardsDone": 4, "sent": 38, "gone": 2}
REFUSED = protocol.classify(
    httpx.ConnectError("refused", request=httpx.Request("GET", "http://127.0.0.1:1/"))
)


def body(value: object, status: int = 200) -> protocol.Response:
    return protocol.Response(status, json.dumps(value).encode())


def drive(
    flow: protocol.Step[T], outcomes: Sequence[protocol.Outcome]
) -> tuple[T, list[protocol.Request], list[float]]:
    """Feeds ``outcomes`` one request at a time; returns the result, the requests, the sleeps."""
    requests: list[protocol.Request] = []
    sleeps: list[float] = []
    step = next(flow)
    try:
        while True:
            if isinstance(step, protocol.Sleep):
                sleeps.append(step.seconds)
                step = flow.send(None)
            else:
                requests.append(step)
                step = flow.send(outcomes[len(requests) - 1])
    except StopIteration as done:
        assert len(requests) == len(outcomes), "outcomes unused"
        return done.value, requests, sleeps


def test_a_202_is_the_accepted_broadcast_never_a_report() -> None:
    call = protocol.publish("news", {"a": 1}, prefer_async=True)
    assert call.request.headers(None)["prefer"] == "respond-async"
    assert "prefer" not in protocol.broadcast({}).request.headers(None)
    accepted, _, _ = drive(protocol.perform(call, 2, BACKOFF), [body(ACCEPTED, 202)])
    assert accepted == AsyncBroadcast(ID, "running", 4, seq=9, epoch="e1")
    # The preference may be ignored (RFC 7240): the 200's report is returned as it is.
    report, _, _ = drive(
        protocol.perform(call, 2, BACKOFF),
        [body({"connectionCount": 1, "sent": 1, "gone": [], "failed": []})],
    )
    assert report == DeliveryReport(1, 1, [], [])


def test_a_202_is_never_re_sent() -> None:
    # A 202 is a success: one request, whatever the retries allow.
    _, requests, sleeps = drive(
        protocol.perform(protocol.broadcast({}), 5, BACKOFF), [body(ACCEPTED, 202)]
    )
    assert (len(requests), sleeps) == (1, [])


def test_a_malformed_202_is_an_error_not_a_guess() -> None:
    with pytest.raises(Exception, match="unexpected answer"):
        drive(protocol.perform(protocol.broadcast({}), 0, BACKOFF), [body({"id": 1}, 202)])


def test_the_report_is_typed_and_404_is_broadcast_not_found() -> None:
    report, requests, _ = drive(
        protocol.perform(protocol.broadcast_report(ID), 0, BACKOFF), [body(COMPLETED)]
    )
    assert requests[0].method == "GET"
    assert requests[0].path == f"/broadcasts/{ID}"
    assert isinstance(report, AsyncBroadcastReport)
    assert report.completed
    assert (report.connection_count, report.sent, report.gone, report.failed) == (10, 38, 2, 0)
    with pytest.raises(BroadcastNotFound) as caught:
        drive(
            protocol.perform(protocol.broadcast_report(ID), 2, BACKOFF),
            [body({"error": f"no broadcast {ID}"}, 404)],
        )
    assert (caught.value.broadcast_id, caught.value.status) == (ID, 404)


def test_wait_polls_with_growing_pauses_until_completed() -> None:
    flow = protocol.wait(ID, timeout=30, poll=0.2, retries=0, backoff=BACKOFF)
    report, requests, sleeps = drive(flow, [body(RUNNING)] * 4 + [body(COMPLETED)])
    assert report.completed
    assert len(requests) == 5
    assert sleeps == [0.05, 0.1, 0.2, 0.2]


def test_wait_is_bounded_by_its_timeout() -> None:
    flow = protocol.wait(ID, timeout=0, poll=0.2, retries=0, backoff=BACKOFF)
    with pytest.raises(BroadcastPending) as caught:
        drive(flow, [body(RUNNING)])
    assert caught.value.broadcast_id == ID
    assert caught.value.report is not None
    assert caught.value.report.shards_done == 1


def test_follow_returns_the_200_report_or_the_completed_async_one() -> None:
    sync = {"connectionCount": 1, "sent": 1, "gone": [], "failed": []}
    flow = protocol.follow(protocol.broadcast({}), 10, 0.2, 0, BACKOFF)
    assert drive(flow, [body(sync)])[0] == DeliveryReport(1, 1, [], [])
    flow = protocol.follow(protocol.broadcast({}), 10, 0.2, 0, BACKOFF)
    report, requests, _ = drive(flow, [body(ACCEPTED, 202), body(RUNNING), body(COMPLETED)])
    assert isinstance(report, AsyncBroadcastReport)
    assert report.completed
    assert [r.method for r in requests] == ["POST", "GET", "GET"]


def test_a_followed_broadcast_whose_report_cannot_be_read_is_pending_not_unsent() -> None:
    # The reads are retried as reads are; when they still fail, the error must not let the
    # caller think the message unsent (TransportError.maybe_sent is False for a GET).
    flow = protocol.follow(protocol.broadcast({}), 10, 0.2, 1, BACKOFF)
    with pytest.raises(BroadcastPending) as caught:
        drive(flow, [body(ACCEPTED, 202), REFUSED, REFUSED])
    assert caught.value.broadcast_id == ID
    assert isinstance(caught.value.__cause__, TransportError)


def test_wait_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="poll"):
        protocol.check_wait(1, 0)
    with pytest.raises(ValueError, match="timeout"):
        protocol.check_wait(-1, 1)
