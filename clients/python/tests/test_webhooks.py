"""The webhook verifier against an independent Standard Webhooks implementation
(``standardwebhooks``), and its FastAPI dependency."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
import standardwebhooks
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from ws_bridge.webhooks import WebhookEvent, WebhookVerificationError, WebhookVerifier
from ws_bridge.webhooks_fastapi import verified_webhook

SECRET = "whsec_" + base64.b64encode(b"client-test-secret-of-32-bytes!!").decode()
BODY = json.dumps(
    {
        "type": "channel.occupied",
        "timestamp": "2026-11-30T06:00:00.000Z",
        "id": "evt_42",
        "data": {"channel": "news", "subscribers": 1},
    }
)


def signed_headers(
    body: str = BODY, at: datetime | None = None, secret: str = SECRET
) -> dict[str, str]:
    at = at or datetime.now(tz=timezone.utc)
    return {
        "webhook-id": "evt_42",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": standardwebhooks.Webhook(secret).sign("evt_42", at, body),
    }


def test_accepts_what_the_reference_implementation_signs() -> None:
    event = WebhookVerifier(SECRET).verify(BODY.encode(), signed_headers())
    assert event == WebhookEvent(
        type="channel.occupied",
        id="evt_42",
        timestamp="2026-11-30T06:00:00.000Z",
        data={"channel": "news", "subscribers": 1},
    )


def test_signs_what_the_reference_implementation_accepts() -> None:
    now = int(datetime.now(tz=timezone.utc).timestamp())
    signature = WebhookVerifier(SECRET).sign("evt_42", now, BODY.encode())
    headers = {
        "webhook-id": "evt_42",
        "webhook-timestamp": str(now),
        "webhook-signature": signature,
    }
    assert standardwebhooks.Webhook(SECRET).verify(BODY, headers)["id"] == "evt_42"


def _minutes_off(minutes: int) -> dict[str, str]:
    return signed_headers(at=datetime.now(tz=timezone.utc) + timedelta(minutes=minutes))


# Headers are built when each case runs, not at collection: a suite slower than the tolerance
# would otherwise turn a stale-timestamp case into a fresh one.
@pytest.mark.parametrize(
    ("body", "make_headers", "reason"),
    [
        (BODY.replace("news", "newz"), signed_headers, "no matching signature"),
        (
            BODY,
            lambda: signed_headers(secret="whsec_" + base64.b64encode(b"x" * 32).decode()),
            "no matching",
        ),
        (BODY, lambda: _minutes_off(-6), "tolerance"),
        (BODY, lambda: _minutes_off(6), "tolerance"),
        (
            BODY,
            lambda: {k: v for k, v in signed_headers().items() if k != "webhook-id"},
            "webhook-id",
        ),
        (BODY, lambda: {**signed_headers(), "webhook-timestamp": "soon"}, "not a number"),
    ],
)
def test_refuses_tampered_forged_and_stale_requests(
    body: str, make_headers: Callable[[], dict[str, str]], reason: str
) -> None:
    headers = make_headers()
    with pytest.raises(WebhookVerificationError, match=reason):
        WebhookVerifier(SECRET).verify(body.encode(), headers)


def test_the_tolerance_is_configurable_and_bad_secrets_are_refused() -> None:
    old = datetime.now(tz=timezone.utc) - timedelta(minutes=8)
    verifier = WebhookVerifier(SECRET, tolerance=timedelta(minutes=10))
    assert verifier.verify(BODY.encode(), signed_headers(at=old)).id == "evt_42"
    for bad in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!", "whsec_"]:
        with pytest.raises(ValueError, match="secret"):
            WebhookVerifier(bad)


def test_the_fastapi_dependency_answers_401_before_the_endpoint_runs() -> None:
    app = FastAPI()
    received: list[WebhookEvent] = []
    webhook = verified_webhook(SECRET)

    @app.post("/hooks")
    async def hooks(event: WebhookEvent = Depends(webhook)) -> dict[str, str]:  # noqa: B008
        received.append(event)
        return {"status": "ok"}

    client = TestClient(app)
    assert client.post("/hooks", content=BODY, headers=signed_headers()).status_code == 200
    tampered = client.post("/hooks", content=BODY + " ", headers=signed_headers())
    assert tampered.status_code == 401
    assert tampered.json() == {"detail": "no matching signature"}
    assert [e.id for e in received] == ["evt_42"]
