"""Presence channels' member lists as the listener knows them, without I/O: the lists in
``subscribed`` replies and ``presence`` answers, kept up to date by the ``presence.join`` and
``presence.leave`` frames; after a reconnect, the joins and leaves a fresh list shows were missed.
The listener's own user stays a member across a reconnect within the gateway's grace period
(``PRESENCE_LEAVE_GRACE_SECONDS``), so a resume shows no leave and join of its own."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Member = dict[str, Any]
"""``{"user", "connections", "joinedAt", "info"?}``, as the gateway sends it."""


class PresenceTracker:
    def __init__(self) -> None:
        self._lists: dict[str, dict[str, Member]] = {}

    def members(self, channel: str) -> list[Member]:
        """``channel``'s members in user order; empty for a channel without presence."""
        listed = self._lists.get(channel, {})
        return [listed[user] for user in sorted(listed)]

    def observe(self, frame: dict[str, Any]) -> bool:
        """A frame from the gateway: a ``presence.join`` / ``presence.leave`` updates its
        channel's list. Whether it was one."""
        kind = frame.get("type")
        if kind not in ("presence.join", "presence.leave"):
            return False
        channel, data = frame.get("channel"), frame.get("data")
        if not isinstance(channel, str) or not isinstance(data, dict):
            return False
        listed = self._lists.setdefault(channel, {})
        user = str(data.get("user"))
        if kind == "presence.join":
            listed[user] = data
        else:
            listed.pop(user, None)
        return True

    def subscribed(self, data: dict[str, Any] | None, *, reconnected: bool) -> list[dict[str, Any]]:
        """The member lists of a ``subscribed`` reply (``data["members"]``) replace those held.
        With ``reconnected`` (the re-subscribe of a new connection), what changed since is
        returned as the frames that were missed: leaves, then joins, each in user order."""
        lists = data.get("members") if data is not None else None
        missed: list[dict[str, Any]] = []
        if not isinstance(lists, dict):
            return missed
        for channel, page in lists.items():
            if not isinstance(page, dict) or not isinstance(page.get("members"), list):
                continue
            fresh = {str(m.get("user")): m for m in page["members"] if isinstance(m, dict)}
            before = self._lists.get(channel)
            self._lists[channel] = fresh
            if before is None or not reconnected:
                # Live frames kept the list while connected; only a reconnect can miss some.
                continue
            missed.extend(
                {"type": "presence.leave", "channel": channel, "data": {"user": user}}
                for user in sorted(before.keys() - fresh.keys())
            )
            missed.extend(
                {"type": "presence.join", "channel": channel, "data": fresh[user]}
                for user in sorted(fresh.keys() - before.keys())
            )
        return missed

    def replace(self, channel: str, members: Iterable[Member]) -> None:
        """A complete list from the ``presence`` action."""
        self._lists[channel] = {str(m.get("user")): m for m in members if isinstance(m, dict)}

    def forget(self, channels: Iterable[str]) -> None:
        """Channels the connection left."""
        for channel in channels:
            self._lists.pop(channel, None)
