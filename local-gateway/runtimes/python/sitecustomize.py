"""Loaded by Python before a handler (local-gateway puts this folder on PYTHONPATH).

boto3 calls to this API's management endpoint reach the local gateway, whatever URL the
handler built: https://{apiId}.execute-api.{region}.amazonaws.com/{stage}, or
https://{domainName}/{stage} (the event's domainName is the gateway's own host:port); so do
calls to Lambda's endpoint (https://lambda.{region}.amazonaws.com: a function invoking another,
with an endpoint that AWS_ENDPOINT_URL_LAMBDA did not set). Such requests go over plain HTTP to
LOCAL_GATEWAY_ENDPOINT instead; nothing else changes.
"""

import os
import sys
from urllib.parse import urlsplit, urlunsplit

# awslambdaric and boto3, installed by local-gateway into its cache when this Python lacks them:
# after the interpreter's own packages, as Lambda's runtime packages come after the function's.
_PACKAGES = os.environ.get("LOCAL_GATEWAY_PYTHON_PACKAGES")
if _PACKAGES and _PACKAGES not in sys.path:
    sys.path.append(_PACKAGES)

_ENDPOINT = urlsplit(os.environ.get("LOCAL_GATEWAY_ENDPOINT", ""))
_API_HOST = os.environ.get("LOCAL_GATEWAY_API_HOST", "").lower()
_LAMBDA_HOST = os.environ.get("LOCAL_GATEWAY_LAMBDA_HOST", "").lower()
_HOSTS = {host for host in (_API_HOST, _LAMBDA_HOST, _ENDPOINT.netloc) if host}


def _rewrite(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.lower()
    if parts.scheme == "https" and host in _HOSTS:
        return urlunsplit(
            ("http", _ENDPOINT.netloc, parts.path, parts.query, parts.fragment)
        )
    return url


def _install() -> None:
    try:
        from botocore import httpsession
    except ImportError:
        return
    original = httpsession.URLLib3Session.send

    def send(self, request):  # type: ignore[no-untyped-def]
        request.url = _rewrite(request.url)
        if urlsplit(request.url).netloc.lower() == _ENDPOINT.netloc.lower():
            # Tells the gateway which process calls: one that is not serving an invocation
            # (work left running after the handler returned) gets a warning.
            request.headers["x-local-gateway-pid"] = str(os.getpid())
        return original(self, request)

    httpsession.URLLib3Session.send = send  # type: ignore[method-assign]


if _ENDPOINT.netloc:
    _install()
