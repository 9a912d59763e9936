"""A comments page that updates live through ws-bridge.

The backend stores comments in memory, publishes each new one to the channel ``post:{id}``
with the Python client (``AsyncWsBridge``), and mints the short-lived JWT the browser connects
with. The page (``static/comments.js``) uses the browser client (``WsBridgeClient``).

Run it with ``run.sh`` (gateway + app), or by hand:
``uvicorn main:app --host 127.0.0.1 --port 8080``.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import jwt
from fastapi import Cookie, FastAPI, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, field_validator
from ws_bridge import AsyncBroadcastReport, AsyncWsBridge, DeliveryReport, WsBridgeError

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent

logger = logging.getLogger("fastapi_comments")

MAX_CONTENT_LENGTH = 2000
GUEST_COOKIE = "guest"
TOKEN_TTL_SECONDS = 300
PostId = Annotated[int, PathParam(ge=1, le=2**53 - 1)]


@dataclass(frozen=True)
class Settings:
    """Configuration; ``from_env`` reads it from the environment, with local defaults."""

    http_url: str = "http://127.0.0.1:3001/dev"
    ws_url: str = "ws://127.0.0.1:3001/dev"
    api_token: str | None = None
    jwt_secret: str = field(default="", repr=False)
    js_client_dir: Path = REPO_ROOT / "clients" / "js" / "src"

    @classmethod
    def from_env(cls) -> Settings:
        secret = os.environ.get("WS_BRIDGE_JWT_SECRET", "")
        if not secret:
            # Without a secret shared with the gateway's JWT_SECRET the browser's tokens are
            # refused; a random one keeps the app usable against a gateway with auth off.
            secret = secrets.token_urlsafe(32)
            logger.warning(
                "WS_BRIDGE_JWT_SECRET is not set: tokens are signed with a random key, "
                "which a gateway with JWT_SECRET set will refuse"
            )
        return cls(
            http_url=os.environ.get("WS_BRIDGE_HTTP_URL", cls.http_url),
            ws_url=os.environ.get("WS_BRIDGE_WS_URL", cls.ws_url),
            api_token=os.environ.get("WS_BRIDGE_TOKEN") or None,
            jwt_secret=secret,
            js_client_dir=Path(os.environ.get("WS_BRIDGE_JS_DIR", str(cls.js_client_dir))),
        )


class NewComment(BaseModel):
    """The body of ``POST /api/posts/{post_id}/comments``."""

    model_config = ConfigDict(extra="forbid")

    content: str = Field(max_length=MAX_CONTENT_LENGTH)

    @field_validator("content")
    @classmethod
    def not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("content must not be empty")
        return value


class CommentStore:
    """Comments by post, in memory (gone when the app stops)."""

    def __init__(self) -> None:
        self._by_post: dict[int, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    def add(self, post_id: int, content: str, author: str) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        comment = {
            "id": next(self._ids),
            "postId": post_id,
            "content": content,
            "author": author,
            "createdAt": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        self._by_post.setdefault(post_id, []).append(comment)
        return comment

    def list(self, post_id: int) -> list[dict[str, Any]]:
        return list(self._by_post.get(post_id, []))


def report_json(report: DeliveryReport | AsyncBroadcastReport | None) -> dict[str, Any] | None:
    """The gateway's delivery report, in the gateway's own JSON shape.

    An :class:`AsyncBroadcastReport` (the gateway chose to deliver asynchronously, when its
    ``BROADCAST_ASYNC_THRESHOLD`` is set) has counts where the synchronous report has ids.
    """
    if report is None:
        return None
    if isinstance(report, AsyncBroadcastReport):
        return {
            "broadcastId": report.broadcast_id,
            "connectionCount": report.connection_count,
            "sent": report.sent,
            "gone": report.gone,
            "failed": report.failed,
        }
    return {
        "connectionCount": report.connection_count,
        "sent": report.sent,
        "gone": list(report.gone),
        "failed": [{"connectionId": f.connection_id, "error": f.error} for f in report.failed],
    }


class Guests:
    """Anonymous visitors: a random id in a cookie, signed so that it cannot be chosen."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, guest_id: str) -> str:
        return hmac.new(self._key, guest_id.encode(), hashlib.sha256).hexdigest()[:32]

    def verify(self, cookie: str | None) -> str | None:
        if not cookie or "." not in cookie:
            return None
        guest_id, _, signature = cookie.rpartition(".")
        if hmac.compare_digest(signature, self._sign(guest_id)):
            return guest_id
        return None

    def identify(self, cookie: str | None, response: Response) -> str:
        """The visitor's guest id; a new visitor gets one, set as a cookie on ``response``."""
        guest_id = self.verify(cookie)
        if guest_id is None:
            guest_id = f"guest-{secrets.token_hex(4)}"
            response.set_cookie(
                GUEST_COOKIE,
                f"{guest_id}.{self._sign(guest_id)}",
                max_age=30 * 24 * 3600,
                httponly=True,
                samesite="lax",
            )
        return guest_id


GuestCookie = Annotated[str | None, Cookie(alias=GUEST_COOKIE)]


