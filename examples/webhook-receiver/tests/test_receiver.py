"""The receiver example against a real local gateway: every event type arrives and verifies,
with the Python client's verifier (in the app) and with the independent ``standardwebhooks``
library (on the raw requests); forged, tampered and stale requests are refused."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import standardwebhooks
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from websockets.sync.client import connect

from main import create_app

REPO_ROOT = Path(__file__).resolve().parents[3]
SECRET = "whsec_" + base64.b64encode(b"example-receiver-secret-32-bytes").decode()
EVENT_TYPES = {
    "server.status",
    "client.connected",
    "channel.occupied",
    "message.broadcast",
    "broadcast.stats",
    "client.disconnected",
    "channel.vacated",
}


class Recording:
    """ASGI middleware keeping every request's headers and raw body, then passing it on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if scope["path"] == "/webhooks":
            self.requests.append((headers, body))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[tuple[str, Recording]]:
    recording = Recording(create_app(SECRET))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(recording, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until("the receiver to start", lambda: server.started)
    yield f"http://127.0.0.1:{port}", recording
    server.should_exit = True
    thread.join(timeout=10)


def gateway_binary() -> Path:
    """The launcher that starts the gateway as `make run` does (infra/local-gateway.sh)."""
    binary = Path(os.environ.get("WS_BRIDGE_GATEWAY", "infra/local-gateway.sh"))
    if not binary.is_absolute():
        binary = REPO_ROOT / binary
    if not binary.exists():
        pytest.fail(f"no gateway binary at {binary}: build it or set WS_BRIDGE_GATEWAY")
    return binary


def make_run_api_token() -> str:
    """The HTTP API's token of `make run` (``ApiToken`` in infra/run.args)."""
    found = re.search(r"^ApiToken=(.*)$", (REPO_ROOT / "infra" / "run.args").read_text(), re.M)
    assert found, "infra/run.args gives ApiToken"
    return found[1]


def events(base: str) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = httpx.get(f"{base}/events").json()
    return answer


def test_every_event_arrives_verified(receiver: tuple[str, Recording]) -> None:
    base, recording = receiver
    port = free_port()
    process = subprocess.Popen(
        [
            str(gateway_binary()),
            "--port",
            str(port),
            "--webhook-url",
            f"{base}/webhooks",
            "--webhook-stats-interval-secs",
            "1",
        ],
        env={**os.environ, "WEBHOOK_SECRET": SECRET, "RUST_LOG": "warn"},
    )
    try:
        wait_until("server.status starting", lambda: len(events(base)) > 0)
        stage = f"127.0.0.1:{port}/dev"
        with connect(f"ws://{stage}?clientId=py&channels=news") as client:
            report = httpx.post(
                f"http://{stage}/broadcast/news",
                json={"type": "hi"},
                headers={"Authorization": f"Bearer {make_run_api_token()}"},
            ).json()
            assert report["sent"] == 1
            assert json.loads(client.recv(timeout=10)) == {"type": "hi"}
            wait_until(
                "broadcast.stats", lambda: any(e["type"] == "broadcast.stats" for e in events(base))
            )
            client.close(code=4001, reason="done")
        wait_until(
            "channel.vacated", lambda: any(e["type"] == "channel.vacated" for e in events(base))
        )
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    received = events(base)
    assert {e["type"] for e in received} == EVENT_TYPES
    statuses = [e["data"]["status"] for e in received if e["type"] == "server.status"]
    assert statuses == ["starting", "stopping"]
    connected = next(e for e in received if e["type"] == "client.connected")
    assert connected["data"]["clientId"] == "py"
    disconnected = next(e for e in received if e["type"] == "client.disconnected")
    assert (disconnected["data"]["closeCode"], disconnected["data"]["closeReason"]) == (
        4001,
        "done",
    )
    broadcast = next(e for e in received if e["type"] == "message.broadcast")
    assert broadcast["data"]["message"] == {"type": "hi"}

    # The independent implementation agrees on every request, and refuses tampering.
    independent = standardwebhooks.Webhook(SECRET)
    other = standardwebhooks.Webhook(
        "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()
    )
    assert len(recording.requests) >= len(received)
    for headers, body in recording.requests:
        verified = independent.verify(body, headers)
        assert verified["id"] == headers["webhook-id"]
        tampered = body.replace(b'"data"', b'"dat\\u0061"')
        with pytest.raises(standardwebhooks.WebhookVerificationError):
            independent.verify(tampered, headers)
        with pytest.raises(standardwebhooks.WebhookVerificationError):
            other.verify(body, headers)


def test_forged_tampered_and_stale_requests_are_refused(receiver: tuple[str, Recording]) -> None:
    base, _ = receiver
    signer = standardwebhooks.Webhook(SECRET)
    body = json.dumps(
        {
            "type": "client.connected",
            "id": "evt_1",
            "timestamp": "2026-11-30T06:00:00.000Z",
            "data": {"connectionId": "c", "userId": None},
        }
    )

    def post(sent_body: str, msg_id: str, at: datetime, signed_body: str | None = None) -> int:
        signature = signer.sign(msg_id, at, signed_body or sent_body)
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature,
            "content-type": "application/json",
        }
        return httpx.post(f"{base}/webhooks", content=sent_body, headers=headers).status_code

    now = datetime.now(tz=timezone.utc)
    assert post(body, "evt_1", now) == 200
    assert post(body.replace("c", "d"), "evt_1", now, signed_body=body) == 401
    assert post(body, "evt_1", now - timedelta(minutes=6)) == 401
    assert post(body, "evt_1", now + timedelta(minutes=6)) == 401
    assert httpx.post(f"{base}/webhooks", content=body).status_code == 401
    assert [e["id"] for e in events(base)] == ["evt_1"]
