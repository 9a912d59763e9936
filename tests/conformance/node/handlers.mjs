// The conformance suite's handlers in Node.js (see ../template.yaml); python/handlers.py does
// the same in Python.
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";

// What each connection's $connect event carried, kept by this warm process.
const connectEvents = new Map();

export const connect = async (event) => {
  const { connectionId, routeKey, authorizer } = event.requestContext;
  if (routeKey === "connected") {
    return { statusCode: 200, body: JSON.stringify(connectEvents.get(connectionId) ?? null) };
  }
  const query = event.queryStringParameters ?? {};
  if (query.throw) throw new Error("connect failed on purpose");
  connectEvents.set(connectionId, { routeKey, authorizer });
  return { statusCode: Number(query.status ?? 200) };
};

export const message = async (event) => {
  const { routeKey, authorizer, domainName, stage, connectionId } = event.requestContext;
  if (routeKey === "fail") throw new Error("message failed on purpose");
  if (routeKey === "push") {
    const management = new ApiGatewayManagementApiClient({
      endpoint: `https://${domainName}/${stage}`,
    });
    await management.send(
      new PostToConnectionCommand({ ConnectionId: connectionId, Data: '{"pushed":"node"}' }),
    );
    return { statusCode: 200 };
  }
  return {
    statusCode: 200,
    body: JSON.stringify({ routeKey, body: JSON.parse(event.body), authorizer }),
  };
};

export const authorize = async (event) => {
  const token = event.queryStringParameters?.token;
  if (token === "unauthorized") throw new Error("Unauthorized");
  if (token === "throw") throw new Error("the authorizer failed");
  return {
    principalId: "alice",
    policyDocument: {
      Version: "2012-10-17",
      Statement: [
        {
          Action: "execute-api:Invoke",
          Effect: token === "allow" ? "Allow" : "Deny",
          Resource: event.methodArn,
        },
      ],
    },
    context: { user: "alice", runtime: "node" },
  };
};

// The pid tells a restarted process from the one before.
export const slow = async (event) => {
  const { routeKey } = event.requestContext;
  if (routeKey === "crash") process.exit(3);
  if (!JSON.parse(event.body).quick) await new Promise((resolve) => setTimeout(resolve, 3000));
  return { statusCode: 200, body: JSON.stringify({ pid: process.pid }) };
};
