"""A WebSocket listener that stays connected: reconnects, re-authenticates and re-subscribes."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ._errors import HandshakeRefused, SubscriptionError, WsBridgeError
from ._models import Backoff
from ._presence import PresenceTracker
from ._resume import Item, Position, Sequencer

logger = logging.getLogger("ws_bridge")

TokenProvider = Callable[[], str] | Callable[[], Awaitable[str]]
"""A function (or coroutine function) returning a fresh token; called before every handshake."""

Message = dict[str, Any]

DEFAULT_KEEPALIVE = 240.0
DEFAULT_GAP_TIMEOUT = 1.0
DEFAULT_LISTEN_BACKOFF = Backoff(initial=0.5, maximum=30.0)


@dataclass(frozen=True)
class _End:
    error: BaseException | None


class _Disconnected(Exception):
    """The connection a control request was sent on closed before it was answered."""


@dataclass
class _Pending:
    expect: frozenset[str]
    reply: asyncio.Future[Message]


class Listener:
    """Messages of one logical WebSocket session; see :func:`listen`."""

    def __init__(
        self,
        url: str,
        *,
        channels: Iterable[str] = (),
        token: str | TokenProvider | None = None,
        client_id: str | None = None,
        keepalive: float | None = DEFAULT_KEEPALIVE,
        backoff: Backoff = DEFAULT_LISTEN_BACKOFF,
        open_timeout: float = 10.0,
        reply_timeout: float = 10.0,
        max_queue: int = 1024,
        positions: Mapping[str, Position | Mapping[str, Any]] | None = None,
        gap_timeout: float = DEFAULT_GAP_TIMEOUT,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise ValueError(f"url must be a ws:// or wss:// URL, not {url!r}")
        if isinstance(channels, str):
            raise TypeError("channels must be a list of channel names, not one str")
        if not isinstance(backoff, Backoff):
            raise TypeError(f"backoff must be a ws_bridge.Backoff, not {type(backoff).__name__}")
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise ValueError(f"max_queue must be an int >= 1, not {max_queue!r}")
        if keepalive is not None and not keepalive > 0:
            raise ValueError(f"keepalive must be positive seconds or None, not {keepalive!r}")
        if not gap_timeout >= 0:
            raise ValueError(f"gap_timeout must be seconds >= 0, not {gap_timeout!r}")
        if positions is not None and not isinstance(positions, Mapping):
            raise TypeError("positions must be a mapping of channel → Position")
        self._sequencer = Sequencer(
            {channel: Position.from_json(p) for channel, p in (positions or {}).items()},
            gap_timeout,
        )
        self._gap_wakeup: asyncio.Event | None = None
        self._url = url
        self._channels: list[str] = list(dict.fromkeys(channels))
        self._token = token
        self._client_id = client_id
        self._keepalive = keepalive
        self._backoff = backoff
        self._open_timeout = open_timeout
        self._reply_timeout = reply_timeout
        self._max_queue = max_queue

        self._queue: asyncio.Queue[Item | _End] | None = None
        self._room: asyncio.Semaphore | None = None  # bounds the messages waiting in _queue
        self._task: asyncio.Task[None] | None = None
        self._first_open: asyncio.Future[None] | None = None
        self._ready: asyncio.Event | None = None
        self._control_lock: asyncio.Lock | None = None
        self._ws: ClientConnection | None = None
        self._pending: _Pending | None = None
        self._pings_in_flight = 0
        self._connection_id: str | None = None
        self._connections = 0
        self._presence = PresenceTracker()
        self._resubscribing = False  # the re-subscribe of a new connection is under way
        self._exited = False
        self._error: BaseException | None = None

    # --- public surface -----------------------------------------------------------------------

    @property
    def connection_id(self) -> str | None:
        """The gateway's id of the connection (a new one after each reconnect; the last one's
        while reconnecting)."""
        return self._connection_id

    @property
    def channels(self) -> list[str]:
        """The channels held: re-subscribed after every reconnect."""
        return list(self._channels)

    @property
    def positions(self) -> dict[str, Position]:
        """Where each channel with history stands (``seq``: the last message yielded). Save it
        (``{c: p.to_json() for c, p in ...items()}``) and pass it back as ``positions=`` to
        resume from there in a new listener."""
        return self._sequencer.positions

    def members(self, channel: str) -> list[Message]:
        """The members of a presence channel (the gateway's ``PRESENCE_CHANNELS``) held, in user
        order: ``{"user", "connections", "joinedAt", "info"?}`` dicts. Kept up to date by the
        ``presence.join`` / ``presence.leave`` frames (also yielded), and refreshed on every
        re-subscribe; empty for a channel without presence."""
        return self._presence.members(channel)

    async def presence(self, channel: str) -> list[Message]:
        """Asks the gateway for every member of ``channel`` (a page at a time), and keeps that
        list as :meth:`members`."""
        members: list[Message] = []
        after: str | None = None
        while True:
            frame: Message = {"action": "presence", "channel": channel}
            if after is not None:
                frame["after"] = after
            reply = await self._request(frame, "presence")
            data = reply.get("data")
            page = data.get("members") if isinstance(data, dict) else None
            if not isinstance(page, list):
                raise WsBridgeError(f"unexpected reply from the gateway: {reply!r}")
            members.extend(m for m in page if isinstance(m, dict))
            after = data.get("next") if isinstance(data, dict) else None
            if not isinstance(after, str):
                break
        self._presence.replace(channel, members)
        return self.members(channel)

    @property
    def connections(self) -> int:
        """How many connections were opened so far (1 + the reconnects)."""
        return self._connections

    async def __aenter__(self) -> Listener:
        if self._task is not None:
            raise RuntimeError("a Listener can be entered only once")
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._room = asyncio.Semaphore(self._max_queue)
        self._first_open = loop.create_future()
        self._ready = asyncio.Event()
        self._control_lock = asyncio.Lock()
        self._gap_wakeup = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"ws-bridge listener {self._url}")
        try:
            await asyncio.shield(self._first_open)
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._stop()

    def __aiter__(self) -> Listener:
        return self

    async def __anext__(self) -> Item:
        if self._queue is None:
            raise RuntimeError("use the listener as `async with listen(...) as messages:`")
        if self._exited:
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, _End):
            self._queue.put_nowait(item)  # every later call ends the same way
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        assert self._room is not None
        self._room.release()
        return item

    async def subscribe(self, channels: Iterable[str]) -> list[str]:
        """Joins ``channels``; returns every channel now held. Raises :class:`SubscriptionError`
        with the gateway's reason if it refuses. Waits for a connection if reconnecting."""
        wanted = self._names(channels)
        reply = await self._request({"action": "subscribe", "channels": wanted}, "subscribed")
        return self._held(reply)

    async def unsubscribe(self, channels: Iterable[str]) -> list[str]:
        """Leaves ``channels``; returns every channel still held."""
        wanted = self._names(channels)
        reply = await self._request({"action": "unsubscribe", "channels": wanted}, "unsubscribed")
        held = self._held(reply)
        self._sequencer.forget(c for c in wanted if c not in held)
        self._presence.forget(c for c in wanted if c not in held)
        return held

    # --- control requests ----------------------------------------------------------------------

    @staticmethod
    def _names(channels: Iterable[str]) -> list[str]:
        if isinstance(channels, str):
            raise TypeError("channels must be a list of channel names, not one str")
        names = list(channels)
        if not names or not all(isinstance(name, str) and name for name in names):
            raise ValueError("channels must be a non-empty list of non-empty str")
        return names

    def _held(self, reply: Message) -> list[str]:
        data = reply.get("data")
        held = data.get("channels") if isinstance(data, dict) else None
        if not isinstance(held, list) or not all(isinstance(name, str) for name in held):
            raise WsBridgeError(f"unexpected reply from the gateway: {reply!r}")
        self._channels = list(held)
        return self.channels

    async def _request(self, frame: Message, expect: str, *, retry: bool = True) -> Message:
        """Sends ``frame`` and waits for its reply; on a lost connection, asks again on the next
        one (``retry``) or raises :class:`_Disconnected`."""
        lock, ready, task = self._control_lock, self._ready, self._task
        if lock is None or ready is None or task is None:
            raise RuntimeError("use the listener as `async with listen(...) as messages:`")
        async with lock:
            while True:
                if not retry and not ready.is_set():
                    raise _Disconnected()
                await self._wait_ready(ready, task)
                ws = self._ws
                if ws is None:
                    continue
                reply: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
                self._pending = _Pending(frozenset({expect, "error"}), reply)
                text = json.dumps(frame)
                if frame.get("action") == "subscribe":
                    # `since` is the position when it is sent; its channels' messages are held
                    # until the reply (see _dispatch).
                    text = json.dumps(_with_members(self._sequencer.begin_sync(frame["channels"])))
                try:
                    await ws.send(text)
                    answer = await asyncio.wait_for(reply, self._reply_timeout)
                except (ConnectionClosed, _Disconnected):
                    if not retry:
                        raise _Disconnected() from None
                    continue  # asked again on the next connection
                finally:
                    self._pending = None
                if answer.get("type") == "error":
                    raise SubscriptionError(_error_text(answer))
                return answer

    async def _wait_ready(self, ready: asyncio.Event, task: asyncio.Task[None]) -> None:
        while not ready.is_set():
            if self._exited or task.done():
                if self._error is not None and not self._exited:
                    raise self._error
                raise RuntimeError("the listener has stopped")
            waiter = asyncio.ensure_future(ready.wait())
            try:
                await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()

    # --- the connection loop -------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        refused_once = False
        end: _End = _End(None)
        try:
            while True:
                try:
                    ws = await self._open()
                except InvalidStatus as err:
                    status = err.response.status_code
                    if _is_auth_refusal(status) and not refused_once:
                        refused_once = True
                        logger.info(
                            "handshake refused with %d; retrying with a fresh token", status
                        )
                        continue
                    _raise_if_fatal(err, status)
                    logger.warning("handshake refused with HTTP %d; backing off", status)
                except (OSError, asyncio.TimeoutError, InvalidHandshake) as err:
                    logger.warning("cannot connect to %s: %s; backing off", self._url, err)
                else:
                    refused_once = False
                    if await self._session(ws):
                        attempt = 0
                delay = self._backoff.delay(attempt)
                attempt += 1
                logger.info("reconnecting in %.2f s", delay)
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except BaseException as err:  # handed to the iterator, or raised by __aenter__
            end = _End(err)
        finally:
            self._error = end.error
            if self._first_open is not None and not self._first_open.done():
                if end.error is not None:
                    self._first_open.set_exception(end.error)
                else:
                    self._first_open.cancel()
            self._push_end(end)

    async def _open(self) -> ClientConnection:
        token = await self._fresh_token()
        return await connect(
            self._handshake_url(token),
            open_timeout=self._open_timeout,
            max_size=2**20,
        )

    async def _fresh_token(self) -> str | None:
        source = self._token
        if source is None or isinstance(source, str):
            return source
        value = source()
        token = await value if inspect.isawaitable(value) else value
        if not isinstance(token, str) or not token:
            raise TypeError(f"the token provider returned {token!r}, not a non-empty str")
        return token

    def _handshake_url(self, token: str | None) -> str:
        parts = urlsplit(self._url)
        query = [
            (key, value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if key not in ("token", "clientId")
        ]
        if token is not None:
            query.append(("token", token))
        if self._client_id is not None:
            query.append(("clientId", self._client_id))
        return urlunsplit(parts._replace(query=urlencode(query)))

    async def _session(self, ws: ClientConnection) -> bool:
        """Sets up one connection (hello, re-subscribe), then pumps its messages until it closes.

        Returns whether the set-up completed. Raises :class:`SubscriptionError` if the gateway
        refuses to re-subscribe the held channels.
        """
        keepalive: asyncio.Task[None] | None = None
        gaps: asyncio.Task[None] | None = None
        set_up = False
        try:
            buffered: list[Item] = []
            try:
                connection_id = await self._setup(ws, buffered)
            except (ConnectionClosed, asyncio.TimeoutError) as err:
                logger.warning("connection lost while setting up: %s", err)
                return False
            set_up = True
            self._connections += 1
            self._connection_id = connection_id
            self._ws = ws
            self._pings_in_flight = 0
            assert self._ready is not None
            self._ready.set()
            for message in buffered:
                await self._put(message)
            if self._first_open is not None and not self._first_open.done():
                self._first_open.set_result(None)
            logger.info("connected as %s, channels %s", connection_id, self._channels)
            if self._keepalive is not None:
                keepalive = asyncio.create_task(self._keep_alive(ws, self._keepalive))
            gaps = asyncio.create_task(self._watch_gaps())
            try:
                while True:
                    await self._dispatch(await ws.recv())
            except ConnectionClosed as closed:
                logger.info("connection %s closed: %s", connection_id, closed)
            return set_up
        finally:
            if self._ready is not None:
                self._ready.clear()
            self._ws = None
            pending = self._pending
            if pending is not None and not pending.reply.done():
                pending.reply.set_exception(_Disconnected())
            if keepalive is not None:
                keepalive.cancel()
            if gaps is not None:
                gaps.cancel()
            self._sequencer.connection_lost()
            await ws.close()

    async def _setup(self, ws: ClientConnection, buffered: list[Item]) -> str:
        await ws.send('{"action":"hello"}')
        welcome = await self._await_reply(ws, frozenset({"welcome"}), buffered)
        data = welcome.get("data")
        connection_id = data.get("connectionId") if isinstance(data, dict) else None
        if not isinstance(connection_id, str):
            raise WsBridgeError(f"unexpected welcome from the gateway: {welcome!r}")
        if self._channels:
            # With `since` for the channels with history: what they missed comes first.
            frame = _with_members(self._sequencer.begin_sync(self._channels))
            await ws.send(json.dumps(frame))
            self._resubscribing = True
            try:
                reply = await self._await_reply(ws, frozenset({"subscribed", "error"}), buffered)
            finally:
                self._resubscribing = False
            if reply.get("type") == "error":
                raise SubscriptionError(
                    f"the gateway refused to re-subscribe {self._channels}: {_error_text(reply)}"
                )
            self._held(reply)
        return connection_id

    async def _await_reply(
        self, ws: ClientConnection, expect: frozenset[str], buffered: list[Item]
    ) -> Message:
        """The next frame whose type is in ``expect``; what the frames before it give goes to
        ``buffered``."""

        async def read() -> Message:
            while True:
                message = _parse(await ws.recv())
                if message is None:
                    continue
                if message.get("type") in expect:
                    if message.get("type") in ("subscribed", "error"):
                        buffered.extend(self._end_sync(message))
                    return message
                buffered.extend(self._route(message))

        return await asyncio.wait_for(read(), self._reply_timeout)

    def _route(self, message: Message) -> list[Item]:
        """What a frame that is no reply gives the application."""
        self._presence.observe(message)
        items = self._sequencer.on_frame(message)
        if items is None:
            return [message]
        self._wake_gap_watcher()
        return items

    def _end_sync(self, reply: Message) -> list[Item]:
        """The reply to a subscribe: what its channels held meanwhile, in order, then the joins
        and leaves the member lists in it show since the lists held (after a reconnect)."""
        data = reply.get("data") if reply.get("type") == "subscribed" else None
        items = self._sequencer.end_sync(data if isinstance(data, dict) else None)
        self._wake_gap_watcher()
        # The re-subscribe of a new connection: what the fresh member lists show was missed.
        items.extend(
            self._presence.subscribed(
                data if isinstance(data, dict) else None, reconnected=self._resubscribing
            )
        )
        return items

    async def _dispatch(self, raw: str | bytes) -> None:
        message = _parse(raw)
        if message is None:
            return
        kind = message.get("type")
        pending = self._pending
        if pending is not None and kind in pending.expect and not pending.reply.done():
            if kind in ("subscribed", "error"):
                # Delivered before the reply is handed over: nothing of those channels can
                # overtake what they held.
                for item in self._end_sync(message):
                    await self._put(item)
            pending.reply.set_result(message)
            return
        if kind == "pong" and self._pings_in_flight > 0:
            self._pings_in_flight -= 1
            return
        if kind == "subscribed":
            # The late reply of a subscribe whose wait timed out.
            for item in self._end_sync(message):
                await self._put(item)
        for item in self._route(message):
            await self._put(item)

    async def _put(self, item: Item) -> None:
        assert self._queue is not None
        assert self._room is not None
        await self._room.acquire()  # backpressure: the socket is not read while the queue is full
        self._queue.put_nowait(item)

    # --- gaps in channels with history ---------------------------------------------------------

    def _wake_gap_watcher(self) -> None:
        if self._gap_wakeup is not None:
            self._gap_wakeup.set()

    async def _watch_gaps(self) -> None:
        """While connected: when a missing message was waited for ``gap_timeout`` (or the
        epoch of a channel is unknown), subscribe again with ``since`` to fetch it."""
        wakeup = self._gap_wakeup
        assert wakeup is not None
        while True:
            wakeup.clear()
            deadline = self._sequencer.next_deadline()  # on time.monotonic
            if deadline is None:
                await wakeup.wait()
                continue
            delay = deadline - time.monotonic()
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), delay)
                continue
            due = self._sequencer.due()
            if not due:
                await asyncio.sleep(0.001)  # the deadline and the clock's rounding disagree
            for channel in due:
                try:
                    await self._request(
                        {"action": "subscribe", "channels": [channel]}, "subscribed", retry=False
                    )
                except (_Disconnected, SubscriptionError, asyncio.TimeoutError) as err:
                    # Lost: the re-subscribe fetches it. Refused or unanswered: not waited for.
                    logger.info("fetching the gap of %s failed: %r", channel, err)
                finally:
                    self._sequencer.fetched(channel)

    async def _keep_alive(self, ws: ClientConnection, every: float) -> None:
        # API Gateway counts only data frames as activity, so WebSocket pings do not keep a
        # connection open: a protocol ping does.
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(every)
                self._pings_in_flight += 1
                await ws.send('{"action":"ping"}')

    def _push_end(self, end: _End) -> None:
        # After the messages already queued: none is lost to the end marker.
        if self._queue is not None:
            self._queue.put_nowait(end)

    async def _stop(self) -> None:
        self._exited = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._push_end(_End(None))


