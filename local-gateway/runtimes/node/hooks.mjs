// Module resolution hook: a bare specifier the handler's own folders cannot resolve (such as
// "@aws-sdk/client-dynamodb") is resolved again from local-gateway's node_modules, the way
// Lambda's Node.js runtime provides the AWS SDK for JavaScript v3.
import path from "node:path";
import { pathToFileURL } from "node:url";

let fallbackParent;

export async function initialize({ nodeModules }) {
  fallbackParent = pathToFileURL(path.join(nodeModules, "..", "resolve-from-here.js")).href;
}

const isBare = (specifier) => !/^(\.|\/|file:|node:|data:)/.test(specifier);

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code === "ERR_MODULE_NOT_FOUND" && fallbackParent && isBare(specifier)) {
      return nextResolve(specifier, { ...context, parentURL: fallbackParent });
    }
    throw error;
  }
}
