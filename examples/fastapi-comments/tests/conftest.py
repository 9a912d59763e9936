"""A real local gateway (authentication and API token on) for the API tests."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Gateway:
    http_url: str
    ws_url: str
    api_token: str
    jwt_secret: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the gateway did not listen on 127.0.0.1:{port} within {timeout} s")


@pytest.fixture(scope="session")
def gateway() -> Iterator[Gateway]:
    binary = Path(os.environ.get("WS_BRIDGE_GATEWAY", "target/debug/local-gateway"))
    if not binary.is_absolute():
        binary = REPO_ROOT / binary
    if not binary.exists():
        pytest.fail(f"no gateway binary at {binary}: build it or set WS_BRIDGE_GATEWAY")
    port = free_port()
    api_token, jwt_secret = secrets.token_hex(16), secrets.token_hex(32)
    env = {
        **os.environ,
        "API_TOKEN": api_token,
        "JWT_SECRET": jwt_secret,
        "HISTORY_CHANNELS": "post:*",  # as run.sh starts it
        "RUST_LOG": "warn",
    }
    process = subprocess.Popen([str(binary), "--port", str(port)], env=env)
    try:
        wait_for_port(port, process)
        yield Gateway(
            http_url=f"http://127.0.0.1:{port}/dev",
            ws_url=f"ws://127.0.0.1:{port}/dev",
            api_token=api_token,
            jwt_secret=jwt_secret,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
