"""Resuming channels with history: positions, replay, ordering and gaps (no I/O here).

The listener feeds every frame of a channel with history to a :class:`Sequencer`, and tells it
when a subscribe is sent and answered; the sequencer returns what the application gets, in each
channel's sequence order, each message once, or a :class:`Reset` when a gap cannot be filled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]


@dataclass(frozen=True)
class Position:
    """Where a channel with history stands for a listener."""

    seq: int
    """The last message delivered; 0 before the first."""
    epoch: str
    """The channel's numbering; ``""`` while unknown (nothing had been published)."""

    def __post_init__(self) -> None:
        if isinstance(self.seq, bool) or not isinstance(self.seq, int) or self.seq < 0:
            raise ValueError(f"Position.seq must be an int >= 0, not {self.seq!r}")
        if not isinstance(self.epoch, str):
            raise ValueError(f"Position.epoch must be a str, not {self.epoch!r}")

    def to_json(self) -> dict[str, Any]:
        """``{"seq": …, "epoch": …}``, as the protocol and :meth:`from_json` have it."""
        return {"seq": self.seq, "epoch": self.epoch}

    @classmethod
    def from_json(cls, value: Position | Mapping[str, Any]) -> Position:
        """A position from ``{"seq": …, "epoch": …}`` (e.g. saved with :meth:`to_json`)."""
        if isinstance(value, Position):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"a position is {{'seq': int, 'epoch': str}}, not {value!r}")
        return cls(seq=value.get("seq"), epoch=value.get("epoch"))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Reset:
    """Yielded when a channel's history cannot fill the gap since the listener's position.

    Messages were missed and will not come: reload whatever the channel's messages update.
    Delivery goes on with ``seq + 1``.
    """

    channel: str
    seq: int
    """The channel's latest number."""
    epoch: str
    reason: str
    """The server's reason: ``epoch changed``, ``history expired``, ``history trimmed``,
    ``ahead of the server``."""


class SequencedMessage(dict[str, Any]):
    """A message of a channel with history: the object that was posted (this dict), with where it
    stands as attributes. ``data`` is the posted value itself (a non-object value leaves the dict
    empty)."""

    channel: str
    seq: int
    epoch: str
    replayed: bool
    """True when it was missed live and came from the channel's history on a resume."""
    data: Any

    def __init__(self, data: Any, *, channel: str, seq: int, epoch: str, replayed: bool) -> None:
        super().__init__(data if isinstance(data, dict) else {})
        self.data = data
        self.channel = channel
        self.seq = seq
        self.epoch = epoch
        self.replayed = replayed

    def __repr__(self) -> str:
        return (
            f"SequencedMessage({dict.__repr__(self)}, channel={self.channel!r}, seq={self.seq}, "
            f"epoch={self.epoch!r}, replayed={self.replayed})"
        )


Item = Message | Reset


@dataclass
class _Held:
    data: Any
    replayed: bool
    sync: int  # the channel's sync count when it arrived
    frame: Message | None  # the live frame, yielded as is if the channel has no history after all


@dataclass
class _Track:
    seq: int
    epoch: str
    provisional: bool  # not confirmed by the server's positions yet
    syncing: bool = False  # a subscribe naming it is in flight: its messages are held
    sync: int = 0
    held: dict[int, _Held] = field(default_factory=dict)
    gap_since: float | None = None  # when the listener started waiting for a missing message
    fetching: bool = False  # a subscribe to fetch its gap (or learn its epoch) is due or sent


