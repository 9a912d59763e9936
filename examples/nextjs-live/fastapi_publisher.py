"""The FastAPI side of the Next.js example: a Python backend publishing to the same page.

`POST /updates {"text": "…"}` publishes ``{"text": …}`` to the channel ``updates`` with the
Python client (``AsyncWsBridge``), exactly as the Next.js server action and ``POST /api/publish``
do with the JS publisher; every open page at ``/`` shows it. Run by ``make example-nextjs``
(port 8081) and by the example's browser tests. Environment: ``WS_BRIDGE_HTTP_URL`` (the
gateway's HTTP API, default ``http://127.0.0.1:3001/dev``), ``WS_BRIDGE_TOKEN`` (its API token).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from ws_bridge import AsyncWsBridge, Unavailable, WsBridgeError

CHANNEL = "updates"


class NewUpdate(BaseModel):
    text: str = Field(min_length=1, max_length=500)


def create_app() -> FastAPI:
    http_url = os.environ.get("WS_BRIDGE_HTTP_URL", "http://127.0.0.1:3001/dev")
    token = os.environ.get("WS_BRIDGE_TOKEN") or None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One client (one connection pool) for the app's lifetime.
        async with AsyncWsBridge(http_url, token=token, timeout=5.0) as bridge:
            app.state.bridge = bridge
            yield

    app = FastAPI(title="ws-bridge Next.js example: the FastAPI publisher", lifespan=lifespan)

    @app.post("/updates")
    async def publish(update: NewUpdate) -> dict[str, Any]:
        bridge: AsyncWsBridge = app.state.bridge
        try:
            report = await bridge.publish(CHANNEL, {"text": update.text})
        except Unavailable as err:
            raise HTTPException(503, err.message) from err
        except WsBridgeError as err:
            raise HTTPException(502, err.message) from err
        return {"sent": report.sent, "connectionCount": report.connection_count, "seq": report.seq}

    return app


app = create_app()
