"""A FastAPI dependency that verifies ws-bridge webhooks (needs ``fastapi`` installed).

.. code-block:: python

    from fastapi import Depends, FastAPI
    from ws_bridge.webhooks import WebhookEvent
    from ws_bridge.webhooks_fastapi import verified_webhook

    app = FastAPI()
    webhook = verified_webhook(os.environ["WEBHOOK_SECRET"])

    @app.post("/webhooks")
    async def receive(event: WebhookEvent = Depends(webhook)) -> dict[str, str]:
        ...

A request that fails verification is answered 401 with the reason, before the endpoint runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from fastapi import HTTPException, Request

from .webhooks import DEFAULT_TOLERANCE, WebhookEvent, WebhookVerificationError, WebhookVerifier

__all__ = ["verified_webhook"]


def verified_webhook(
    secret: str, *, tolerance: timedelta = DEFAULT_TOLERANCE
) -> Callable[[Request], Awaitable[WebhookEvent]]:
    """A dependency returning the verified :class:`WebhookEvent` of the request."""
    verifier = WebhookVerifier(secret, tolerance=tolerance)

    async def dependency(request: Request) -> WebhookEvent:
        body = await request.body()
        try:
            return verifier.verify(body, request.headers)
        except WebhookVerificationError as err:
            raise HTTPException(status_code=401, detail=str(err)) from err

    return dependency
