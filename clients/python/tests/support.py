"""Real processes and real sockets for the tests: the gateway, DynamoDB Local, WebSocket peers.

Nothing here imitates the gateway: every test talks to the `local-gateway` binary named by
``WS_BRIDGE_GATEWAY`` (default ``target/debug/local-gateway`` under the repository root).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
from websockets.asyncio.client import ClientConnection, connect

REPO_ROOT = Path(__file__).resolve().parents[3]

# Variables of the developer's shell that would change the gateway's behaviour.
_GATEWAY_ENV_PREFIXES = ("GATEWAY_", "JWT_", "BROADCAST_", "AWS_")
_GATEWAY_ENV_NAMES = {
    "API_TOKEN",
    "CLIENT_PUBLISH",
    "MAX_CHANNELS_PER_CONNECTION",
    "MAX_CONNECTIONS_PER_USER",
    "MESSAGE_RATE_LIMIT",
    "CONNECTIONS_TABLE",
}


def gateway_binary() -> Path:
    """The gateway's launcher: ``WS_BRIDGE_GATEWAY``, default ``infra/local-gateway.sh``, which
    starts it as `make run` does (its binary: ``LOCAL_GATEWAY_BIN``, default target/debug)."""
    configured = os.environ.get("WS_BRIDGE_GATEWAY")
    path = Path(configured) if configured else Path("infra/local-gateway.sh")
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.is_file():
        raise RuntimeError(
            f"no local-gateway binary at {path}: build it (cargo build -p local-gateway) "
            "or set WS_BRIDGE_GATEWAY to its path"
        )
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not port_accepts(port):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before listening")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {seconds} s")
        time.sleep(0.02)


class Gateway:
    """One `local-gateway` process on its own port, started as `make run` starts it; killed by
    PID in :meth:`stop`.

    These tests are about the client, so the HTTP API is open (``--api-token ""`` lifts the
    template's token) unless a test gives ``--api-token`` itself.
    """

    def __init__(
        self, *args: str, env: dict[str, str] | None = None, port: int | None = None
    ) -> None:
        self.args = args
        self.extra_env = env or {}
        self.port = port or free_port()
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open for the process
            prefix="ws-bridge-gateway-", suffix=".log", delete=False
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Gateway:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(_GATEWAY_ENV_PREFIXES) and key not in _GATEWAY_ENV_NAMES
        }
        environment.update({"RUST_LOG": "info", "NO_COLOR": "1"}, **self.extra_env)
        open_api = () if "--api-token" in self.args else ("--api-token", "")
        self.process = subprocess.Popen(
            [str(gateway_binary()), "--port", str(self.port), *open_api, *self.args],
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(self.port, self.process, "local-gateway", 20)
        except RuntimeError as err:
            self.stop()
            raise RuntimeError(f"{err}\n{self.logs()}") from None
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dev"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/dev"

    def delete_connection(self, connection_id: str) -> int:
        """`DELETE @connections/{id}`: closes the client as the backend's DeleteConnection."""
        answer = httpx.delete(f"{self.http_url}/@connections/{connection_id}", timeout=5)
        return answer.status_code

    def post_to_connection(self, connection_id: str, data: bytes) -> int:
        answer = httpx.post(f"{self.http_url}/@connections/{connection_id}", content=data)
        return answer.status_code

    def logs(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


# --- DynamoDB Local ---------------------------------------------------------------------------


def dynamodb_local_home() -> tuple[Path | None, str]:
    """The folder holding DynamoDBLocal.jar, or None and why not."""
    if shutil.which("java") is None:
        return None, "no java on PATH (DynamoDB Local needs a Java runtime)"
    home = os.environ.get("DYNAMODB_LOCAL_HOME")
    if not home:
        script = REPO_ROOT / "infra" / "dynamodb-local.sh"
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            home = subprocess.run(
                [str(script), "home"], capture_output=True, text=True, timeout=20, check=False
            ).stdout.strip()
    if not home:
        return None, "DYNAMODB_LOCAL_HOME is unset and `infra/dynamodb-local.sh home` found none"
    if not (Path(home) / "DynamoDBLocal.jar").is_file():
        return None, f"no DynamoDBLocal.jar in {home}"
    return Path(home), ""


class DynamoDbLocal:
    """An in-memory DynamoDB Local java process of our own, on a free port."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        # It writes dynamodb-local-metadata.json into its working directory, even in memory.
        self.workdir = tempfile.TemporaryDirectory(prefix="ws-bridge-ddb-")
        self.process = subprocess.Popen(
            [
                "java",
                f"-Djava.library.path={home / 'DynamoDBLocal_lib'}",
                "-jar",
                str(home / "DynamoDBLocal.jar"),
                "-inMemory",
                "-port",
                str(self.port),
            ],
            cwd=self.workdir.name,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, self.process, "DynamoDB Local", 60)
        except RuntimeError:
            self.stop()
            raise

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def gateway_args(self) -> tuple[str, ...]:
        return ("--store", "dynamodb", "--dynamodb-endpoint", self.endpoint)

    @staticmethod
    def gateway_env() -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REGION": "us-east-1",
            # With the store stopped, fail at once instead of after the SDK's own retries.
            "AWS_MAX_ATTEMPTS": "1",
        }

    def stop(self) -> None:
        """Kills the process (by its PID): every later call to the store fails."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def remove(self) -> None:
        self.stop()
        self.workdir.cleanup()


# --- tokens -----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_hs256(secret: str, sub: str, lifetime: int = 300, **claims: Any) -> str:
    """An HS256 JWT, signed with the standard library only."""
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    payload = {"sub": sub, "iat": now, "exp": now + lifetime, **claims}
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}".encode()
    )
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode()}.{_b64(signature)}"


