"""The two HTTP clients: thin transports around :mod:`ws_bridge._protocol`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from . import _protocol as protocol
from ._models import AsyncBroadcast, AsyncBroadcastReport, Backoff, DeliveryReport, Stats
from ._version import __version__

T = TypeVar("T")

_USER_AGENT = f"ws-bridge-python/{__version__}"


class _Config:
    """What both clients are configured with (validated once, in one place)."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str | None,
        timeout: float | httpx.Timeout | None,
        retries: int,
        backoff: Backoff,
        follow_timeout: float,
        owns_client: bool,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        if token is not None and (not isinstance(token, str) or not token):
            raise ValueError("token must be a non-empty str or None")
        protocol.check_options(retries, backoff)
        protocol.check_wait(follow_timeout, protocol.DEFAULT_POLL, "follow_timeout")
        self.follow_timeout = follow_timeout
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.retries = retries
        self.backoff = backoff
        self.owns_client = owns_client
        self.client_timeout: float | httpx.Timeout = (
            protocol.DEFAULT_TIMEOUT if timeout is None else timeout
        )
        # A timeout given with a caller's client applies per request; without one, the caller's
        # client keeps its own.
        self.request_timeout: Any = (
            httpx.USE_CLIENT_DEFAULT if timeout is None or owns_client else timeout
        )

    def follow(
        self, call: protocol.Call[protocol.Broadcast]
    ) -> protocol.Step[DeliveryReport | AsyncBroadcastReport]:
        return protocol.follow(
            call, self.follow_timeout, protocol.DEFAULT_POLL, self.retries, self.backoff
        )

    def wait(
        self, broadcast_id: str, timeout: float, poll: float
    ) -> protocol.Step[AsyncBroadcastReport]:
        protocol.check_wait(timeout, poll)
        return protocol.wait(broadcast_id, timeout, poll, self.retries, self.backoff)

    def perform(self, call: protocol.Call[T]) -> protocol.Step[T]:
        return protocol.perform(call, self.retries, self.backoff)

    def send_args(self, request: protocol.Request) -> dict[str, Any]:
        return {
            "method": request.method,
            "url": request.url(self.base_url),
            "content": request.body,
            "headers": request.headers(self.token),
            "timeout": self.request_timeout,
        }


