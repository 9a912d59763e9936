"""The HTTP API without I/O: building requests, parsing answers, and the retry policy.

Both clients (:class:`~ws_bridge.WsBridge` and :class:`~ws_bridge.AsyncWsBridge`) run the same
:func:`perform` generator; they differ only in how they send a request and how they sleep.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlencode

import httpx

from ._errors import (
    BadRequest,
    BroadcastNotFound,
    BroadcastPending,
    ConnectionGone,
    DeliveryFailed,
    TransportError,
    Unauthorized,
    Unavailable,
    WsBridgeError,
)
from ._models import (
    AsyncBroadcast,
    AsyncBroadcastReport,
    Backoff,
    ChannelStats,
    DeliveryReport,
    FailedDelivery,
    Stats,
)

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
"""Seconds for each phase (connect, write, read, pool) of a request by a client's own httpx."""
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF = Backoff(initial=0.1, maximum=2.0)
DEFAULT_FOLLOW_TIMEOUT = 60.0
"""Seconds ``broadcast``/``publish`` follow a 202 they did not ask for before raising
:class:`BroadcastPending`."""
DEFAULT_WAIT_TIMEOUT = 60.0
DEFAULT_POLL = 1.0
"""The longest pause between two reads of an asynchronous broadcast's report, in seconds."""
_FIRST_POLL = 0.05


# --- requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One HTTP request to the gateway, relative to the stage URL."""

    method: str
    path: str
    """Percent-encoded path under the stage URL, starting with ``/``."""
    query: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    sends_message: bool = False
    """True for the routes that deliver a message: never re-sent once it may have arrived."""
    prefer_async: bool = False
    """Sends ``Prefer: respond-async`` (RFC 7240): deliver asynchronously, answer 202."""

    def url(self, base_url: str) -> str:
        url = base_url.rstrip("/") + self.path
        if self.query:
            url += "?" + urlencode(self.query)
        return url

    def headers(self, token: str | None) -> dict[str, str]:
        headers = {"accept": "application/json"}
        if self.body is not None:
            headers["content-type"] = "application/json"
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        if self.prefer_async:
            headers["prefer"] = "respond-async"
        return headers


@dataclass(frozen=True)
class Call(Generic[T]):
    """A request and the function that turns its answer into the result or an exception."""

    request: Request
    parse: Callable[[int, bytes], T]


