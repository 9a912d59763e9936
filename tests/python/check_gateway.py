"""The gateway, seen by clients that share no code with it: Python's `websockets` and `boto3`.

Usage: check_gateway.py PATH/TO/local-gateway

Starts the gateway on a free loopback port, runs each check, prints `N passed, N failed`, and
exits non-zero when a check failed.
"""

import asyncio
import json
import socket
import subprocess
import sys
import time

import boto3
import websockets
from botocore.config import Config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gateway did not listen on {port}")


def management_client(http_url: str):
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=http_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}),
    )


async def check_hello_post_get_delete_and_gone(ws_url: str, http_url: str) -> None:
    sdk = management_client(http_url)
    async with websockets.connect(ws_url + "?clientId=python") as ws:
        await ws.send(json.dumps({"action": "hello"}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert welcome["type"] == "welcome", welcome
        connection_id = welcome["data"]["connectionId"]
        assert len(connection_id) == 16 and welcome["data"]["clientId"] == "python", welcome

        sdk.post_to_connection(ConnectionId=connection_id, Data=b'{"from":"boto3"}')
        assert await asyncio.wait_for(ws.recv(), 10) == '{"from":"boto3"}'

        info = sdk.get_connection(ConnectionId=connection_id)
        assert info["ConnectedAt"].year >= 2024, info
        assert info["Identity"]["SourceIp"] == "127.0.0.1", info

        sdk.delete_connection(ConnectionId=connection_id)
        try:
            await asyncio.wait_for(ws.recv(), 10)
            raise AssertionError("expected the socket to close")
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1000, closed

    try:
        sdk.post_to_connection(ConnectionId=connection_id, Data=b"late")
        raise AssertionError("expected GoneException")
    except sdk.exceptions.GoneException as gone:
        assert gone.response["ResponseMetadata"]["HTTPStatusCode"] == 410


async def check_ping_and_error_frames(ws_url: str, _http_url: str) -> None:
    async with websockets.connect(ws_url) as ws:
        await ws.send('{"action":"ping"}')
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"
        await ws.send("not json")
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert error["type"] == "error" and "not valid JSON" in error["data"]["error"], error


async def check_binary_frames_close_with_1003(ws_url: str, _http_url: str) -> None:
    async with websockets.connect(ws_url) as ws:
        await ws.send(b"\x00\x01")
        try:
            await asyncio.wait_for(ws.recv(), 10)
            raise AssertionError("expected the socket to close")
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1003, closed


async def check_oversize_post_is_payload_too_large(ws_url: str, http_url: str) -> None:
    sdk = management_client(http_url)
    async with websockets.connect(ws_url) as ws:
        await ws.send('{"action":"hello"}')
        connection_id = json.loads(await asyncio.wait_for(ws.recv(), 10))["data"]["connectionId"]
        try:
            sdk.post_to_connection(ConnectionId=connection_id, Data=b"a" * 131_073)
            raise AssertionError("expected PayloadTooLargeException")
        except sdk.exceptions.PayloadTooLargeException:
            pass


CHECKS = [
    check_hello_post_get_delete_and_gone,
    check_ping_and_error_frames,
    check_binary_frames_close_with_1003,
    check_oversize_post_is_payload_too_large,
]


def main() -> int:
    binary = sys.argv[1]
    port = free_port()
    gateway = subprocess.Popen([binary, "--port", str(port)], stdout=subprocess.DEVNULL)
    passed = failed = 0
    try:
        wait_for(port)
        ws_url, http_url = f"ws://127.0.0.1:{port}/dev", f"http://127.0.0.1:{port}/dev"
        for check in CHECKS:
            try:
                asyncio.run(check(ws_url, http_url))
                passed += 1
                print(f"ok      {check.__name__}")
            except Exception as problem:  # noqa: BLE001 - report every failure, then go on
                failed += 1
                print(f"FAILED  {check.__name__}: {problem!r}")
    finally:
        gateway.terminate()
        gateway.wait(timeout=10)
    print(f"python check: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
