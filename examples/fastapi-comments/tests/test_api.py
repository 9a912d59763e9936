"""The comments API against a real gateway: what is stored, published, refused and reported."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from conftest import Gateway, free_port
from fastapi.testclient import TestClient
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from main import MAX_CONTENT_LENGTH, Settings, create_app


def settings_for(gateway: Gateway, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "http_url": gateway.http_url,
        "ws_url": gateway.ws_url,
        "api_token": gateway.api_token,
        "jwt_secret": gateway.jwt_secret,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def api(gateway: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(gateway))) as client:
        yield client


def listen(api: TestClient, gateway: Gateway, post_id: int) -> ClientConnection:
    """A WebSocket subscribed to the post's channel, with a token from the app."""
    token = api.get("/api/token", params={"post_id": post_id}).json()["token"]
    return connect(f"{gateway.ws_url}?channels=post:{post_id}&token={token}")


def assert_nothing_arrives(ws: ClientConnection, seconds: float = 0.3) -> None:
    try:
        message = ws.recv(timeout=seconds)
    except TimeoutError:
        return
    pytest.fail(f"unexpected message: {message!r}")


def test_a_comment_is_stored_and_published_to_its_post_only(
    api: TestClient, gateway: Gateway
) -> None:
    with listen(api, gateway, 42) as post42, listen(api, gateway, 7) as post7:
        response = api.post("/api/posts/42/comments", json={"content": "  Hello, live world  "})
        assert response.status_code == 201
        body = response.json()
        comment = body["comment"]
        assert comment["postId"] == 42
        assert comment["content"] == "Hello, live world"
        assert comment["author"].startswith("guest-")
        assert comment["createdAt"].endswith("Z")
        assert isinstance(comment["id"], int)
        assert body["live"] == {
            "channel": "post:42",
            "published": True,
            "report": {"connectionCount": 1, "sent": 1, "gone": [], "failed": []},
        }
        # post:* channels have history: a raw socket sees the envelope with the sequence
        # number (the browser client hands the page the event inside it).
        envelope = json.loads(post42.recv(timeout=2))
        event = {"type": "comment.created", "data": {"postId": 42, "comment": comment}}
        assert envelope == {"type": "message", "channel": "post:42", "seq": 1, "data": event}
        assert_nothing_arrives(post7)

    listed = api.get("/api/posts/42/comments").json()
    assert listed == {"postId": 42, "comments": [comment]}
    assert api.get("/api/posts/7/comments").json() == {"postId": 7, "comments": []}


@pytest.mark.parametrize(
    "body",
    [
        {"content": ""},
        {"content": "   \n\t "},
        {"content": "x" * (MAX_CONTENT_LENGTH + 1)},
        {},
        {"content": 5},
        {"content": "ok", "author": "someone-else"},
    ],
    ids=["empty", "blank", "too-long", "missing", "not-a-string", "extra-field"],
)
def test_an_invalid_comment_is_refused_and_publishes_nothing(
    api: TestClient, gateway: Gateway, body: dict[str, object]
) -> None:
    with listen(api, gateway, 42) as post42:
        response = api.post("/api/posts/42/comments", json=body)
        assert response.status_code == 422, response.text
        assert_nothing_arrives(post42)
    assert api.get("/api/posts/42/comments").json()["comments"] == []


def test_the_longest_comment_is_accepted(api: TestClient) -> None:
    content = "x" * MAX_CONTENT_LENGTH
    response = api.post("/api/posts/1/comments", json={"content": content})
    assert response.status_code == 201
    assert response.json()["comment"]["content"] == content


def test_a_refused_publish_keeps_the_comment_and_says_so(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings_for(gateway, api_token="not-the-token"))
    with TestClient(app) as api, caplog.at_level(logging.ERROR, logger="fastapi_comments"):
        response = api.post("/api/posts/42/comments", json={"content": "still saved"})
        assert response.status_code == 201
        body = response.json()
        assert body["live"]["published"] is False
        assert body["live"]["status"] == 401
        assert body["live"]["error"]
        assert api.get("/api/posts/42/comments").json()["comments"] == [body["comment"]]
    assert any("publishing to post:42 failed" in r.getMessage() for r in caplog.records)


