"""A small chat on an API Gateway WebSocket API, as a deployed Python handler writes it: boto3,
a DynamoDB table of connections, and the management endpoint built from the event."""

import json
import os
from typing import Any

import boto3

TABLE = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def on_connect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    connection_id = event["requestContext"]["connectionId"]
    TABLE.put_item(Item={"connectionId": connection_id})
    print(f"connected {connection_id}")
    return {"statusCode": 200, "body": "Connected."}


def on_disconnect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    connection_id = event["requestContext"]["connectionId"]
    TABLE.delete_item(Key={"connectionId": connection_id})
    print(f"disconnected {connection_id}")
    return {"statusCode": 200, "body": "Disconnected."}


def send_message(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = event["requestContext"]
    endpoint = (
        f"https://{request['apiId']}.execute-api.{os.environ['AWS_REGION']}"
        f".amazonaws.com/{request['stage']}"
    )
    management = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    data = json.loads(event["body"])["data"]
    if data == "boom":
        raise RuntimeError("asked to fail")
    payload = json.dumps({"from": request["connectionId"], "data": data}).encode()
    for item in TABLE.scan()["Items"]:
        try:
            management.post_to_connection(
                ConnectionId=item["connectionId"], Data=payload
            )
        except management.exceptions.GoneException:
            print(f"stale connection {item['connectionId']}")
            TABLE.delete_item(Key={"connectionId": item["connectionId"]})
    return {"statusCode": 200, "body": "Data sent."}


def who_am_i(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "body": json.dumps(
            {
                "connectionId": event["requestContext"]["connectionId"],
                "routeKey": event["requestContext"]["routeKey"],
                "functionName": context.function_name,
                "remainingMs": context.get_remaining_time_in_millis(),
            }
        ),
    }