def listen(
    url: str,
    *,
    channels: Iterable[str] = (),
    token: str | TokenProvider | None = None,
    client_id: str | None = None,
    keepalive: float | None = DEFAULT_KEEPALIVE,
    backoff: Backoff = DEFAULT_LISTEN_BACKOFF,
    open_timeout: float = 10.0,
    reply_timeout: float = 10.0,
    max_queue: int = 1024,
    positions: Mapping[str, Position | Mapping[str, Any]] | None = None,
    gap_timeout: float = DEFAULT_GAP_TIMEOUT,
) -> Listener:
    """Listens on a ws-bridge WebSocket URL (``ws://127.0.0.1:3001/dev``)::

        async with listen(url, channels=["news"], token=fetch_token) as messages:
            async for message in messages:
                if isinstance(message, Reset):
                    ...  # a channel with history missed messages: reload its state
                else:
                    ...  # dicts: broadcasts, {"type": "message", "channel": ..., "data": ...}

    Entering connects, says ``hello`` (see :attr:`Listener.connection_id`) and subscribes
    ``channels``; it retries a connection that fails with ``backoff`` (capped exponential,
    full jitter). After any close it did not ask for (an idle timeout, a ``DeleteConnection``,
    a network failure) it reconnects the same way, calls ``token`` again (a str, a function or
    an async function; sent as ``?token=``), and re-subscribes every held channel before
    yielding anything more. A handshake refused with 401/403 is retried once with a fresh
    token, then :class:`HandshakeRefused` is raised from the iterator (or from entering).
    ``keepalive`` is the period of ``{"action":"ping"}`` frames (API Gateway closes a
    connection after 10 minutes without data); ``None`` turns them off. Control replies
    (``pong``, ``welcome``, ``subscribed``...) are consumed; every other frame is yielded,
    error frames included. At most ``max_queue`` messages wait for the consumer; beyond that
    the socket is not read (backpressure). Leaving the ``async with`` block closes the
    connection and ends the iteration.

    On a presence channel (the gateway's ``PRESENCE_CHANNELS``) :meth:`Listener.members` is
    who is there, and the ``presence.join`` / ``presence.leave`` frames are yielded as they
    come. A reconnect re-reads the list and yields the joins and leaves it missed meanwhile;
    its own user stays a member (the gateway waits ``PRESENCE_LEAVE_GRACE_SECONDS`` before a
    leave), so others see no leave and join of it either.

    On a channel with history (the gateway's ``HISTORY_CHANNELS``) each message is yielded
    once, in the channel's sequence order, also across reconnects: the listener remembers the
    last number it yielded (:attr:`Listener.positions`) and every re-subscribe asks for what
    came after it. Such a message is a :class:`SequencedMessage`: the dict the backend posted,
    with ``.channel``, ``.seq``, ``.epoch`` and ``.replayed``. When the history cannot fill a
    gap (the listener was away longer than it is kept, the gateway restarted) a :class:`Reset`
    is yielded instead, then delivery goes on. A message that arrives ahead of a missing one
    waits at most ``gap_timeout`` seconds for it; then the gap is fetched from the history.
    ``positions`` (e.g. a previous listener's ``positions``) resumes from there.
    """
    return Listener(
        url,
        channels=channels,
        token=token,
        client_id=client_id,
        keepalive=keepalive,
        backoff=backoff,
        open_timeout=open_timeout,
        reply_timeout=reply_timeout,
        max_queue=max_queue,
        positions=positions,
        gap_timeout=gap_timeout,
    )