def test_an_unreachable_gateway_keeps_the_comment_and_says_so(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/dev"
    with (
        TestClient(create_app(settings_for(gateway, http_url=closed))) as api,
        caplog.at_level(logging.ERROR, logger="fastapi_comments"),
    ):
        response = api.post("/api/posts/3/comments", json={"content": "gateway down"})
        assert response.status_code == 201
        live = response.json()["live"]
        assert live["published"] is False
        assert live["error"]
        assert len(api.get("/api/posts/3/comments").json()["comments"]) == 1
    assert any("publishing to post:3 failed" in r.getMessage() for r in caplog.records)


def test_the_token_grants_one_post_to_the_visitor(api: TestClient, gateway: Gateway) -> None:
    answer = api.get("/api/token", params={"post_id": 42})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    claims = jwt.decode(answer.json()["token"], gateway.jwt_secret, algorithms=["HS256"])
    assert claims["channels"] == ["post:42"]
    assert claims["sub"].startswith("guest-")
    assert 60 <= claims["exp"] - claims["iat"] <= 600
    # The same visitor (cookie) on every call, and the comments are theirs.
    again = jwt.decode(
        api.get("/api/token").json()["token"], gateway.jwt_secret, algorithms=["HS256"]
    )
    assert again["sub"] == claims["sub"]
    assert again["channels"] == ["post:*"]
    comment = api.post("/api/posts/5/comments", json={"content": "mine"}).json()["comment"]
    assert comment["author"] == claims["sub"]


def test_the_gateway_refuses_a_channel_the_token_does_not_grant(
    api: TestClient, gateway: Gateway
) -> None:
    token = api.get("/api/token", params={"post_id": 42}).json()["token"]
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{gateway.ws_url}?channels=post:7&token={token}")
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as unauthenticated:
        connect(f"{gateway.ws_url}?channels=post:42")
    assert unauthenticated.value.response.status_code == 401


def test_a_forged_guest_cookie_is_replaced(gateway: Gateway) -> None:
    forged = "guest-00000000.0123456789abcdef0123456789abcdef"
    with TestClient(create_app(settings_for(gateway))) as api:
        answer = api.get("/api/token", headers={"Cookie": f"guest={forged}"})
    claims = jwt.decode(answer.json()["token"], gateway.jwt_secret, algorithms=["HS256"])
    assert claims["sub"].startswith("guest-")
    assert claims["sub"] != "guest-00000000"
    assert answer.headers["set-cookie"].startswith(f"guest={claims['sub']}.")


def test_the_page_config_cannot_close_its_script_element(gateway: Gateway) -> None:
    hostile = "ws://127.0.0.1:1/dev?</script><script>alert(1)</script>"
    with TestClient(create_app(settings_for(gateway, ws_url=hostile))) as api:
        page = api.get("/posts/1").text
    assert "<script>alert(1)" not in page
    config = page.split('<script type="application/json" id="config">')[1].split("</script>")[0]
    assert json.loads(config)["wsUrl"] == hostile


def test_the_page_embeds_its_configuration_safely(api: TestClient, gateway: Gateway) -> None:
    page = api.get("/posts/42")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "guest=" in page.headers["set-cookie"]
    assert '<script type="module" src="/static/comments.js">' in page.text
    config = page.text.split('<script type="application/json" id="config">')[1].split("</script>")[
        0
    ]
    assert json.loads(config) == {
        "postId": 42,
        "wsUrl": gateway.ws_url,
        "statusUrl": gateway.http_url,
        "visitor": json.loads(config)["visitor"],
    }
    assert api.get("/posts/not-a-number").status_code == 422
    assert api.get("/static/comments.js").status_code == 200
    module = api.get("/ws-bridge/ws-bridge.js")
    assert module.status_code == 200
    assert "WsBridgeClient" in module.text


class _ScriptedGateway(BaseHTTPRequestHandler):
    """Answers every POST with the status and body in ``server.answer`` (failure injection)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        status, body = self.server.answer  # type: ignore[attr-defined]
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def scripted_gateway(status: int, body: dict[str, object]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ScriptedGateway)
    server.answer = (status, body)  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/dev"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_partial_delivery_before_the_store_failed_is_reported(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    partial = {
        "connectionCount": 3,
        "sent": 1,
        "gone": ["Vb7rKfZ-joECH_A="],
        "failed": [{"connectionId": "Mg_ugfpqPHcCIVA=", "error": "throttled"}],
    }
    with (
        scripted_gateway(503, {**partial, "error": "connection store unavailable"}) as url,
        TestClient(create_app(settings_for(gateway, http_url=url))) as api,
        caplog.at_level(logging.ERROR, logger="fastapi_comments"),
    ):
        response = api.post("/api/posts/9/comments", json={"content": "half delivered"})
        assert response.status_code == 201
        live = response.json()["live"]
        assert live["published"] is False
        assert live["status"] == 503
        assert "connection store unavailable" in live["error"]
        assert live["report"] == partial
        assert len(api.get("/api/posts/9/comments").json()["comments"]) == 1
    assert any("Mg_ugfpqPHcCIVA=" in r.getMessage() for r in caplog.records)


def test_subscribers_not_reached_are_reported_and_logged(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    report = {
        "connectionCount": 2,
        "sent": 1,
        "gone": [],
        "failed": [{"connectionId": "Mg_ugfpqPHcCIVA=", "error": "LimitExceededException"}],
    }
    with (
        scripted_gateway(200, report) as url,
        TestClient(create_app(settings_for(gateway, http_url=url))) as api,
        caplog.at_level(logging.WARNING, logger="fastapi_comments"),
    ):
        response = api.post("/api/posts/9/comments", json={"content": "one slow reader"})
        assert response.status_code == 201
        assert response.json()["live"] == {"channel": "post:9", "published": True, "report": report}
    assert any("were not reached" in r.getMessage() for r in caplog.records)
