"""A user's first script, run in a clean virtualenv that holds only the built wheel and its
dependencies (tests/packages/check_packages.py), and type-checked there by mypy --strict: the
package imports from the install, not the checkout, publishes, verifies a webhook, and ships
its types (py.typed).

Usage: python consumer.py VERSION
"""

import importlib.metadata
import importlib.util
import json
import sys
from pathlib import Path

import httpx

import ws_bridge
from ws_bridge import DeliveryReport, WsBridge
from ws_bridge.webhooks import WebhookEvent, WebhookVerifier


def check_install(version: str) -> None:
    assert ws_bridge.__version__ == version, ws_bridge.__version__
    assert importlib.metadata.version("ws-bridge") == version
    module = Path(ws_bridge.__file__).resolve()
    assert Path(sys.prefix).resolve() in module.parents, f"imported from {module}"
    assert (module.parent / "py.typed").is_file()
    # The `fastapi` extra is optional: the base install must not pull FastAPI in.
    assert importlib.util.find_spec("fastapi") is None, "fastapi came without the extra"


def check_publish() -> None:
    seen: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"connectionCount": 2, "sent": 1, "gone": ["Vb7rKfZ-joECH_A="], "failed": []}
        )

    with httpx.Client(transport=httpx.MockTransport(gateway)) as http:
        bridge = WsBridge("http://127.0.0.1:3001/dev", token="t0ken", http_client=http)
        report = bridge.publish("post:42", {"type": "comment.created"})
    # An AsyncBroadcastReport only when the gateway answers 202.
    assert isinstance(report, DeliveryReport), report
    assert (report.connection_count, report.sent, report.gone) == (2, 1, ["Vb7rKfZ-joECH_A="])
    assert str(seen[0].url) == "http://127.0.0.1:3001/dev/broadcast/post%3A42", seen[0].url
    assert seen[0].headers["authorization"] == "Bearer t0ken"
    assert json.loads(seen[0].content) == {"type": "comment.created"}


def check_webhook() -> None:
    verifier = WebhookVerifier("whsec_" + "c2VjcmV0LWtleS1vZi1hLXRlc3Q=")
    body = json.dumps(
        {"type": "channel.occupied", "id": "evt_1", "timestamp": "t", "data": {"channel": "c"}}
    ).encode()
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": verifier.sign("evt_1", 1700000000, body),
    }
    event: WebhookEvent = verifier.verify(body, headers, now=1700000000)
    assert (event.type, event.data) == ("channel.occupied", {"channel": "c"})
    # The types are the package's own, not Any: mypy (warn_unused_ignores under --strict) fails
    # this check if the ignore below is not needed.
    wrong: int = event.type  # type: ignore[assignment]
    del wrong


if __name__ == "__main__":
    check_install(sys.argv[1])
    check_publish()
    check_webhook()
    print(f"consumer.py: ws_bridge {ws_bridge.__version__} from the wheel works, types included")
