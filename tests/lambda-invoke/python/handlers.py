"""Functions that invoke functions, in Python (see ../template.yaml); node/handlers.mjs does the
same in Node.js. The clients are made as deployed code makes them: no endpoint, no credentials."""

import json
import os
import threading
import time
from typing import Any

import boto3
from botocore.exceptions import ClientError

lambda_client = boto3.client("lambda")


def connect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Nothing can be pushed to a connection during its $connect: a greeter invoked
    # asynchronously does it once the connection is open (AWS's recommended pattern).
    request = event["requestContext"]
    lambda_client.invoke(
        FunctionName=os.environ["GREETER_FUNCTION"],
        InvocationType="Event",
        Payload=json.dumps(
            {
                "connectionId": request["connectionId"],
                "endpoint": f"https://{request['domainName']}/{request['stage']}",
            }
        ),
    )
    return {"statusCode": 200}


def greet(event: dict[str, Any], context: Any) -> None:
    management = boto3.client("apigatewaymanagementapi", endpoint_url=event["endpoint"])
    greeting = json.dumps({"greeting": "welcome", "runtime": "python"}).encode()
    # The invocation can run before API Gateway has finished opening the connection: it is
    # Gone until then.
    for _ in range(50):
        try:
            management.post_to_connection(ConnectionId=event["connectionId"], Data=greeting)
            return
        except ClientError as error:
            if error.response["Error"]["Code"] != "GoneException":
                raise
            time.sleep(0.1)
    raise RuntimeError("the connection never opened")


def add(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"sum": event["a"] + event["b"], "by": context.function_name}


def fail(event: dict[str, Any], context: Any) -> None:
    raise ValueError("adding failed on purpose")


def message(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = json.loads(event["body"])
    kind = body.get("do")
    if kind == "chain":
        # By ARN, synchronously.
        answer = lambda_client.invoke(
            FunctionName=os.environ["ADDER_ARN"], Payload=json.dumps({"a": 2, "b": 3})
        )
        reply: dict[str, Any] = {"result": json.loads(answer["Payload"].read())}
    elif kind == "public-endpoint":
        # An endpoint the code names itself: the runtime sends it to the gateway too.
        client = boto3.client("lambda", endpoint_url="https://lambda.us-east-1.amazonaws.com")
        answer = client.invoke(FunctionName="AdderFunction", Payload=json.dumps({"a": 1, "b": 1}))
        reply = {"result": json.loads(answer["Payload"].read())}
    elif kind == "fail":
        answer = lambda_client.invoke(FunctionName="FailingFunction", Payload=b"{}")
        reply = {
            "functionError": answer.get("FunctionError"),
            "payload": json.loads(answer["Payload"].read()),
        }
    elif kind == "missing":
        try:
            lambda_client.invoke(FunctionName="no-such-function", Payload=b"{}")
            reply = {"error": None}
        except lambda_client.exceptions.ResourceNotFoundException as error:
            reply = {"error": error.response["Error"]["Code"], "message": str(error)}
    elif kind == "fire-and-forget":
        # Not waited for: on AWS it is frozen with the environment once the handler returns.
        request = event["requestContext"]
        management = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=f"https://{request['domainName']}/{request['stage']}",
        )
        threading.Timer(
            0.3,
            management.post_to_connection,
            kwargs={"ConnectionId": request["connectionId"], "Data": b'{"late": "python"}'},
        ).start()
        reply = {"returned": True}
    elif kind == "runtime-dir":
        reply = {"runtimeDir": os.environ["LAMBDA_RUNTIME_DIR"]}
    else:
        reply = {"unknown": kind}
    return {"statusCode": 200, "body": json.dumps(reply)}


def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    start = time.time()
    time.sleep(event.get("seconds", 1))
    return {"pid": os.getpid(), "start": start, "end": time.time()}