class WsBridge:
    """Synchronous client of the ws-bridge HTTP API, for scripts, Celery tasks, Django views.

    ``base_url`` is the stage URL (``http://127.0.0.1:3001/dev`` locally); ``token`` the API
    token (``Authorization: Bearer``), if the gateway requires one. ``timeout`` (seconds) applies
    to each phase of a request (default 10). ``retries`` and ``backoff`` govern re-sending: only
    when the request never reached the gateway, or on a 503 that says nothing was sent. An
    existing ``httpx.Client`` may be passed as ``http_client`` (it is then not closed here).

    ``follow_timeout`` (seconds, default 60) bounds how long :meth:`broadcast` and
    :meth:`publish` follow a broadcast the gateway chose to deliver asynchronously (202, when
    its ``BROADCAST_ASYNC_THRESHOLD`` is set): they read its report until completed and return
    that :class:`AsyncBroadcastReport`, or raise :class:`BroadcastPending` (``0``: after one read).

    Use it as a context manager, or call :meth:`close`. It is safe to share between threads.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = None,
        retries: int = protocol.DEFAULT_RETRIES,
        backoff: Backoff = protocol.DEFAULT_BACKOFF,
        follow_timeout: float = protocol.DEFAULT_FOLLOW_TIMEOUT,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._config = _Config(
            base_url=base_url,
            token=token,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            follow_timeout=follow_timeout,
            owns_client=http_client is None,
        )
        self._client = http_client or httpx.Client(
            timeout=self._config.client_timeout, headers={"user-agent": _USER_AGENT}
        )

    def __enter__(self) -> WsBridge:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Closes the HTTP client this object created (not one passed as ``http_client``)."""
        if self._config.owns_client:
            self._client.close()

    def broadcast(self, event: Mapping[str, Any]) -> DeliveryReport | AsyncBroadcastReport:
        """Sends ``event`` (a JSON object) to every open connection.

        Returns the :class:`DeliveryReport`; if the gateway chose to deliver asynchronously
        (202), the completed :class:`AsyncBroadcastReport` (counts), followed for at most
        ``follow_timeout`` seconds, else :class:`BroadcastPending`.
        """
        return self._drive(self._config.follow(protocol.broadcast(event)))

    def publish(
        self, channel: str, event: Mapping[str, Any]
    ) -> DeliveryReport | AsyncBroadcastReport:
        """Sends ``event`` to the subscribers of ``channel`` (a 202 is followed as in
        :meth:`broadcast`)."""
        return self._drive(self._config.follow(protocol.publish(channel, event)))

    def broadcast_async(self, event: Mapping[str, Any]) -> AsyncBroadcast | DeliveryReport:
        """Sends ``event`` to every open connection asynchronously (``Prefer: respond-async``):
        returns the accepted :class:`AsyncBroadcast` at once (its ``broadcast_id`` for
        :meth:`wait_for_broadcast`). A gateway without a queue may ignore the preference, as
        RFC 7240 allows, and deliver at once: the :class:`DeliveryReport` is then returned."""
        return self._run(protocol.broadcast(event, prefer_async=True))

    def publish_async(
        self, channel: str, event: Mapping[str, Any]
    ) -> AsyncBroadcast | DeliveryReport:
        """Sends ``event`` to the subscribers of ``channel`` asynchronously (as
        :meth:`broadcast_async`); on a channel with history the handle has ``seq``/``epoch``."""
        return self._run(protocol.publish(channel, event, prefer_async=True))

    def broadcast_report(self, broadcast_id: str) -> AsyncBroadcastReport:
        """An asynchronous broadcast's report so far, or the final one (``completed``); raises
        :class:`BroadcastNotFound` for an unknown id."""
        return self._run(protocol.broadcast_report(broadcast_id))

    def wait_for_broadcast(
        self,
        broadcast_id: str,
        *,
        timeout: float = protocol.DEFAULT_WAIT_TIMEOUT,
        poll: float = protocol.DEFAULT_POLL,
    ) -> AsyncBroadcastReport:
        """Reads the report until the broadcast is completed (returned), at most every ``poll``
        seconds (sooner at first); raises :class:`BroadcastPending` after ``timeout`` seconds."""
        return self._drive(self._config.wait(broadcast_id, timeout, poll))

    def send_to_user(self, user_id: str, event: Mapping[str, Any]) -> DeliveryReport:
        """Sends ``event`` to every connection of a user (the token's ``sub``)."""
        return self._run(protocol.send_to_user(user_id, event))

    def send_to_connection(self, connection_id: str, event: Mapping[str, Any]) -> DeliveryReport:
        """Sends ``event`` to one connection; raises :class:`ConnectionGone` if it is gone."""
        return self._run(protocol.send_to_connection(connection_id, event))

    def count(self, channel: str | None = None) -> int:
        """Open connections, or the subscribers of ``channel``."""
        return self._run(protocol.count(channel))

    def stats(self, limit: int | None = None) -> Stats:
        """Connections and channels by subscribers (at most ``limit`` channels, default 100)."""
        return self._run(protocol.stats(limit))

    def _run(self, call: protocol.Call[T]) -> T:
        return self._drive(self._config.perform(call))

    def _drive(self, flow: protocol.Step[T]) -> T:
        step = next(flow)
        while True:
            outcome: protocol.Outcome | None = None
            if isinstance(step, protocol.Sleep):
                time.sleep(step.seconds)
            else:
                try:
                    answer = self._client.request(**self._config.send_args(step))
                    outcome = protocol.Response(answer.status_code, answer.content)
                except httpx.TransportError as err:
                    outcome = protocol.classify(err)
            try:
                step = flow.send(outcome)
            except StopIteration as done:
                result: T = done.value
                return result


