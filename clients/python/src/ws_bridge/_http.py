"""The two HTTP clients: thin transports around :mod:`ws_bridge._protocol`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from . import _protocol as protocol
from ._models import Backoff, DeliveryReport, Stats
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
        owns_client: bool,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        if token is not None and (not isinstance(token, str) or not token):
            raise ValueError("token must be a non-empty str or None")
        protocol.check_options(retries, backoff)
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
        http_client: httpx.Client | None = None,
    ) -> None:
        self._config = _Config(
            base_url=base_url,
            token=token,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
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

    def broadcast(self, event: Mapping[str, Any]) -> DeliveryReport:
        """Sends ``event`` (a JSON object) to every open connection."""
        return self._run(protocol.broadcast(event))

    def publish(self, channel: str, event: Mapping[str, Any]) -> DeliveryReport:
        """Sends ``event`` to the subscribers of ``channel``."""
        return self._run(protocol.publish(channel, event))

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
        flow = protocol.perform(call, self._config.retries, self._config.backoff)
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
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._config = _Config(
            base_url=base_url,
            token=token,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
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

    async def broadcast(self, event: Mapping[str, Any]) -> DeliveryReport:
        """Sends ``event`` (a JSON object) to every open connection."""
        return await self._run(protocol.broadcast(event))

    async def publish(self, channel: str, event: Mapping[str, Any]) -> DeliveryReport:
        """Sends ``event`` to the subscribers of ``channel``."""
        return await self._run(protocol.publish(channel, event))

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
        flow = protocol.perform(call, self._config.retries, self._config.backoff)
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