def encode_event(event: Mapping[str, Any]) -> bytes:
    """The event as the JSON object the gateway delivers verbatim.

    Raises ``TypeError`` for anything but a mapping (the gateway accepts only a JSON object), or
    for values JSON cannot hold, and ``ValueError`` for NaN or infinities: nothing is sent.
    """
    if not isinstance(event, Mapping):
        raise TypeError(
            f"an event must be a JSON object (a dict with str keys), not {type(event).__name__}"
        )
    for key in event:
        if not isinstance(key, str):
            raise TypeError(f"an event's keys must be str, not {type(key).__name__}: {key!r}")
    return json.dumps(
        dict(event), ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode("utf-8")


def path_segment(value: str, what: str) -> str:
    """``value`` percent-encoded as one path segment (``:`` ``@`` ``|`` ``=`` ``/`` included)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    return quote(value, safe="")


Broadcast = DeliveryReport | AsyncBroadcast
"""What a broadcast's answer holds: the report (200), or the accepted asynchronous broadcast
(202, asked for or decided by the gateway's ``BROADCAST_ASYNC_THRESHOLD``)."""


def broadcast(event: Mapping[str, Any], prefer_async: bool = False) -> Call[Broadcast]:
    return _broadcast("/broadcast", event, prefer_async)


def publish(channel: str, event: Mapping[str, Any], prefer_async: bool = False) -> Call[Broadcast]:
    return _broadcast(f"/broadcast/{path_segment(channel, 'channel')}", event, prefer_async)


def broadcast_report(broadcast_id: str) -> Call[AsyncBroadcastReport]:
    """``GET /broadcasts/{id}``: an asynchronous broadcast's report so far, or the final one."""
    segment = path_segment(broadcast_id, "broadcast_id")

    def parse(status: int, content: bytes) -> AsyncBroadcastReport:
        if status == 404:
            payload = _json(content)
            raise BroadcastNotFound(_error_message(status, content, payload), broadcast_id)
        if status != 200:
            raise error_for(status, content)
        try:
            return async_report_from_json(_json(content))
        except _Malformed as err:
            raise _unexpected(status, content, str(err)) from None

    return Call(Request("GET", f"/broadcasts/{segment}"), parse)


def send_to_user(user_id: str, event: Mapping[str, Any]) -> Call[DeliveryReport]:
    return _message(f"/users/{path_segment(user_id, 'user_id')}", event)


def send_to_connection(connection_id: str, event: Mapping[str, Any]) -> Call[DeliveryReport]:
    segment = path_segment(connection_id, "connection_id")
    body = encode_event(event)

    def parse(status: int, content: bytes) -> DeliveryReport:
        return _parse_report(status, content, connection_id=connection_id)

    return Call(Request("POST", f"/connections/{segment}", body=body, sends_message=True), parse)


def count(channel: str | None = None) -> Call[int]:
    query: tuple[tuple[str, str], ...] = ()
    if channel is not None:
        if not isinstance(channel, str) or not channel:
            raise ValueError("channel must be a non-empty str or None")
        query = (("channel", channel),)
    return Call(Request("GET", "/connections/count", query=query), _parse_count)


def stats(limit: int | None = None) -> Call[Stats]:
    query: tuple[tuple[str, str], ...] = ()
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValueError(f"limit must be an int from 1 to 1000, not {limit!r}")
        query = (("limit", str(limit)),)
    return Call(Request("GET", "/stats", query=query), _parse_stats)


def _message(path: str, event: Mapping[str, Any]) -> Call[DeliveryReport]:
    body = encode_event(event)
    return Call(Request("POST", path, body=body, sends_message=True), _parse_report)


def _broadcast(path: str, event: Mapping[str, Any], prefer_async: bool) -> Call[Broadcast]:
    body = encode_event(event)
    request = Request("POST", path, body=body, sends_message=True, prefer_async=prefer_async)
    return Call(request, _parse_broadcast)


# --- answers --------------------------------------------------------------------------------


class _Malformed(Exception):
    pass


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Malformed(f"{what} is not an integer: {value!r}")
    return value


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _Malformed(f"{what} is not a string: {value!r}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Malformed(f"{what} is not a list: {value!r}")
    return value


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed(f"{what} is not an object: {value!r}")
    return value


def report_from_json(payload: Any) -> DeliveryReport:
    """A :class:`DeliveryReport` from the gateway's ``{"connectionCount":…}`` JSON."""
    body = _object(payload, "the delivery report")
    failed = []
    for entry in _list(body.get("failed", []), "failed"):
        item = _object(entry, "a failed delivery")
        failed.append(
            FailedDelivery(
                connection_id=_str(item.get("connectionId"), "failed[].connectionId"),
                error=_str(item.get("error"), "failed[].error"),
            )
        )
    return DeliveryReport(
        connection_count=_int(body.get("connectionCount"), "connectionCount"),
        sent=_int(body.get("sent"), "sent"),
        gone=[_str(id_, "gone[]") for id_ in _list(body.get("gone", []), "gone")],
        failed=failed,
        seq=_int(body["seq"], "seq") if "seq" in body else None,
        epoch=_str(body["epoch"], "epoch") if "epoch" in body else None,
    )


def _error_message(status: int, content: bytes, payload: Any) -> str:
    if isinstance(payload, dict):
        for key in ("error", "message"):
            if isinstance(payload.get(key), str):
                return str(payload[key])
    text = content.decode("utf-8", "replace").strip()
    return text[:500] if text else f"HTTP {status} with an empty body"


def _unexpected(status: int, content: bytes, why: str) -> WsBridgeError:
    text = content.decode("utf-8", "replace")[:300]
    return WsBridgeError(f"unexpected answer from ws-bridge ({why}): {text}", status)


def _partial_report(payload: Any) -> DeliveryReport | None:
    if not isinstance(payload, dict) or "connectionCount" not in payload:
        return None
    try:
        return report_from_json(payload)
    except _Malformed:
        return None


def error_for(status: int, content: bytes, connection_id: str | None = None) -> WsBridgeError:
    """The exception for a non-2xx answer."""
    payload = _json(content)
    message = _error_message(status, content, payload)
    if status == 400:
        return BadRequest(message)
    if status == 401:
        return Unauthorized(message)
    if status == 404 and connection_id is not None:
        return ConnectionGone(message, connection_id)
    if status == 502 and connection_id is not None:
        # The gateway answers `{"error"}` alone here; a report, if one comes, is used as is.
        # Otherwise the report is what the route implies: one connection, not delivered.
        report = _partial_report(payload) or DeliveryReport(
            connection_count=1,
            sent=0,
            gone=[],
            failed=[FailedDelivery(connection_id=connection_id, error=message)],
        )
        return DeliveryFailed(message, report)
    if status == 503:
        return Unavailable(message, _partial_report(payload))
    return WsBridgeError(message, status)


def _parse_report(status: int, content: bytes, connection_id: str | None = None) -> DeliveryReport:
    if status != 200:
        raise error_for(status, content, connection_id)
    try:
        return report_from_json(_json(content))
    except _Malformed as err:
        raise _unexpected(status, content, str(err)) from None


def _parse_broadcast(status: int, content: bytes) -> Broadcast:
    """200: the report; 202: the accepted broadcast, whatever made the gateway choose it (a
    success: the message is never re-sent)."""
    if status != 202:
        return _parse_report(status, content)
    try:
        return accepted_from_json(_json(content))
    except _Malformed as err:
        raise _unexpected(status, content, str(err)) from None


def accepted_from_json(payload: Any) -> AsyncBroadcast:
    """An :class:`AsyncBroadcast` from the 202's ``{"broadcastId":…}`` JSON."""
    body = _object(payload, "the accepted broadcast")
    return AsyncBroadcast(
        broadcast_id=_str(body.get("broadcastId"), "broadcastId"),
        status=_str(body.get("status"), "status"),
        shard_count=_int(body.get("shardCount"), "shardCount"),
        seq=_int(body["seq"], "seq") if "seq" in body else None,
        epoch=_str(body["epoch"], "epoch") if "epoch" in body else None,
    )


def async_report_from_json(payload: Any) -> AsyncBroadcastReport:
    """An :class:`AsyncBroadcastReport` from ``GET /broadcasts/{id}``'s JSON."""
    body = _object(payload, "the broadcast's report")
    channel = body.get("channel")
    return AsyncBroadcastReport(
        broadcast_id=_str(body.get("broadcastId"), "broadcastId"),
        status=_str(body.get("status"), "status"),
        shard_count=_int(body.get("shardCount"), "shardCount"),
        shards_done=_int(body.get("shardsDone"), "shardsDone"),
        connection_count=_int(body.get("connectionCount"), "connectionCount"),
        sent=_int(body.get("sent"), "sent"),
        gone=_int(body.get("gone"), "gone"),
        failed=_int(body.get("failed"), "failed"),
        unconfirmed=_int(body.get("unconfirmed", 0), "unconfirmed"),
        throttle_retries=_int(body.get("throttleRetries", 0), "throttleRetries"),
        throttled_ms=_int(body.get("throttledMs", 0), "throttledMs"),
        channel=None if channel is None else _str(channel, "channel"),
        seq=_int(body["seq"], "seq") if "seq" in body else None,
        epoch=_str(body["epoch"], "epoch") if "epoch" in body else None,
    )


def _parse_count(status: int, content: bytes) -> int:
    if status != 200:
        raise error_for(status, content)
    try:
        return _int(_object(_json(content), "the count").get("count"), "count")
    except _Malformed as err:
        raise _unexpected(status, content, str(err)) from None


def _parse_stats(status: int, content: bytes) -> Stats:
    if status != 200:
        raise error_for(status, content)
    try:
        body = _object(_json(content), "the stats")
        channels = []
        for entry in _list(body.get("channels"), "channels"):
            item = _object(entry, "a channel")
            channels.append(
                ChannelStats(
                    name=_str(item.get("name"), "channels[].name"),
                    subscribers=_int(item.get("subscribers"), "channels[].subscribers"),
                )
            )
        truncated = body.get("truncated")
        if not isinstance(truncated, bool):
            raise _Malformed(f"truncated is not a boolean: {truncated!r}")
        return Stats(
            connections=_int(body.get("connections"), "connections"),
            channels=channels,
            channel_count=_int(body.get("channelCount"), "channelCount"),
            truncated=truncated,
        )
    except _Malformed as err:
        raise _unexpected(status, content, str(err)) from None


# --- transport outcomes and the retry policy -------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    content: bytes


class Reach(enum.Enum):
    NOT_REACHED_TRANSIENT = "not reached, worth retrying"
    NOT_REACHED = "not reached, retrying would not help"
    MAYBE_REACHED = "sent; the answer never came"


@dataclass(frozen=True)
class Failure:
    """A request that got no HTTP answer."""

    error: Exception
    reach: Reach


Outcome = Response | Failure


@dataclass(frozen=True)
class Sleep:
    seconds: float


def classify(error: httpx.TransportError) -> Failure:
    """Whether the request can have reached the gateway.

    Only a failure to open the connection (refused, DNS, connect timeout, no free pooled
    connection) proves the request never left: a message is re-sent only then.
    """
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return Failure(error, Reach.NOT_REACHED_TRANSIENT)
    if isinstance(error, (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)):
        return Failure(error, Reach.NOT_REACHED)
    return Failure(error, Reach.MAYBE_REACHED)


def _transport_error(failure: Failure, request: Request, attempts: int) -> TransportError:
    maybe_sent = request.sends_message and failure.reach is Reach.MAYBE_REACHED
    detail = str(failure.error) or type(failure.error).__name__
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    consequence = (
        "; the message may have been delivered, so it was not re-sent" if maybe_sent else ""
    )
    return TransportError(
        f"{request.method} {request.path} failed{tries}: {detail}{consequence}", maybe_sent
    )


def _retryable(outcome: Outcome, request: Request, error: WsBridgeError) -> bool:
    if isinstance(outcome, Failure):
        if outcome.reach is Reach.NOT_REACHED_TRANSIENT:
            return True
        # A read that may have reached the gateway is safe to repeat; a message is not.
        return outcome.reach is Reach.MAYBE_REACHED and not request.sends_message
    if isinstance(error, Unavailable):
        if not request.sends_message:
            return True
        # Re-send only when the gateway says it delivered to nobody.
        return error.report is not None and error.report.nothing_attempted
    return False


def perform(
    call: Call[T], retries: int, backoff: Backoff
) -> Generator[Request | Sleep, Outcome | None, T]:
    """Runs ``call`` with retries: yields the request to send (and receives its outcome) or a
    :class:`Sleep` (and receives ``None``); returns the parsed result or raises.

    Retried, ``retries`` times at most, after a jittered capped backoff: a request that never
    reached the gateway (connection refused, connect timeout); a 503 to a message whose partial
    report says nothing was sent, gone or failed; for reads (``count``, ``stats``) any transport
    failure and any 503. Never retried: a message that may have been accepted (read timeout,
    connection reset after sending, a 503 after sends), and every other status.
    """
    attempt = 0
    while True:
        outcome = yield call.request
        if outcome is None:
            raise RuntimeError("perform() expects the outcome of the request it yielded")
        error: WsBridgeError
        if isinstance(outcome, Failure):
            error = _transport_error(outcome, call.request, attempt + 1)
        else:
            try:
                return call.parse(outcome.status, outcome.content)
            except WsBridgeError as err:
                error = err
        if attempt >= retries or not _retryable(outcome, call.request, error):
            if isinstance(outcome, Failure):
                raise error from outcome.error
            raise error
        yield Sleep(backoff.delay(attempt))
        attempt += 1


def check_options(retries: int, backoff: Backoff) -> None:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an int >= 0, not {retries!r}")
    if not isinstance(backoff, Backoff):
        raise TypeError(f"backoff must be a ws_bridge.Backoff, not {type(backoff).__name__}")


def check_wait(timeout: float, poll: float, what: str = "timeout") -> None:
    for name, value in ((what, timeout), ("poll", poll)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{name} must be a number of seconds >= 0, not {value!r}")
    if not poll > 0:
        raise ValueError(f"poll must be positive, not {poll!r}")


# --- following an asynchronous broadcast -----------------------------------------------------

Step = Generator[Request | Sleep, Outcome | None, T]


def wait(
    broadcast_id: str, timeout: float, poll: float, retries: int, backoff: Backoff
) -> Step[AsyncBroadcastReport]:
    """Reads the report until it is ``completed`` (returned) or ``timeout`` seconds pass
    (:class:`BroadcastPending`, with the last report). Pauses 50 ms, then twice as long each
    time, at most ``poll`` seconds: a small broadcast is seen done at once, a large one is not
    read more than once per ``poll``. Each read is retried as reads are (see :func:`perform`)."""
    call = broadcast_report(broadcast_id)
    deadline = time.monotonic() + timeout
    pause = min(_FIRST_POLL, poll)
    while True:
        report = yield from perform(call, retries, backoff)
        if report.completed:
            return report
        left = deadline - time.monotonic()
        if left <= 0:
            raise BroadcastPending(
                f"broadcast {broadcast_id} not completed within {timeout:g} s "
                f"({report.shards_done} of {report.shard_count} shards done); it runs on",
                broadcast_id,
                report,
            )
        yield Sleep(min(pause, left))
        pause = min(pause * 2, poll)


def follow(
    call: Call[Broadcast], timeout: float, poll: float, retries: int, backoff: Backoff
) -> Step[DeliveryReport | AsyncBroadcastReport]:
    """A broadcast that gives its final report: the 200's, or, when the gateway answered 202,
    the asynchronous broadcast's once completed (read for at most ``timeout`` seconds).

    Once the 202 came the message is accepted: whatever stops the reads (the timeout, the
    gateway unreachable, ...) is raised as :class:`BroadcastPending` with the broadcast's id,
    never as an error the caller could take for "not sent" and send again.
    """
    answer = yield from perform(call, retries, backoff)
    if isinstance(answer, DeliveryReport):
        return answer
    try:
        return (yield from wait(answer.broadcast_id, timeout, poll, retries, backoff))
    except BroadcastPending:
        raise
    except WsBridgeError as err:
        raise BroadcastPending(
            f"broadcast {answer.broadcast_id} was accepted (202) but its report could not be "
            f"read: {err}; it runs on, do not send it again",
            answer.broadcast_id,
        ) from err