def _with_members(frame: Message) -> Message:
    """A subscribe that asks for the members of its presence channels (ignored for others)."""
    return {**frame, "presence": True}


def _is_auth_refusal(status: int) -> bool:
    return status in (401, 403)


def _raise_if_fatal(err: InvalidStatus, status: int) -> None:
    """Raises :class:`HandshakeRefused` unless the refusal is worth backing off and retrying."""
    if _is_auth_refusal(status):
        why = "token missing or invalid" if status == 401 else "not allowed"
        raise HandshakeRefused(
            f"the gateway refused the WebSocket handshake with HTTP {status} ({why}),"
            " again after a retry with a fresh token",
            status,
        ) from err
    if 400 <= status < 500 and status not in (408, 429):
        raise HandshakeRefused(
            f"the gateway refused the WebSocket handshake with HTTP {status}", status
        ) from err


def _parse(raw: str | bytes) -> Message | None:
    try:
        message = json.loads(raw)
    except ValueError:
        logger.warning("dropped a frame that is not JSON: %.200r", raw)
        return None
    if not isinstance(message, dict):
        logger.warning("dropped a frame that is not a JSON object: %.200r", raw)
        return None
    return message


def _error_text(frame: Message) -> str:
    data = frame.get("data")
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return json.dumps(frame)
