"""Exceptions. Each carries the server's ``error`` message and the HTTP status.

Every constructor passes all of its arguments to ``Exception.__init__`` in the order of its
signature, so the exceptions survive pickling (Celery sends a task's exception to its caller).
"""

from __future__ import annotations

from ._models import AsyncBroadcastReport, DeliveryReport


class WsBridgeError(Exception):
    """Base of every error of this package: ``message`` and the HTTP ``status`` (or ``None``)."""

    message: str
    status: int | None

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message, status)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        if self.status is None:
            return self.message
        return f"{self.message} (HTTP {self.status})"


class BadRequest(WsBridgeError):
    """400: the gateway refused the request (bad body, invalid channel name); nothing was sent."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message, status)


class Unauthorized(WsBridgeError):
    """401: the API token is missing or wrong; nothing was sent."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message, status)


class ConnectionGone(WsBridgeError):
    """404 from ``send_to_connection``: the connection no longer exists (the gateway removed it)."""

    connection_id: str

    def __init__(self, message: str, connection_id: str, status: int = 404) -> None:
        Exception.__init__(self, message, connection_id, status)
        self.message = message
        self.status = status
        self.connection_id = connection_id


class DeliveryFailed(WsBridgeError):
    """502 from ``send_to_connection``: the message could not be delivered (e.g. throttled).

    ``report`` is the gateway's delivery report naming the connection under ``failed``.
    """

    report: DeliveryReport

    def __init__(self, message: str, report: DeliveryReport, status: int = 502) -> None:
        Exception.__init__(self, message, report, status)
        self.message = message
        self.status = status
        self.report = report


class Unavailable(WsBridgeError):
    """503: the gateway's connection store failed.

    For a message, ``report`` is the partial report of what was sent before the failure (so
    nothing is hidden); for ``count()`` and ``stats()`` it is ``None``.
    """

    report: DeliveryReport | None

    def __init__(
        self, message: str, report: DeliveryReport | None = None, status: int = 503
    ) -> None:
        Exception.__init__(self, message, report, status)
        self.message = message
        self.status = status
        self.report = report


class TransportError(WsBridgeError):
    """The request got no HTTP answer (connection refused after the retries, a timeout, ...).

    ``maybe_sent`` is True when a message may have reached the gateway (the request was sent
    but the answer never came, e.g. a read timeout): such a request is never re-sent, as that
    could deliver the message twice. ``__cause__`` is the underlying ``httpx`` exception.
    """

    maybe_sent: bool

    def __init__(self, message: str, maybe_sent: bool) -> None:
        Exception.__init__(self, message, maybe_sent)
        self.message = message
        self.status = None
        self.maybe_sent = maybe_sent


class HandshakeRefused(WsBridgeError):
    """The listener's WebSocket handshake was refused with an HTTP ``status``.

    401/403 are raised after one retry with a fresh token; other 4xx (but 408 and 429)
    at once.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message, status)


class SubscriptionError(WsBridgeError):
    """The gateway answered a listener's subscribe or unsubscribe with an error frame."""

    def __init__(self, message: str) -> None:
        super().__init__(message, None)


class BroadcastNotFound(WsBridgeError):
    """404 from ``GET /broadcasts/{id}``: no broadcast has this id (or its progress expired,
    after a week)."""

    broadcast_id: str

    def __init__(self, message: str, broadcast_id: str, status: int = 404) -> None:
        Exception.__init__(self, message, broadcast_id, status)
        self.message = message
        self.status = status
        self.broadcast_id = broadcast_id


class BroadcastPending(WsBridgeError):
    """An accepted asynchronous broadcast whose final report was not had in time.

    Raised by ``wait_for_broadcast`` when ``timeout`` passes before the broadcast completes, and
    by ``broadcast``/``publish`` when the gateway answered 202 and the report could not be
    followed to completion (the client's ``follow_timeout`` passed, or reading the report
    failed: ``__cause__`` says why). The message was accepted and is being delivered: **do not
    send it again**; follow it later with ``wait_for_broadcast(broadcast_id)``. ``report`` is
    the last report read, or ``None``.
    """

    broadcast_id: str
    report: AsyncBroadcastReport | None

    def __init__(
        self, message: str, broadcast_id: str, report: AsyncBroadcastReport | None = None
    ) -> None:
        Exception.__init__(self, message, broadcast_id, report)
        self.message = message
        self.status = None
        self.broadcast_id = broadcast_id
        self.report = report
