// Calls to this API's management endpoint reach the local gateway, whatever URL the handler
// built: https://{apiId}.execute-api.{region}.amazonaws.com/{stage} (from the event's apiId
// and region), or https://{domainName}/{stage} (the event's domainName is the gateway's own
// host:port); so do calls to Lambda's endpoint, https://lambda.{region}.amazonaws.com (a
// function invoking another with an endpoint AWS_ENDPOINT_URL_LAMBDA did not set). Node's
// https.request is the transport of the AWS SDK for JavaScript v3 (NodeHttpHandler); such
// requests go over plain HTTP to LOCAL_GATEWAY_ENDPOINT instead.
"use strict";
const http = require("node:http");
const https = require("node:https");
const { syncBuiltinESMExports } = require("node:module");

const endpoint = process.env.LOCAL_GATEWAY_ENDPOINT && new URL(process.env.LOCAL_GATEWAY_ENDPOINT);
const apiHost = (process.env.LOCAL_GATEWAY_API_HOST || "").toLowerCase();
const lambdaHost = (process.env.LOCAL_GATEWAY_LAMBDA_HOST || "").toLowerCase();

function redirected(host) {
  if (!endpoint || !host) return false;
  const name = String(host).toLowerCase();
  return (
    name === apiHost ||
    (lambdaHost !== "" && name === lambdaHost) ||
    name === endpoint.host ||
    (name.split(":")[0] === endpoint.hostname && name.endsWith(`:${endpoint.port}`))
  );
}

function wrap(original) {
  return function request(input, options, callback) {
    let target = input;
    let extra = options;
    if (typeof input === "string" || input instanceof URL) {
      const url = new URL(input);
      target = {
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
      };
      if (typeof options === "function") {
        callback = options;
        extra = undefined;
      }
    } else if (typeof options === "function") {
      callback = options;
      extra = undefined;
    }
    const merged = { ...target, ...(extra || {}) };
    const host = merged.hostname || merged.host;
    const withPort = merged.port && String(merged.port) !== "443" ? `${host}:${merged.port}` : host;
    if (!redirected(host) && !redirected(withPort)) {
      return original.call(this, input, options, callback);
    }
    const local = {
      ...merged,
      protocol: "http:",
      hostname: endpoint.hostname,
      port: endpoint.port,
      agent: undefined,
    };
    delete local.host;
    return tagged(local, callback);
  };
}

// Tells the gateway which process calls it: one that is not serving an invocation (work left
// running after the handler returned) gets a warning. The SDK's requests to the gateway's own
// address (AWS_ENDPOINT_URL_*) go through http.request, as do the redirected ones.
const httpRequest = http.request;
function tagged(input, options, callback) {
  const withPid = (headers) => ({ ...(headers || {}), "x-local-gateway-pid": String(process.pid) });
  if (typeof input === "object" && !(input instanceof URL)) {
    const host = input.hostname || input.host;
    const withPort = input.port ? `${host}:${input.port}` : host;
    if (redirected(withPort)) {
      return httpRequest.call(this, { ...input, headers: withPid(input.headers) }, options, callback);
    }
  }
  return httpRequest.call(this, input, options, callback);
}

if (endpoint) {
  http.request = tagged;
  https.request = wrap(https.request);
  https.get = function get(input, options, callback) {
    const request = https.request(input, options, callback);
    request.end();
    return request;
  };
  syncBuiltinESMExports();
}