def _is_seq(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _position(value: object) -> Position | None:
    if (
        isinstance(value, dict)
        and _is_seq(value.get("seq"))
        and isinstance(value.get("epoch"), str)
    ):
        return Position(value["seq"], value["epoch"])
    return None


class Sequencer:
    """The per-channel state of a listener's channels with history.

    At most one subscribe is in flight at a time (the listener serialises them): between
    :meth:`begin_sync` and :meth:`end_sync` its channels' messages are held.
    """

    def __init__(
        self,
        positions: Mapping[str, Position],
        gap_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tracks: dict[str, _Track] = {
            channel: _Track(p.seq, p.epoch, provisional=False) for channel, p in positions.items()
        }
        self._gap_timeout = gap_timeout
        self._clock = clock
        self._sync: tuple[list[str], set[str]] | None = None

    @property
    def positions(self) -> dict[str, Position]:
        return {
            channel: Position(track.seq, track.epoch)
            for channel, track in self._tracks.items()
            if not track.provisional
        }

    # --- subscribes -----------------------------------------------------------------------------

    def begin_sync(self, channels: Iterable[str]) -> dict[str, Any]:
        """A subscribe of ``channels`` is being sent: returns its frame, with ``since`` for the
        channels whose position is known."""
        names = list(channels)
        since: dict[str, Any] = {}
        for channel in names:
            track = self._tracks.get(channel)
            if track is None:
                # It may have history: its messages are held until the reply says.
                track = self._tracks[channel] = _Track(0, "", provisional=True)
            elif not track.provisional:
                # Before the epoch is known, {0, ""} matches any (the replay is deduplicated).
                since[channel] = {"seq": track.seq if track.epoch else 0, "epoch": track.epoch}
            track.syncing = True
            track.sync += 1
        frame: dict[str, Any] = {"action": "subscribe", "channels": names}
        if since:
            frame["since"] = since
        if self._sync is None:
            self._sync = (names, set(since))
        else:
            # The previous subscribe timed out unanswered: the first reply ends both.
            previous_names, previous_since = self._sync
            self._sync = (
                list(dict.fromkeys([*previous_names, *names])),
                previous_since | set(since),
            )
        return frame

    def end_sync(self, data: Message | None) -> list[Item]:
        """The subscribe in flight was answered (``data``: the ``subscribed`` data) or failed
        (None): what its channels held is delivered, in order, nothing twice."""
        if self._sync is None:
            return []
        names, with_since = self._sync
        self._sync = None
        positions = data.get("positions") if data is not None else None
        if not isinstance(positions, dict):
            positions = {}
        out: list[Item] = []
        for channel in names:
            track = self._tracks.get(channel)
            if track is None or not track.syncing:
                continue
            track.syncing = False
            position = _position(positions.get(channel))
            if position is not None:
                track.provisional = False
                if position.epoch:
                    track.epoch = position.epoch
                if channel not in with_since:
                    # A first subscribe: the application starts after what the channel held then.
                    track.seq = position.seq
                else:
                    # History frames covered everything up to the server's latest (or a reset
                    # said they cannot): what is still missing up to there never comes.
                    for seq in sorted(s for s in track.held if s <= position.seq):
                        held = track.held.pop(seq)
                        if seq > track.seq:
                            track.seq = seq
                            out.extend(self._deliver(channel, track, seq, held))
                    track.seq = max(track.seq, position.seq)
                out.extend(self._drain(channel, track))
            elif data is not None or track.provisional:
                # No history on this channel (or the subscribe failed): frames held meanwhile go
                # out as they came.
                del self._tracks[channel]
                out.extend(h.frame for h in track.held.values() if h.frame is not None)
            else:
                out.extend(self._drain(channel, track))
        return out

    def forget(self, channels: Iterable[str]) -> None:
        """Channels left (unsubscribed): a later subscribe starts afresh."""
        for channel in channels:
            track = self._tracks.get(channel)
            if track is not None and not track.syncing:
                del self._tracks[channel]

    def connection_lost(self) -> None:
        """Nothing is in flight any more; no gap is waited for (the re-subscribe fills them)."""
        self._sync = None
        for channel, track in list(self._tracks.items()):
            if track.provisional:
                del self._tracks[channel]
                continue
            track.syncing = False
            track.gap_since = None
            track.fetching = False

    # --- frames ---------------------------------------------------------------------------------

    def on_frame(self, message: Message) -> list[Item] | None:
        """What ``message`` gives the application, or None when it is no frame of a channel
        with history (the listener yields it as it is)."""
        channel = message.get("channel")
        track = self._tracks.get(channel) if isinstance(channel, str) else None
        if track is None or not isinstance(channel, str):
            return None
        kind = message.get("type")
        if kind == "message" and _is_seq(message.get("seq")) and message["seq"] > 0:
            seq: int = message["seq"]
            held = track.held.get(seq)
            # During a resume a number at or below the position may be new: a reset with a new
            # epoch can still come. Until the reply, what arrives now is kept (see _reset).
            fresh = seq > track.seq or track.syncing
            if fresh and (held is None or (track.syncing and held.sync != track.sync)):
                track.held[seq] = _Held(message.get("data"), False, track.sync, message)
            return self._drain(channel, track)
        if kind == "history" and isinstance(message.get("messages"), list):
            for entry in message["messages"]:
                if not isinstance(entry, dict) or not _is_seq(entry.get("seq")):
                    continue
                seq = entry["seq"]
                if seq > track.seq and seq not in track.held:
                    track.held[seq] = _Held(entry.get("data"), True, track.sync, None)
            return self._drain(channel, track)
        if (
            kind == "reset"
            and _is_seq(message.get("seq"))
            and isinstance(message.get("epoch"), str)
        ):
            return self._reset(channel, track, message)
        return None

    def _reset(self, channel: str, track: _Track, message: Message) -> list[Item]:
        seq: int = message["seq"]
        epoch: str = message["epoch"]
        renumbered = epoch != track.epoch
        for held_seq, held in list(track.held.items()):
            # After a new epoch only what arrived during this subscribe is numbered the new way.
            if held_seq <= seq or (renumbered and held.sync != track.sync):
                del track.held[held_seq]
        track.seq = seq
        track.epoch = epoch
        track.provisional = False
        reset = Reset(channel, seq, epoch, str(message.get("reason", "")))
        return [reset, *self._drain(channel, track)]

    def _deliver(self, channel: str, track: _Track, seq: int, held: _Held) -> list[Item]:
        message = SequencedMessage(
            held.data, channel=channel, seq=seq, epoch=track.epoch, replayed=held.replayed
        )
        return [message]

    def _drain(self, channel: str, track: _Track) -> list[Item]:
        if track.syncing:
            return []
        out: list[Item] = []
        while (held := track.held.pop(track.seq + 1, None)) is not None:
            track.seq += 1
            out.extend(self._deliver(channel, track, track.seq, held))
        for seq in [s for s in track.held if s <= track.seq]:
            del track.held[seq]
        if not track.held:
            track.gap_since = None
        elif track.gap_since is None:
            track.gap_since = self._clock()
        return out

    # --- gaps -----------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When the next gap fetch (or epoch lookup) is due, on the clock; None: nothing to do."""
        deadlines: list[float] = []
        for track in self._tracks.values():
            if track.syncing or track.fetching or track.provisional:
                continue
            if not track.epoch and track.seq > 0:
                deadlines.append(self._clock())
            elif track.gap_since is not None:
                deadlines.append(track.gap_since + self._gap_timeout)
        return min(deadlines, default=None)

    def due(self) -> list[str]:
        """The channels to subscribe again with ``since`` now: a gap waited for ``gap_timeout``,
        or messages came before the listener knew the channel's epoch. Each is returned once
        until :meth:`fetched` is called."""
        now = self._clock()
        channels: list[str] = []
        for channel, track in self._tracks.items():
            if track.syncing or track.fetching or track.provisional:
                continue
            gap_due = track.gap_since is not None and now - track.gap_since >= self._gap_timeout
            if gap_due or (not track.epoch and track.seq > 0):
                track.fetching = True
                track.gap_since = None
                channels.append(channel)
        return channels

    def fetched(self, channel: str) -> None:
        """The fetch of ``channel`` was answered (or given up): a new gap is waited for anew."""
        track = self._tracks.get(channel)
        if track is not None:
            track.fetching = False
            if track.held and track.gap_since is None and not track.syncing:
                track.gap_since = self._clock()
