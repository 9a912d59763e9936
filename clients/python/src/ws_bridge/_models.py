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
