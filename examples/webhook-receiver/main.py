"""A FastAPI receiver of ws-bridge webhooks.

Every request is verified with the Python client's FastAPI dependency (Standard Webhooks
signature, timestamp within 5 minutes) before the endpoint runs; a forged or replayed one gets
401. Delivery is at least once, so events are de-duplicated by their id.

Run it (the secret must be the gateway's ``--webhook-secret``)::

    WEBHOOK_SECRET=whsec_... uvicorn --factory main:create_app --port 8090
    local-gateway --webhook-url http://127.0.0.1:8090/webhooks --webhook-secret whsec_...
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any

from fastapi import Depends, FastAPI
from ws_bridge.webhooks import WebhookEvent
from ws_bridge.webhooks_fastapi import verified_webhook

KEEP = 1000


def create_app(secret: str | None = None) -> FastAPI:
    """The app; ``secret`` defaults to the ``WEBHOOK_SECRET`` environment variable."""
    secret = secret or os.environ["WEBHOOK_SECRET"]
    app = FastAPI(title="ws-bridge webhook receiver")
    received: deque[WebhookEvent] = deque(maxlen=KEEP)
    seen: deque[str] = deque(maxlen=KEEP)
    webhook = verified_webhook(secret)

    @app.post("/webhooks")
    async def receive(event: WebhookEvent = Depends(webhook)) -> dict[str, str]:  # noqa: B008
        # A retry of an event already handled has the same id: acknowledge it, do nothing.
        if event.id not in seen:
            seen.append(event.id)
            received.append(event)
            if event.type == "client.connected":
                print(f"{event.data['connectionId']} connected (user {event.data['userId']})")
        return {"status": "ok"}

    @app.get("/events")
    async def events() -> list[dict[str, Any]]:
        return [
            {"type": e.type, "id": e.id, "timestamp": e.timestamp, "data": e.data} for e in received
        ]

    return app