class AsyncWsBridge:
    """The asyncio client of the ws-bridge HTTP API, for FastAPI, Starlette, aiohttp apps.

    The same options and methods as :class:`WsBridge`, awaited; ``http_client`` is an
    ``httpx.AsyncClient``. Create one per application (e.g. in a FastAPI lifespan) and share it.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = None,
        retries: int = protocol.DEFAULT_RETRIES,
        backoff: Backoff = protocol.DEFAULT_BACKOFF,
        follow_timeout: float = protocol.DEFAULT_FOLLOW_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._config = _Config(
            base_url=base_url,
            token=token,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            follow_timeout=follow_timeout,
            owns_client=http_client is None,
        )
        self._client = http_client or httpx.AsyncClient(
            timeout=self._config.client_timeout, headers={"user-agent": _USER_AGENT}
        )

    async def __aenter__(self) -> AsyncWsBridge:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes the HTTP client this object created (not one passed as ``http_client``)."""
        if self._config.owns_client:
            await self._client.aclose()

    async def broadcast(self, event: Mapping[str, Any]) -> DeliveryReport | AsyncBroadcastReport:
        """Sends ``event`` (a JSON object) to every open connection (a 202 is followed as
        :meth:`WsBridge.broadcast` does)."""
        return await self._drive(self._config.follow(protocol.broadcast(event)))

    async def publish(
        self, channel: str, event: Mapping[str, Any]
    ) -> DeliveryReport | AsyncBroadcastReport:
        """Sends ``event`` to the subscribers of ``channel`` (a 202 is followed)."""
        return await self._drive(self._config.follow(protocol.publish(channel, event)))

    async def broadcast_async(self, event: Mapping[str, Any]) -> AsyncBroadcast | DeliveryReport:
        """As :meth:`WsBridge.broadcast_async`: ``Prefer: respond-async``, the handle at once."""
        return await self._run(protocol.broadcast(event, prefer_async=True))

    async def publish_async(
        self, channel: str, event: Mapping[str, Any]
    ) -> AsyncBroadcast | DeliveryReport:
        """As :meth:`WsBridge.publish_async`."""
        return await self._run(protocol.publish(channel, event, prefer_async=True))

    async def broadcast_report(self, broadcast_id: str) -> AsyncBroadcastReport:
        """An asynchronous broadcast's report so far, or the final one; raises
        :class:`BroadcastNotFound` for an unknown id."""
        return await self._run(protocol.broadcast_report(broadcast_id))

    async def wait_for_broadcast(
        self,
        broadcast_id: str,
        *,
        timeout: float = protocol.DEFAULT_WAIT_TIMEOUT,
        poll: float = protocol.DEFAULT_POLL,
    ) -> AsyncBroadcastReport:
        """As :meth:`WsBridge.wait_for_broadcast`, awaited."""
        return await self._drive(self._config.wait(broadcast_id, timeout, poll))

    async def send_to_user(self, user_id: str, event: Mapping[str, Any]) -> DeliveryReport:
        """Sends ``event`` to every connection of a user (the token's ``sub``)."""
        return await self._run(protocol.send_to_user(user_id, event))

    async def send_to_connection(
        self, connection_id: str, event: Mapping[str, Any]
    ) -> DeliveryReport:
        """Sends ``event`` to one connection; raises :class:`ConnectionGone` if it is gone."""
        return await self._run(protocol.send_to_connection(connection_id, event))

    async def count(self, channel: str | None = None) -> int:
        """Open connections, or the subscribers of ``channel``."""
        return await self._run(protocol.count(channel))

    async def stats(self, limit: int | None = None) -> Stats:
        """Connections and channels by subscribers (at most ``limit`` channels, default 100)."""
        return await self._run(protocol.stats(limit))

    async def _run(self, call: protocol.Call[T]) -> T:
        return await self._drive(self._config.perform(call))

    async def _drive(self, flow: protocol.Step[T]) -> T:
        step = next(flow)
        while True:
            outcome: protocol.Outcome | None = None
            if isinstance(step, protocol.Sleep):
                await asyncio.sleep(step.seconds)
            else:
                try:
                    answer = await self._client.request(**self._config.send_args(step))
                    outcome = protocol.Response(answer.status_code, answer.content)
                except httpx.TransportError as err:
                    outcome = protocol.classify(err)
            try:
                step = flow.send(outcome)
            except StopIteration as done:
                result: T = done.value
                return result