def render_page(post_id: int, visitor: str, settings: Settings) -> str:
    # The HTTP API is where the page's client asks why a handshake failed (no bearer token:
    # GET /handshakes/{id} is public), so that it tells a refused token from an outage.
    config = {
        "postId": post_id,
        "wsUrl": settings.ws_url,
        "statusUrl": settings.http_url,
        "visitor": visitor,
    }
    # `<` escaped so that no value can close the <script> element.
    config_json = json.dumps(config).replace("<", "\\u003c")
    template = (HERE / "templates" / "post.html").read_text(encoding="utf-8")
    return template.replace("{{POST_ID}}", html.escape(str(post_id))).replace(
        "{{CONFIG_JSON}}", config_json
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    store = CommentStore()
    guests = Guests(hashlib.sha256(b"guest-cookie:" + settings.jwt_secret.encode()).digest())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One client (one HTTP connection pool) for the app's lifetime.
        # A short timeout: a comment's POST waits for its publish.
        bridge = AsyncWsBridge(settings.http_url, token=settings.api_token, timeout=5.0)
        async with bridge:
            app.state.bridge = bridge
            logger.info(
                "publishing to %s; browsers connect to %s", settings.http_url, settings.ws_url
            )
            yield

    app = FastAPI(title="ws-bridge comments example", lifespan=lifespan)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    # The browser client, served as is (an ES module, no build step).
    app.mount("/ws-bridge", StaticFiles(directory=settings.js_client_dir), name="ws-bridge")

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(
            '<!doctype html><meta charset="utf-8"><title>ws-bridge comments</title>'
            '<p>Open <a href="/posts/42">post 42</a> in two windows, or '
            '<a href="/posts/7">post 7</a>.</p>'
        )

    @app.get("/posts/{post_id}", response_class=HTMLResponse)
    async def post_page(post_id: PostId, response: Response, guest: GuestCookie = None) -> str:
        """The page; a new visitor's cookie set on ``response`` is merged into the HTML response."""
        visitor = guests.identify(guest, response)
        return render_page(post_id, visitor, settings)

    @app.get("/api/token")
    async def token(
        response: Response,
        post_id: Annotated[int | None, Query(ge=1, le=2**53 - 1)] = None,
        guest: GuestCookie = None,
    ) -> dict[str, Any]:
        """A short-lived JWT for the WebSocket handshake: that post's channel, or every post's."""
        visitor = guests.identify(guest, response)
        now = int(time.time())
        channels = [f"post:{post_id}"] if post_id is not None else ["post:*"]
        claims = {"sub": visitor, "iat": now, "exp": now + TOKEN_TTL_SECONDS, "channels": channels}
        response.headers["Cache-Control"] = "no-store"
        return {
            "token": jwt.encode(claims, settings.jwt_secret, algorithm="HS256"),
            "expiresIn": TOKEN_TTL_SECONDS,
            "channels": channels,
        }

    @app.get("/api/posts/{post_id}/comments")
    async def list_comments(post_id: PostId) -> dict[str, Any]:
        return {"postId": post_id, "comments": store.list(post_id)}

    @app.post("/api/posts/{post_id}/comments", status_code=201)
    async def create_comment(
        post_id: PostId,
        body: NewComment,
        request: Request,
        response: Response,
        guest: GuestCookie = None,
    ) -> dict[str, Any]:
        """Store the comment, then publish it; a failed publish is reported, not hidden."""
        author = guests.identify(guest, response)
        comment = store.add(post_id, body.content, author)
        channel = f"post:{post_id}"
        event = {"type": "comment.created", "data": {"postId": post_id, "comment": comment}}
        bridge: AsyncWsBridge = request.app.state.bridge
        live: dict[str, Any] = {"channel": channel}
        try:
            report = await bridge.publish(channel, event)
        except WsBridgeError as error:  # refused (401, 400), store down (503), unreachable
            partial = report_json(getattr(error, "report", None))
            logger.error(
                "comment %s stored, but publishing to %s failed: %s; report: %s",
                comment["id"],
                channel,
                error,
                partial,
            )
            live.update(published=False, status=error.status, error=str(error), report=partial)
        # Anything else (a bug) is reported too: the comment is stored, so answering 500 would
        # invite a retry that stores it twice.
        except Exception as error:
            logger.exception(
                "comment %s stored, but publishing to %s failed", comment["id"], channel
            )
            error_text = f"{type(error).__name__}: {error}"
            live.update(published=False, status=None, error=error_text, report=None)
        else:
            live.update(published=True, report=report_json(report))
            failed = len(report.failed) if isinstance(report, DeliveryReport) else report.failed
            if failed:
                logger.warning(
                    "comment %s: %d of %d subscribers of %s were not reached: %s",
                    comment["id"],
                    failed,
                    report.connection_count,
                    channel,
                    report_json(report),
                )
        return {"comment": comment, "live": live}

    return app


def _configure_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")


_configure_logging()
app = create_app()

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        app,
        host=os.environ.get("APP_HOST", "127.0.0.1"),
        port=int(os.environ.get("APP_PORT", "8080")),
    )
