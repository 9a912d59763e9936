"""Python client of ws-bridge: publish to WebSocket clients from a backend, and listen.

* :class:`WsBridge` (sync: scripts, Celery, Django) and :class:`AsyncWsBridge` (asyncio:
  FastAPI) call the gateway's HTTP API and return a :class:`DeliveryReport`; asynchronous
  broadcasts (``broadcast_async``, ``wait_for_broadcast``) an :class:`AsyncBroadcastReport`.
* :func:`listen` is a WebSocket listener that reconnects and re-subscribes, and resumes
  channels with history where it left them (:class:`SequencedMessage`, :class:`Reset`).
"""

from ._errors import (
    BadRequest,
    BroadcastNotFound,
    BroadcastPending,
    ConnectionGone,
    DeliveryFailed,
    HandshakeRefused,
    SubscriptionError,
    TransportError,
    Unauthorized,
    Unavailable,
    WsBridgeError,
)
from ._http import AsyncWsBridge, WsBridge
from ._listener import Listener, TokenProvider, listen
from ._models import (
    AsyncBroadcast,
    AsyncBroadcastReport,
    Backoff,
    ChannelStats,
    DeliveryReport,
    FailedDelivery,
    Stats,
)
from ._resume import Position, Reset, SequencedMessage
from ._version import __version__

__all__ = [
    "AsyncBroadcast",
    "AsyncBroadcastReport",
    "AsyncWsBridge",
    "Backoff",
    "BadRequest",
    "BroadcastNotFound",
    "BroadcastPending",
    "ChannelStats",
    "ConnectionGone",
    "DeliveryFailed",
    "DeliveryReport",
    "FailedDelivery",
    "HandshakeRefused",
    "Listener",
    "Position",
    "Reset",
    "SequencedMessage",
    "Stats",
    "SubscriptionError",
    "TokenProvider",
    "TransportError",
    "Unauthorized",
    "Unavailable",
    "WsBridge",
    "WsBridgeError",
    "__version__",
    "listen",
]
