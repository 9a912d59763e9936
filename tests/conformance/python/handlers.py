"""The conformance suite's handlers in Python (see ../template.yaml); node/handlers.mjs does the
same in Node.js."""

import json
import os
import time
from typing import Any

import boto3

# What each connection's $connect event carried, kept by this warm process.
CONNECT_EVENTS: dict[str, Any] = {}


def connect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = event["requestContext"]
    if request["routeKey"] == "connected":
        return {
            "statusCode": 200,
            "body": json.dumps(CONNECT_EVENTS.get(request["connectionId"])),
        }
    query = event.get("queryStringParameters") or {}
    if query.get("throw"):
        raise RuntimeError("connect failed on purpose")
    CONNECT_EVENTS[request["connectionId"]] = {
        "routeKey": request["routeKey"],
        "authorizer": request.get("authorizer"),
    }
    return {"statusCode": int(query.get("status", 200))}


def message(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = event["requestContext"]
    if request["routeKey"] == "fail":
        raise RuntimeError("message failed on purpose")
    if request["routeKey"] == "push":
        endpoint = f"https://{request['domainName']}/{request['stage']}"
        management = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
        management.post_to_connection(
            ConnectionId=request["connectionId"], Data=b'{"pushed":"python"}'
        )
        return {"statusCode": 200}
    body = {
        "routeKey": request["routeKey"],
        "body": json.loads(event["body"]),
        "authorizer": request.get("authorizer"),
    }
    return {"statusCode": 200, "body": json.dumps(body)}


def authorize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = (event.get("queryStringParameters") or {}).get("token")
    if token == "unauthorized":
        # API Gateway reads the message: "Unauthorized" is a 401, as authorizers conventionally raise it.
        raise Exception("Unauthorized")  # noqa: TRY002
    if token == "throw":
        raise RuntimeError("the authorizer failed")
    effect = "Allow" if token == "allow" else "Deny"
    return {
        "principalId": "alice",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": effect,
                    "Resource": event["methodArn"],
                }
            ],
        },
        "context": {"user": "alice", "runtime": "python"},
    }


def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The pid tells a restarted process from the one before."""
    if event["requestContext"]["routeKey"] == "crash":
        os._exit(3)
    if not json.loads(event["body"]).get("quick"):
        time.sleep(3)
    return {"statusCode": 200, "body": json.dumps({"pid": os.getpid()})}
