"""Fixtures: a fresh gateway per test, and each HTTP client (sync and async) behind one facade."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from support import DynamoDbLocal, Gateway, Peer, dynamodb_local_home
from ws_bridge import AsyncWsBridge, Backoff, DeliveryReport, Stats, WsBridge


@pytest.fixture(autouse=True)
async def close_peers() -> AsyncIterator[None]:
    yield
    while Peer.open_peers:
        await Peer.open_peers.pop().close()


@pytest.fixture
def start_gateway() -> Iterator[Callable[..., Gateway]]:
    """Starts gateways (``start_gateway("--api-token", "t", env={...})``); kills them after."""
    started: list[Gateway] = []

    def start(*args: str, env: dict[str, str] | None = None, port: int | None = None) -> Gateway:
        gateway = Gateway(*args, env=env, port=port)
        started.append(gateway)
        return gateway.start()

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture
def gateway(start_gateway: Callable[..., Gateway]) -> Gateway:
    return start_gateway()


@pytest.fixture
def dynamodb() -> Iterator[DynamoDbLocal]:
    home, why_not = dynamodb_local_home()
    if home is None:
        pytest.skip(f"DynamoDB Local is not available: {why_not}")
    local = DynamoDbLocal(home)
    yield local
    local.remove()


class Attempts:
    """Counts the HTTP requests a client really makes (an httpx request hook)."""

    def __init__(self) -> None:
        self.count = 0

    def hook(self, request: httpx.Request) -> None:
        self.count += 1

    async def async_hook(self, request: httpx.Request) -> None:
        self.count += 1


class Bridge:
    """:class:`WsBridge` or :class:`AsyncWsBridge` behind the same awaitable methods.

    The sync client runs in a worker thread, as it would in a Celery worker, so the test's
    WebSocket peers keep reading meanwhile.
    """

    def __init__(self, kind: str, base_url: str, **options: Any) -> None:
        self.kind = kind
        self.attempts = Attempts()
        if kind == "sync":
            options.setdefault(
                "http_client", httpx.Client(event_hooks={"request": [self.attempts.hook]})
            )
            self.client: WsBridge | AsyncWsBridge = WsBridge(base_url, **options)
        else:
            options.setdefault(
                "http_client",
                httpx.AsyncClient(event_hooks={"request": [self.attempts.async_hook]}),
            )
            self.client = AsyncWsBridge(base_url, **options)
        self._http_client = options["http_client"]

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        function = getattr(self.client, method)
        if self.kind == "sync":
            return await asyncio.to_thread(function, *args, **kwargs)
        return await function(*args, **kwargs)

    async def broadcast(self, event: Any) -> DeliveryReport:
        return await self._call("broadcast", event)  # type: ignore[no-any-return]

    async def publish(self, channel: str, event: Any) -> DeliveryReport:
        return await self._call("publish", channel, event)  # type: ignore[no-any-return]

    async def send_to_user(self, user_id: str, event: Any) -> DeliveryReport:
        return await self._call("send_to_user", user_id, event)  # type: ignore[no-any-return]

    async def send_to_connection(self, connection_id: str, event: Any) -> DeliveryReport:
        return await self._call("send_to_connection", connection_id, event)  # type: ignore[no-any-return]

    async def count(self, channel: str | None = None) -> int:
        return await self._call("count", channel)  # type: ignore[no-any-return]

    async def stats(self, limit: int | None = None) -> Stats:
        return await self._call("stats", limit)  # type: ignore[no-any-return]

    async def close(self) -> None:
        if isinstance(self.client, WsBridge):
            self.client.close()
        else:
            await self.client.aclose()
        if isinstance(self._http_client, httpx.Client):
            self._http_client.close()
        else:
            await self._http_client.aclose()


FAST_RETRIES = Backoff(initial=0.05, maximum=0.2)


@pytest.fixture(params=["sync", "async"])
async def make_bridge(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Bridge]]:
    """``make_bridge(base_url, token=..., retries=...)``: the client under test (both kinds)."""
    made: list[Bridge] = []

    def make(base_url: str, **options: Any) -> Bridge:
        options.setdefault("backoff", FAST_RETRIES)
        bridge = Bridge(request.param, base_url, **options)
        made.append(bridge)
        return bridge

    yield make
    for bridge in made:
        await bridge.close()
