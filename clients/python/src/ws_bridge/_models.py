"""The values the clients return: delivery reports, statistics, and the backoff policy."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FailedDelivery:
    """A connection the message could not be delivered to, with the gateway's reason."""

    connection_id: str
    error: str


@dataclass(frozen=True)
class DeliveryReport:
    """Who did and did not get a message.

    Every addressed connection not named in ``gone`` or ``failed`` received it, so
    ``connection_count == sent + len(gone) + len(failed)``.
    """

    connection_count: int
    """Connections the message was addressed to."""
    sent: int
    """How many received it."""
    gone: list[str] = field(default_factory=list)
    """Connections that no longer existed; the gateway removed them."""
    failed: list[FailedDelivery] = field(default_factory=list)
    """Connections it could not be delivered to, with the reason (e.g. throttling)."""
    seq: int | None = None
    """On a channel with history: the message's sequence number (None elsewhere)."""
    epoch: str | None = None
    """On a channel with history: the numbering ``seq`` belongs to (None elsewhere)."""

    @property
    def nothing_attempted(self) -> bool:
        """True when no connection was reached at all: nothing sent, none gone, none failed."""
        return self.sent == 0 and not self.gone and not self.failed


@dataclass(frozen=True)
class ChannelStats:
    """One channel and its number of subscribers."""

    name: str
    subscribers: int


@dataclass(frozen=True)
class Stats:
    """The gateway's operator view: open connections and channels, largest first."""

    connections: int
    channels: list[ChannelStats]
    channel_count: int
    """How many channels have subscribers (``channels`` may be cut at the limit)."""
    truncated: bool
    """Whether ``channels`` was cut at the limit."""


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with full jitter.

    The delay before retry number ``n`` (0 for the first) is drawn uniformly from
    ``[0, min(maximum, initial * 2**n)]``.
    """

    initial: float = 0.5
    """Upper bound of the first delay, in seconds."""
    maximum: float = 30.0
    """Cap of every delay, in seconds."""

    def __post_init__(self) -> None:
        if not self.initial > 0:
            raise ValueError(f"Backoff.initial must be positive, not {self.initial!r}")
        if not self.maximum >= self.initial:
            raise ValueError(
                f"Backoff.maximum ({self.maximum!r}) must be at least initial ({self.initial!r})"
            )

    def ceiling(self, attempt: int) -> float:
        """The largest delay before retry number ``attempt``."""
        return min(self.maximum, self.initial * 2.0 ** min(max(attempt, 0), 64))

    def delay(self, attempt: int) -> float:
        """A jittered delay before retry number ``attempt``."""
        return random.uniform(0.0, self.ceiling(attempt))


@dataclass(frozen=True)
class AsyncBroadcast:
    """A broadcast the gateway accepted to deliver asynchronously (its 202): it runs on there.

    Follow it with ``wait_for_broadcast(broadcast_id)`` or ``broadcast_report(broadcast_id)``.
    Never send the message again: it was accepted.
    """

    broadcast_id: str
    status: str
    """``running`` when accepted."""
    shard_count: int
    """How many shards the audience was cut into."""
    seq: int | None = None
    """On a channel with history: the message's sequence number, taken once before any shard."""
    epoch: str | None = None
    """On a channel with history: the numbering ``seq`` belongs to."""


@dataclass(frozen=True)
class AsyncBroadcastReport:
    """The report of an asynchronous broadcast (``GET /broadcasts/{id}``): so far, or final.

    Counts, not ids (an audience of a million does not fit one answer; the names of failed
    recipients are in the worker's log). Once ``completed``, every recipient is counted once:
    ``connection_count == sent + gone + failed``.
    """

    broadcast_id: str
    status: str
    """``running``, or ``completed`` once every shard is done."""
    shard_count: int
    shards_done: int
    connection_count: int
    sent: int
    gone: int
    """Connections that no longer existed (410); the gateway removed them."""
    failed: int
    unconfirmed: int
    """Of ``failed``: recipients of a page a worker was sending when it died; not sent again,
    so nobody gets the message twice; some of them may have received it."""
    throttle_retries: int = 0
    throttled_ms: int = 0
    channel: str | None = None
    seq: int | None = None
    epoch: str | None = None

    @property
    def completed(self) -> bool:
        """True once every shard is done: the report is final."""
        return self.status == "completed"
