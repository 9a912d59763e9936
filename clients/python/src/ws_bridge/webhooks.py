"""Verify ws-bridge webhooks (Standard Webhooks 1.0) before trusting them.

Every webhook carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` of ``{id}.{timestamp}.{body}``, keyed with
the base64-decoded part of the ``whsec_`` secret). :class:`WebhookVerifier` checks the signature
in constant time and refuses a timestamp further than ``tolerance`` from now (5 minutes by
default), so a captured request cannot be replayed later. For FastAPI, see
:mod:`ws_bridge.webhooks_fastapi`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

__all__ = [
    "DEFAULT_TOLERANCE",
    "WebhookEvent",
    "WebhookVerificationError",
    "WebhookVerifier",
]

DEFAULT_TOLERANCE = timedelta(minutes=5)
_PREFIX = "whsec_"


class WebhookVerificationError(Exception):
    """The request is not a genuine, fresh webhook; the message says why (never the secret)."""


@dataclass(frozen=True)
class WebhookEvent:
    """One verified event: ``type`` (e.g. ``client.connected``), ``id``, ``timestamp`` (ISO 8601
    UTC) and ``data``, as the README's Webhooks section documents them."""

    type: str
    id: str
    timestamp: str
    data: dict[str, Any]


class WebhookVerifier:
    """Verifies webhooks signed with ``secret`` (``whsec_`` + base64)."""

    def __init__(self, secret: str, *, tolerance: timedelta = DEFAULT_TOLERANCE) -> None:
        if not secret.startswith(_PREFIX):
            raise ValueError("the webhook secret must start with whsec_")
        try:
            self._key = base64.b64decode(secret[len(_PREFIX) :], validate=True)
        except binascii.Error as err:
            raise ValueError("the webhook secret must be whsec_ followed by base64") from err
        if not self._key:
            raise ValueError("the webhook secret is empty")
        self._tolerance = tolerance

    def sign(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """The ``webhook-signature`` value for these parts (useful for tests of a receiver)."""
        signed = f"{msg_id}.{timestamp}.".encode() + body
        digest = hmac.new(self._key, signed, hashlib.sha256).digest()
        return "v1," + base64.b64encode(digest).decode()

    def verify(
        self, body: bytes, headers: Mapping[str, str], *, now: float | None = None
    ) -> WebhookEvent:
        """Returns the event if ``body`` was signed with the secret within the tolerance;
        raises :class:`WebhookVerificationError` otherwise. ``headers`` may be any mapping with
        lower-case names, or a case-insensitive one (Starlette's, httpx's)."""
        msg_id = _header(headers, "webhook-id")
        raw_timestamp = _header(headers, "webhook-timestamp")
        signatures = _header(headers, "webhook-signature")
        try:
            timestamp = int(raw_timestamp)
        except ValueError as err:
            raise WebhookVerificationError("webhook-timestamp is not a number") from err
        current = time.time() if now is None else now
        if abs(current - timestamp) > self._tolerance.total_seconds():
            raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
        expected = self.sign(msg_id, timestamp, body).encode()
        if not any(
            hmac.compare_digest(expected, candidate.encode())
            for candidate in signatures.split(" ")
            if candidate.startswith("v1,")
        ):
            raise WebhookVerificationError("no matching signature")
        try:
            payload = json.loads(body)
        except ValueError as err:
            raise WebhookVerificationError("the body is not JSON") from err
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise WebhookVerificationError("the body is not a webhook event")
        if payload.get("id") != msg_id:
            raise WebhookVerificationError("the event's id is not its webhook-id")
        return WebhookEvent(
            type=str(payload.get("type")),
            id=msg_id,
            timestamp=str(payload.get("timestamp")),
            data=payload["data"],
        )


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise WebhookVerificationError(f"missing {name} header")
    return value
