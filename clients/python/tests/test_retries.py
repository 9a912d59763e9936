"""The retry policy against a real gateway: re-send only what cannot have been accepted."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import Bridge
from support import Gateway, Peer, free_port
from ws_bridge import Backoff, TransportError

EVENT = {"type": "news", "data": {"n": 1}}


def _all_threads_stopped(pid: int) -> bool:
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            # The state follows the command name in parentheses: "pid (comm) S ...".
            if Path(task, "stat").read_text().rsplit(")", 1)[1].split()[0] not in "Tt":
                return False
    return True


@contextmanager
def frozen(gateway: Gateway) -> Iterator[None]:
    """Stops the gateway process (SIGSTOP, by PID) and waits until every thread is stopped:
    the kernel still accepts connections and requests, but nothing answers until it goes on."""
    os.kill(gateway.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 5
        while not _all_threads_stopped(gateway.pid):
            assert time.monotonic() < deadline, "the gateway did not stop"
            time.sleep(0.005)
        yield
    finally:
        os.kill(gateway.pid, signal.SIGCONT)


async def test_a_refused_connection_is_retried_until_the_gateway_is_up(
    start_gateway: Callable[..., Gateway], make_bridge: Callable[..., Bridge]
) -> None:
    port = free_port()
    bridge = make_bridge(
        f"http://127.0.0.1:{port}/dev", retries=40, backoff=Backoff(initial=0.05, maximum=0.2)
    )
    sending = asyncio.ensure_future(bridge.send_to_user("nobody", EVENT))
    await asyncio.sleep(0.8)
    assert not sending.done(), "the client gave up while the gateway was down"
    refused = bridge.attempts.count
    assert refused >= 2

    await asyncio.to_thread(start_gateway, port=port)
    report = await asyncio.wait_for(sending, 15)

    assert (report.connection_count, report.sent) == (0, 0)
    assert bridge.attempts.count > refused


async def test_after_the_last_retry_a_refused_connection_is_a_transport_error(
    make_bridge: Callable[..., Bridge],
) -> None:
    bridge = make_bridge(f"http://127.0.0.1:{free_port()}/dev", retries=2)

    with pytest.raises(TransportError) as caught:
        await bridge.broadcast(EVENT)

    assert caught.value.maybe_sent is False
    assert caught.value.status is None
    assert "after 3 attempts" in caught.value.message
    assert bridge.attempts.count == 3


async def test_a_message_whose_answer_timed_out_is_not_re_sent_and_arrives_once(
    gateway: Gateway, make_bridge: Callable[..., Bridge]
) -> None:
    bridge = make_bridge(gateway.http_url, timeout=0.5, retries=5)
    peer = await Peer.connect(gateway.ws_url)

    with frozen(gateway), pytest.raises(TransportError) as caught:
        await bridge.broadcast(EVENT)

    assert caught.value.maybe_sent is True
    assert "may have been delivered" in caught.value.message
    assert bridge.attempts.count == 1
    # The gateway got the request; whether it still delivers it after the client hung up is
    # its business. What must never happen is a second copy.
    frames = []
    with contextlib.suppress(asyncio.TimeoutError):
        while True:
            frames.append(await peer.next(timeout=1.0))
    assert frames in ([], [EVENT]), frames


async def test_a_read_whose_answer_timed_out_is_retried(
    gateway: Gateway, make_bridge: Callable[..., Bridge]
) -> None:
    bridge = make_bridge(
        gateway.http_url, timeout=0.3, retries=20, backoff=Backoff(initial=0.05, maximum=0.1)
    )
    await Peer.connect(gateway.ws_url)

    with frozen(gateway):
        counting = asyncio.ensure_future(bridge.count())
        await asyncio.sleep(1.0)

    assert await asyncio.wait_for(counting, 10) == 1
    assert bridge.attempts.count >= 2
