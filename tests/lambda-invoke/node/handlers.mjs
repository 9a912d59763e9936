// Functions that invoke functions, in Node.js (see ../template.yaml); python/handlers.py does
// the same in Python. The clients are made as deployed code makes them: no endpoint, no
// credentials.
import {
  ApiGatewayManagementApiClient,
  GoneException,
  PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";
import { InvokeCommand, LambdaClient, ResourceNotFoundException } from "@aws-sdk/client-lambda";

const lambda = new LambdaClient({});
const json = (value) => new TextEncoder().encode(JSON.stringify(value));
const parse = (payload) => JSON.parse(new TextDecoder().decode(payload));

export const connect = async (event) => {
  // Nothing can be pushed to a connection during its $connect: a greeter invoked
  // asynchronously does it once the connection is open (AWS's recommended pattern).
  const { connectionId, domainName, stage } = event.requestContext;
  await lambda.send(
    new InvokeCommand({
      FunctionName: process.env.GREETER_FUNCTION,
      InvocationType: "Event",
      Payload: json({ connectionId, endpoint: `https://${domainName}/${stage}` }),
    }),
  );
  return { statusCode: 200 };
};

export const greet = async (event) => {
  const management = new ApiGatewayManagementApiClient({ endpoint: event.endpoint });
  const greeting = JSON.stringify({ greeting: "welcome", runtime: "node" });
  // The invocation can run before API Gateway has finished opening the connection: it is
  // Gone until then.
  for (let attempt = 0; attempt < 50; attempt += 1) {
    try {
      await management.send(
        new PostToConnectionCommand({ ConnectionId: event.connectionId, Data: greeting }),
      );
      return;
    } catch (error) {
      if (!(error instanceof GoneException)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error("the connection never opened");
};

export const add = async (event, context) => ({
  sum: event.a + event.b,
  by: context.functionName,
});

export const fail = async () => {
  throw new TypeError("adding failed on purpose");
};

export const message = async (event) => {
  const body = JSON.parse(event.body);
  let reply;
  if (body.do === "chain") {
    // By ARN, synchronously.
    const answer = await lambda.send(
      new InvokeCommand({ FunctionName: process.env.ADDER_ARN, Payload: json({ a: 2, b: 3 }) }),
    );
    reply = { result: parse(answer.Payload) };
  } else if (body.do === "public-endpoint") {
    // An endpoint the code names itself: the runtime sends it to the gateway too.
    const client = new LambdaClient({ endpoint: "https://lambda.us-east-1.amazonaws.com" });
    const answer = await client.send(
      new InvokeCommand({ FunctionName: "AdderFunction", Payload: json({ a: 1, b: 1 }) }),
    );
    reply = { result: parse(answer.Payload) };
  } else if (body.do === "fail") {
    const answer = await lambda.send(
      new InvokeCommand({ FunctionName: "FailingFunction", Payload: json({}) }),
    );
    reply = { functionError: answer.FunctionError, payload: parse(answer.Payload) };
  } else if (body.do === "missing") {
    try {
      await lambda.send(new InvokeCommand({ FunctionName: "no-such-function", Payload: json({}) }));
      reply = { error: null };
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
      reply = { error: error.name, message: error.message };
    }
  } else if (body.do === "fire-and-forget") {
    // Not awaited: on AWS it is frozen with the environment once the handler returns.
    const { domainName, stage, connectionId } = event.requestContext;
    const management = new ApiGatewayManagementApiClient({
      endpoint: `https://${domainName}/${stage}`,
    });
    const late = JSON.stringify({ late: "node" });
    setTimeout(() => {
      management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: late }));
    }, 300);
    reply = { returned: true };
  } else {
    reply = { unknown: body.do };
  }
  return { statusCode: 200, body: JSON.stringify(reply) };
};

export const slow = async (event) => {
  const start = Date.now() / 1000;
  await new Promise((resolve) => setTimeout(resolve, (event.seconds ?? 1) * 1000));
  return { pid: process.pid, start, end: Date.now() / 1000 };
};
