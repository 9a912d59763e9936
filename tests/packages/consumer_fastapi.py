"""The `fastapi` extra, run after `pip install "ws_bridge-….whl[fastapi]"` into the clean
virtualenv of consumer.py: the FastAPI dependency verifies a signed webhook in a real app
(served in-process through httpx's ASGI transport) and answers a forged one 401.
"""

import asyncio
import json
import time

import httpx
from fastapi import Depends, FastAPI

from ws_bridge.webhooks import WebhookEvent, WebhookVerifier
from ws_bridge.webhooks_fastapi import verified_webhook

SECRET = "whsec_" + "c2VjcmV0LWtleS1vZi1hLXRlc3Q="
app = FastAPI()
webhook = verified_webhook(SECRET)


@app.post("/webhooks")
async def receive(event: WebhookEvent = Depends(webhook)) -> dict[str, str]:  # noqa: B008
    return {"type": event.type}


async def main() -> None:
    body = json.dumps(
        {"type": "client.connected", "id": "evt_2", "timestamp": "t", "data": {"userId": "a"}}
    ).encode()
    now = int(time.time())
    headers = {
        "webhook-id": "evt_2",
        "webhook-timestamp": str(now),
        "webhook-signature": WebhookVerifier(SECRET).sign("evt_2", now, body),
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        genuine = await client.post("/webhooks", content=body, headers=headers)
        forged = await client.post("/webhooks", content=body + b" ", headers=headers)
    assert (genuine.status_code, genuine.json()) == (200, {"type": "client.connected"})
    assert forged.status_code == 401, forged.text
    print("consumer_fastapi.py: the fastapi extra verifies webhooks in an app")


if __name__ == "__main__":
    asyncio.run(main())
