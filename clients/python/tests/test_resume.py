"""The listener on channels with history, against a real gateway (``--history-channels``):
real cuts (DeleteConnection, a TCP drop, a gateway restart) and, through a TCP proxy, real
frames lost on the way. The application must see each message once, in order, or a Reset."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from support import DynamoDbLocal, Gateway
from ws_bridge import AsyncWsBridge, Backoff, Listener, Position, Reset, SequencedMessage, listen

HISTORY = ("--history-channels", "post:*")
QUICK = Backoff(initial=0.05, maximum=0.2)


class Gate:
    """A token provider that makes the listener's next handshakes wait while held: the listener
    stays away as long as a test needs."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def token(self) -> str:
        await self._open.wait()
        return "unused"  # the gateway has no JWT secret: any token is accepted


class Consumer:
    """Reads a listener into ``items`` in a task, as an application's loop would."""

    def __init__(self, messages: Listener) -> None:
        self.messages = messages
        self.items: list[dict[str, Any] | Reset] = []
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for item in self.messages:
            self.items.append(item)

    def on(self, channel: str) -> list[SequencedMessage]:
        return [i for i in self.items if isinstance(i, SequencedMessage) and i.channel == channel]

    def resets(self) -> list[Reset]:
        return [i for i in self.items if isinstance(i, Reset)]

    async def wait(self, condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.items!r}"
            assert not self._task.done(), self._task
            await asyncio.sleep(0.02)

    async def exactly(
        self, channel: str, expected: list[int], consecutive: bool = True
    ) -> list[SequencedMessage]:
        """The application saw exactly ``expected`` (the ``n``s) on ``channel``, in order, once."""
        await self.wait(lambda: len(self.on(channel)) >= len(expected), f"{expected} on {channel}")
        await asyncio.sleep(0.3)  # nothing more, nothing twice
        got = self.on(channel)
        assert [m["n"] for m in got] == expected
        seqs = [m.seq for m in got]
        if consecutive:
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        else:
            assert seqs == sorted(set(seqs))
        return got

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class FaultyProxy:
    """A TCP proxy in front of the gateway that can cut every connection at once (a TCP drop)
    and lose chosen gateway→client WebSocket text frames (``drop(text)`` true), as a failed
    delivery would. Frames are parsed only to find their bounds."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.drop: Callable[[str], bool] = lambda text: False
        self.dropped: list[str] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> FaultyProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    @property
    def ws_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/dev"

    async def _serve(self, down_r: asyncio.StreamReader, down_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            down_w.close()
            return
        self._writers |= {down_w, up_w}
        tasks = [
            asyncio.create_task(self._pipe(down_r, up_w)),
            asyncio.create_task(self._frames(up_r, down_w)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for writer in (down_w, up_w):
                self._writers.discard(writer)
                writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()

    async def _frames(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readuntil(b"\r\n\r\n"))
        while True:
            head = await reader.readexactly(2)
            length = head[1] & 0x7F
            extra = b""
            if length == 126:
                extra = await reader.readexactly(2)
                (length,) = struct.unpack("!H", extra)
            elif length == 127:
                extra = await reader.readexactly(8)
                (length,) = struct.unpack("!Q", extra)
            payload = await reader.readexactly(length)
            if head[0] & 0x0F == 1:
                text = payload.decode(errors="replace")
                if self.drop(text):
                    self.dropped.append(text)
                    continue
            writer.write(head + extra + payload)
            await writer.drain()

    def cut(self) -> None:
        """Resets every connection through the proxy (the client sees no close frame)."""
        for writer in list(self._writers):
            transport = writer.transport
            transport.abort()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
async def proxies() -> AsyncIterator[Callable[[int], Any]]:
    made: list[FaultyProxy] = []

    async def make(port: int) -> FaultyProxy:
        proxy = await FaultyProxy(port).start()
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        await proxy.close()


async def post(http: httpx.AsyncClient, gateway: Gateway, channel: str, n: int) -> dict[str, Any]:
    answer = await http.post(f"{gateway.http_url}/broadcast/{channel}", json={"type": "n", "n": n})
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


async def post_steadily(
    http: httpx.AsyncClient,
    gateway: Gateway,
    channel: str,
    numbers: range,
    *,
    interval: float = 0.0,
    during: Callable[[int], Any] | None = None,
) -> None:
    for n in numbers:
        if during is not None:
            result = during(n)
            if asyncio.iscoroutine(result):
                await result
        await post(http, gateway, channel, n)
        if interval:
            await asyncio.sleep(interval)


def history_gateway(start_gateway: Callable[..., Gateway], *extra: str) -> Gateway:
    return start_gateway(*HISTORY, *extra)


@contextlib.asynccontextmanager
async def consuming(
    url: str, channels: list[str], gate: Gate, **options: Any
) -> AsyncIterator[Consumer]:
    async with listen(
        url, channels=channels, backoff=QUICK, token=gate.token, **options
    ) as messages:
        consumer = Consumer(messages)
        try:
            yield consumer
        finally:
            await consumer.stop()


async def test_delete_connection_during_100_steady_messages_delivers_all_once_in_order(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = history_gateway(start_gateway)
    gate = Gate()
    async with httpx.AsyncClient() as http:
        await post(http, gateway, "post:1", -1)  # the channel has an epoch
        async with consuming(gateway.ws_url, ["post:1"], gate) as consumer:

            async def cut(n: int) -> None:
                if n == 30:
                    gate.hold()  # the reconnect waits a moment: messages are missed live
                    assert consumer.messages.connection_id is not None
                    assert gateway.delete_connection(consumer.messages.connection_id) == 204
                if n == 45:
                    gate.release()

            await post_steadily(http, gateway, "post:1", range(100), interval=0.01, during=cut)
            got = await consumer.exactly("post:1", list(range(100)))
            assert any(m.replayed for m in got), "some came from the history"
            assert not any(m.replayed for m in got[:30])
            assert consumer.messages.connections == 2
            assert consumer.resets() == []
            assert consumer.messages.positions["post:1"].seq == got[-1].seq


async def test_a_tcp_drop_during_100_steady_messages_delivers_all_once_in_order(
    start_gateway: Callable[..., Gateway], proxies: Callable[[int], Any]
) -> None:
    gateway = history_gateway(start_gateway)
    proxy: FaultyProxy = await proxies(gateway.port)
    gate = Gate()
    async with httpx.AsyncClient() as http:
        await post(http, gateway, "post:2", -1)
        async with consuming(proxy.ws_url, ["post:2"], gate, keepalive=None) as consumer:

            def cut(n: int) -> None:
                if n == 20:
                    gate.hold()
                    proxy.cut()
                if n == 40:
                    gate.release()

            await post_steadily(http, gateway, "post:2", range(100), interval=0.01, during=cut)
            got = await consumer.exactly("post:2", list(range(100)))
            assert any(m.replayed for m in got)
            assert consumer.messages.connections == 2


async def test_publishers_racing_the_resubscribe_still_exactly_once_in_order(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = history_gateway(start_gateway)
    gate = Gate()
    async with httpx.AsyncClient() as http:
        await post(http, gateway, "post:3", -1)
        async with consuming(gateway.ws_url, ["post:3"], gate, gap_timeout=0.3) as consumer:
            by_seq: dict[int, int] = {}
            counter = iter(range(300))

            async def publisher() -> None:
                for n in counter:
                    by_seq[(await post(http, gateway, "post:3", n))["seq"]] = n

            publishers = [asyncio.create_task(publisher()) for _ in range(4)]
            await consumer.wait(lambda: len(by_seq) > 60, "60 published")
            assert consumer.messages.connection_id is not None
            gateway.delete_connection(consumer.messages.connection_id)
            await asyncio.gather(*publishers)
            await consumer.exactly("post:3", [by_seq[seq] for seq in sorted(by_seq)])
            assert consumer.messages.connections == 2


async def test_concurrent_publishers_are_delivered_in_sequence_order(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = history_gateway(start_gateway)
    async with httpx.AsyncClient() as http:
        await post(http, gateway, "post:5", -1)
        async with consuming(gateway.ws_url, ["post:5"], Gate()) as consumer:
            by_seq: dict[int, int] = {}

            async def publisher(p: int) -> None:
                for i in range(25):
                    n = p * 25 + i
                    by_seq[(await post(http, gateway, "post:5", n))["seq"]] = n

            await asyncio.gather(*(publisher(p) for p in range(8)))
            await consumer.exactly("post:5", [by_seq[seq] for seq in sorted(by_seq)])


async def test_a_lost_live_message_is_fetched_from_the_history_after_gap_timeout(
    start_gateway: Callable[..., Gateway], proxies: Callable[[int], Any]
) -> None:
    gateway = history_gateway(start_gateway)
    proxy: FaultyProxy = await proxies(gateway.port)
    async with httpx.AsyncClient() as http:
        await post(http, gateway, "post:4", -1)
        async with consuming(proxy.ws_url, ["post:4"], Gate(), gap_timeout=0.4) as consumer:
            # Only the live frame: the history frame that fills the gap passes.
            proxy.drop = lambda text: text.startswith('{"type":"message"') and '"n":5}' in text
            await post_steadily(http, gateway, "post:4", range(10))
            await asyncio.sleep(0.15)
            assert [m["n"] for m in consumer.on("post:4")] == [0, 1, 2, 3, 4], "6..9 wait for 5"
            got = await consumer.exactly("post:4", list(range(10)))
            assert len(proxy.dropped) == 1
            assert [m["n"] for m in got if m.replayed] == [5]
            assert consumer.messages.connections == 1, "no reconnect needed"


async def test_a_lost_message_the_history_no_longer_holds_gives_a_reset_and_never_stalls(
    start_gateway: Callable[..., Gateway], proxies: Callable[[int], Any]
) -> None:
    gateway = history_gateway(start_gateway, "--history-max-messages", "3")
    proxy: FaultyProxy = await proxies(gateway.port)
    async with httpx.AsyncClient() as http:
        await post(http, gateway, "post:6", -1)
        async with consuming(proxy.ws_url, ["post:6"], Gate(), gap_timeout=0.3) as consumer:
            proxy.drop = lambda text: text.startswith('{"type":"message"') and '"n":2}' in text
            await post_steadily(http, gateway, "post:6", range(10))
            await consumer.wait(lambda: bool(consumer.resets()), "a reset")
            await post_steadily(http, gateway, "post:6", range(10, 12))
            await consumer.wait(lambda: any(m["n"] == 11 for m in consumer.on("post:6")), "11")
            assert [i if isinstance(i, Reset) else i["n"] for i in consumer.items] == [
                0,
                1,
                Reset("post:6", 11, consumer.resets()[0].epoch, "history trimmed"),
                10,
                11,
            ]


async def test_away_longer_than_the_history_keeps_by_count_gives_a_reset_then_live(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = history_gateway(start_gateway, "--history-max-messages", "5")
    gate = Gate()
    async with httpx.AsyncClient() as http:
        await post(http, gateway, "post:7", -1)
        async with consuming(gateway.ws_url, ["post:7"], gate) as consumer:
            await post_steadily(http, gateway, "post:7", range(3))
            await consumer.exactly("post:7", [0, 1, 2])
            gate.hold()
            assert consumer.messages.connection_id is not None
            gateway.delete_connection(consumer.messages.connection_id)
            await post_steadily(http, gateway, "post:7", range(3, 20))
            gate.release()
            await consumer.wait(lambda: consumer.messages.connections == 2, "the reconnect")
            await post_steadily(http, gateway, "post:7", range(20, 23))
            await consumer.wait(lambda: len(consumer.on("post:7")) >= 6, "live after the reset")
            summary = [
                f"reset {i.reason} {i.seq}" if isinstance(i, Reset) else i["n"]
                for i in consumer.items
            ]
            assert summary == [0, 1, 2, "reset history trimmed 21", 20, 21, 22]
            assert consumer.messages.positions["post:7"].seq == 24


async def test_away_longer_than_the_history_keeps_by_time_gives_a_reset_then_live(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = history_gateway(start_gateway, "--history-ttl-seconds", "1")
    gate = Gate()
    async with httpx.AsyncClient() as http:
        await post(http, gateway, "post:8", -1)
        async with consuming(gateway.ws_url, ["post:8"], gate) as consumer:
            gate.hold()
            assert consumer.messages.connection_id is not None
            gateway.delete_connection(consumer.messages.connection_id)
            await post_steadily(http, gateway, "post:8", range(3))
            await asyncio.sleep(2.2)  # longer than the TTL
            gate.release()
            await consumer.wait(lambda: consumer.messages.connections == 2, "the reconnect")
            await post(http, gateway, "post:8", 3)
            await consumer.wait(lambda: len(consumer.on("post:8")) >= 1, "live after the reset")
            summary = [
                f"reset {i.reason} {i.seq}" if isinstance(i, Reset) else i["n"]
                for i in consumer.items
            ]
            assert summary == ["reset history expired 4", 3]


async def test_a_gateway_restart_while_away_gives_a_reset_with_the_new_epoch(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = history_gateway(start_gateway)
    gate = Gate()
    async with httpx.AsyncClient() as http:
        await post(http, gateway, "post:9", -1)
        async with consuming(gateway.ws_url, ["post:9"], gate) as consumer:
            await post_steadily(http, gateway, "post:9", range(3))
            await consumer.exactly("post:9", [0, 1, 2])
            before = consumer.messages.positions["post:9"]
            gate.hold()
            gateway.stop()
            restarted = start_gateway(*HISTORY, port=gateway.port)
            await post_steadily(http, restarted, "post:9", range(100, 102))  # seq 1, 2 anew
            gate.release()
            await consumer.wait(lambda: consumer.messages.connections == 2, "the reconnect")
            await post(http, restarted, "post:9", 102)
            await consumer.wait(lambda: len(consumer.on("post:9")) >= 4, "live after the reset")
            reset = consumer.items[3]
            assert isinstance(reset, Reset)
            assert (reset.channel, reset.seq, reset.reason) == ("post:9", 2, "epoch changed")
            assert reset.epoch != before.epoch
            last = consumer.on("post:9")[3]
            assert (last["n"], last.seq, last.epoch) == (102, 3, reset.epoch)


async def test_a_channel_first_published_after_the_subscribe_is_resumed(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = history_gateway(start_gateway)
    gate = Gate()
    async with (
        httpx.AsyncClient() as http,
        consuming(gateway.ws_url, ["post:10"], gate) as consumer,
    ):
        assert consumer.messages.positions == {"post:10": Position(0, "")}
        await post_steadily(http, gateway, "post:10", range(2))
        await consumer.exactly("post:10", [0, 1])
        await consumer.wait(lambda: consumer.messages.positions["post:10"].epoch != "", "epoch")
        gate.hold()
        assert consumer.messages.connection_id is not None
        gateway.delete_connection(consumer.messages.connection_id)
        await post_steadily(http, gateway, "post:10", range(2, 5))
        gate.release()
        await consumer.exactly("post:10", [0, 1, 2, 3, 4])
        assert consumer.resets() == []


async def test_positions_passed_to_a_new_listener_resume_exactly_what_was_missed(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = history_gateway(start_gateway)
    async with httpx.AsyncClient() as http:
        await post(http, gateway, "post:11", -1)
        async with consuming(gateway.ws_url, ["post:11"], Gate()) as consumer:
            await post_steadily(http, gateway, "post:11", range(3))
            await consumer.exactly("post:11", [0, 1, 2])
            saved = {c: p.to_json() for c, p in consumer.messages.positions.items()}
        await post_steadily(http, gateway, "post:11", range(3, 6))
        async with consuming(gateway.ws_url, ["post:11"], Gate(), positions=saved) as consumer:
            await post(http, gateway, "post:11", 6)
            got = await consumer.exactly("post:11", [3, 4, 5, 6])
            assert [m.replayed for m in got] == [True, True, True, False]


async def test_channels_without_history_are_unchanged(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = history_gateway(start_gateway)
    gate = Gate()
    async with (
        httpx.AsyncClient() as http,
        consuming(gateway.ws_url, ["news", "post:12"], gate) as consumer,
    ):
        assert consumer.messages.positions == {"post:12": Position(0, "")}
        await post(http, gateway, "news", 1)
        await consumer.wait(lambda: len(consumer.items) == 1, "the message")
        gate.hold()
        assert consumer.messages.connection_id is not None
        gateway.delete_connection(consumer.messages.connection_id)
        await post(http, gateway, "news", 2)  # missed: no history
        gate.release()
        await consumer.wait(lambda: consumer.messages.connections == 2, "the reconnect")
        await post(http, gateway, "news", 3)
        await consumer.wait(lambda: len(consumer.items) == 2, "the live message")
        await asyncio.sleep(0.2)
        assert consumer.items == [{"type": "n", "n": 1}, {"type": "n", "n": 3}]
        assert not any(isinstance(i, SequencedMessage) for i in consumer.items)


async def test_the_delivery_report_carries_seq_and_epoch_on_channels_with_history(
    start_gateway: Callable[..., Gateway],
) -> None:
    gateway = history_gateway(start_gateway)
    async with AsyncWsBridge(gateway.http_url) as bridge:
        first = await bridge.publish("post:14", {"type": "n", "n": 0})
        second = await bridge.publish("post:14", {"type": "n", "n": 1})
        elsewhere = await bridge.publish("news", {"type": "n", "n": 0})
    assert (first.seq, second.seq) == (1, 2)
    assert first.epoch is not None
    assert first.epoch == second.epoch
    assert (elsewhere.seq, elsewhere.epoch) == (None, None)


def gateway_on_dynamodb(dynamodb: DynamoDbLocal, port: int | None = None) -> Gateway:
    return Gateway(
        *dynamodb.gateway_args(), *HISTORY, env=dynamodb.gateway_env(), port=port
    ).start()


async def test_on_dynamodb_a_cut_and_a_gateway_restart_lose_nothing(
    dynamodb: DynamoDbLocal,
) -> None:
    gateway = await asyncio.to_thread(gateway_on_dynamodb, dynamodb)
    gate = Gate()
    try:
        async with httpx.AsyncClient() as http:
            await post(http, gateway, "post:20", -1)
            async with consuming(gateway.ws_url, ["post:20"], gate) as consumer:

                def cut(n: int) -> None:
                    if n == 15:
                        gate.hold()
                        assert consumer.messages.connection_id is not None
                        gateway.delete_connection(consumer.messages.connection_id)
                    if n == 25:
                        gate.release()

                await post_steadily(http, gateway, "post:20", range(50), interval=0.01, during=cut)
                got = await consumer.exactly("post:20", list(range(50)))
                assert any(m.replayed for m in got)

                # The history is in DynamoDB: a restarted gateway still has it, same epoch.
                gate.hold()
                gateway.stop()
                gateway = await asyncio.to_thread(gateway_on_dynamodb, dynamodb, gateway.port)
                await post_steadily(http, gateway, "post:20", range(50, 60))
                gate.release()
                got = await consumer.exactly("post:20", list(range(60)))
                assert consumer.resets() == []
                assert [m.replayed for m in got[50:]] == [True] * 10
    finally:
        gateway.stop()