# --- WebSocket peers --------------------------------------------------------------------------


class Peer:
    """A plain `websockets` client, independent of the listener under test.

    Every peer is closed after its test (see the ``close_peers`` fixture).
    """

    open_peers: ClassVar[list[Peer]] = []

    def __init__(self, ws: ClientConnection, connection_id: str) -> None:
        self.ws = ws
        self.connection_id = connection_id

    @classmethod
    async def connect(
        cls, url: str, channels: list[str] | tuple[str, ...] = (), token: str | None = None
    ) -> Peer:
        if token is not None:
            url += f"?token={token}"
        peer = cls(await connect(url, open_timeout=5), connection_id="")
        cls.open_peers.append(peer)  # closed after the test even if the rest fails
        ws = peer.ws
        await ws.send('{"action":"hello"}')
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert welcome["type"] == "welcome", welcome
        peer.connection_id = welcome["data"]["connectionId"]
        if channels:
            await ws.send(json.dumps({"action": "subscribe", "channels": list(channels)}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply["type"] == "subscribed", reply
        return peer

    async def next(self, timeout: float = 5) -> Any:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def nothing_within(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            frame = await asyncio.wait_for(self.ws.recv(), seconds)
            raise AssertionError(f"expected no frame, got {frame!r}")

    async def close(self) -> None:
        await self.ws.close()


class SlowReader:
    """A WebSocket client on a raw socket that stops reading: its gateway queue fills up.

    The socket's receive buffer is made small before connecting so the kernel holds little.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /dev HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            self._buffer += self._read_some()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.send_text('{"action":"hello"}')
        welcome = json.loads(self.recv_text())
        self.connection_id: str = welcome["data"]["connectionId"]

    def _read_some(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the gateway closed the slow reader")
        return chunk

    def _take(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._buffer += self._read_some()
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        assert len(payload) < 126
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    def _frame(self) -> tuple[bool, int, bytes]:
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._take(8))
        return bool(first & 0x80), first & 0x0F, self._take(length)

    def recv_text(self) -> str:
        """The next text message, reassembled: over 32 KB it comes as several frames."""
        fin, opcode, data = self._frame()
        assert opcode == 1, f"expected a text frame, got opcode {opcode}"
        while not fin:
            fin, opcode, more = self._frame()
            assert opcode == 0, f"expected a continuation frame, got opcode {opcode}"
            data += more
        return data.decode()

    def texts(self) -> Iterator[str]:
        while True:
            yield self.recv_text()

    def close(self) -> None:
        self.sock.close()


def fill_queue(gateway: Gateway, connection_id: str) -> int:
    """Posts large messages at a slow reader until its queue stays full (429) for a second.

    The kernel grows a socket's buffers as data arrives, so one 429 is not yet "full for good".
    Returns how many were accepted.
    """
    chunk = json.dumps({"fill": "x" * 100_000}).encode()
    accepted = 0
    full_since: float | None = None
    with httpx.Client(timeout=5) as client:
        for _ in range(5000):
            status = client.post(
                f"{gateway.http_url}/@connections/{connection_id}", content=chunk
            ).status_code
            if status == 200:
                accepted += 1
                full_since = None
                continue
            assert status == 429, f"@connections answered {status}"
            full_since = full_since or time.monotonic()
            if time.monotonic() - full_since >= 1.0:
                return accepted
            time.sleep(0.02)
    raise AssertionError("the slow reader's queue never stayed full")
