// whoami (two-way): answers the sender with its connection id and the function's context.
export const handler = async (event, context) => ({
  statusCode: 200,
  body: JSON.stringify({
    connectionId: event.requestContext.connectionId,
    routeKey: event.requestContext.routeKey,
    functionName: context.functionName,
    remainingMs: context.getRemainingTimeInMillis(),
  }),
});
