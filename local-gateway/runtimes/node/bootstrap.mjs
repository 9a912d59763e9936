// The Node.js runtime of local-gateway: the Lambda Runtime API loop, as AWS's runtime runs a
// handler: `_HANDLER` is `path/to/module.export`, the module is found under LAMBDA_TASK_ROOT
// (.js, .mjs or .cjs; ES module or CommonJS), and the handler may be async or take a callback.
import { register } from "node:module";
import { existsSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;

if (process.env.LOCAL_GATEWAY_NODE_MODULES) {
  // Bare imports a handler's own node_modules lacks (the AWS SDK) resolve from ours.
  register("./hooks.mjs", import.meta.url, {
    data: { nodeModules: process.env.LOCAL_GATEWAY_NODE_MODULES },
  });
}

function errorBody(error) {
  const isError = error instanceof Error;
  return {
    errorType: isError ? error.name : typeof error,
    errorMessage: isError ? error.message : String(error),
    trace: isError && error.stack ? error.stack.split("\n") : [],
  };
}

async function post(url, body, headers = {}) {
  const response = await fetch(url, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
  });
  await response.arrayBuffer();
}

// The wait for the next invocation has no time limit: fetch's 300 s headers timeout would fire
// the moment a process frozen between invocations (as Lambda freezes it) is thawed, losing the
// invocation it was just given.
function nextInvocation() {
  return new Promise((resolve, reject) => {
    const request = http.get(`${api}/invocation/next`, { agent: false }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () =>
        resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }),
      );
    });
    request.on("error", reject);
  });
}

// Lambda's Node.js 18+ runtimes have no AWS SDK v2: a handler that needs it fails there as here.
const SDK_V2_HINT =
  "local-gateway: 'aws-sdk' (the AWS SDK for JavaScript v2) is not part of Lambda's Node.js 18+ runtimes, so this fails on AWS too: use the v3 clients (@aws-sdk/client-*), or ship aws-sdk in the function's own node_modules.";

function isMissingModule(error, name) {
  return (
    (error?.code === "ERR_MODULE_NOT_FOUND" || error?.code === "MODULE_NOT_FOUND") &&
    (name === undefined || String(error.message).includes(`'${name}'`))
  );
}

async function initError(errorType, error) {
  const body = { ...errorBody(error), errorType };
  console.error(`${errorType}: ${body.errorMessage}`);
  await post(`${api}/init/error`, body, { "Lambda-Runtime-Function-Error-Type": errorType });
  process.exit(1);
}

async function loadHandler() {
  const root = process.env.LAMBDA_TASK_ROOT ?? process.cwd();
  const spec = process.env._HANDLER ?? "";
  const slash = spec.lastIndexOf("/");
  const dot = spec.indexOf(".", slash + 1);
  if (dot < 0) {
    return initError("Runtime.MalformedHandlerName", new Error(`Bad handler ${spec}`));
  }
  const modulePath = path.resolve(root, spec.slice(0, dot));
  const exportPath = spec.slice(dot + 1).split(".");
  const file = [".js", ".mjs", ".cjs"].map((ext) => modulePath + ext).find(existsSync);
  if (!file) {
    return initError(
      "Runtime.ImportModuleError",
      new Error(`Cannot find module '${spec.slice(0, dot)}' in ${root}`),
    );
  }
  let loaded;
  try {
    loaded = await import(pathToFileURL(file).href);
  } catch (error) {
    if (isMissingModule(error, "aws-sdk")) console.error(SDK_V2_HINT);
    const errorType = isMissingModule(error)
      ? "Runtime.ImportModuleError"
      : "Runtime.UserCodeSyntaxError";
    return initError(errorType, error);
  }
  let handler = exportPath.reduce((value, key) => value?.[key], loaded);
  if (typeof handler !== "function") {
    handler = exportPath.reduce((value, key) => value?.[key], loaded.default);
  }
  if (typeof handler !== "function") {
    return initError("Runtime.HandlerNotFound", new Error(`${spec} is undefined or not exported`));
  }
  return handler;
}

function invoke(handler, event, context) {
  if (handler.length >= 3) {
    // Callback style: the first of the callback or a returned promise settles it.
    return new Promise((resolve, reject) => {
      const callback = (error, result) => (error ? reject(error) : resolve(result));
      context.done = callback;
      context.succeed = (result) => resolve(result);
      context.fail = (error) => reject(error);
      const returned = handler(event, context, callback);
      if (returned && typeof returned.then === "function") returned.then(resolve, reject);
    });
  }
  return Promise.resolve().then(() => handler(event, context));
}

const handler = await loadHandler();
const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME;
for (;;) {
  const next = await nextInvocation();
  if (next.status !== 200) process.exit(0);
  const requestId = next.headers["lambda-runtime-aws-request-id"];
  const deadline = Number(next.headers["lambda-runtime-deadline-ms"]);
  const event = JSON.parse(next.body.toString("utf8"));
  const context = {
    awsRequestId: requestId,
    functionName,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: next.headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  try {
    const result = await invoke(handler, event, context);
    await post(`${api}/invocation/${requestId}/response`, result ?? null);
  } catch (error) {
    const body = errorBody(error);
    console.error(`Invoke Error\t${JSON.stringify(body)}`);
    if (isMissingModule(error, "aws-sdk")) console.error(SDK_V2_HINT);
    await post(`${api}/invocation/${requestId}/error`, body, {
      "Lambda-Runtime-Function-Error-Type": body.errorType,
    });
  }
}
