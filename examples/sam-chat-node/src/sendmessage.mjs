// sendmessage: post `data` to every connection; a connection that is gone (410) is forgotten.
import {
  ApiGatewayManagementApiClient,
  GoneException,
  PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";

const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export const handler = async (event) => {
  const { apiId, stage, connectionId: sender } = event.requestContext;
  // The endpoint as a deployed handler builds it: this API's execute-api URL.
  const management = new ApiGatewayManagementApiClient({
    endpoint: `https://${apiId}.execute-api.${process.env.AWS_REGION}.amazonaws.com/${stage}`,
  });
  const message = JSON.parse(event.body).data;
  if (message === "boom") throw new Error("asked to fail");
  const { Items = [] } = await db.send(new ScanCommand({ TableName: process.env.TABLE_NAME }));
  await Promise.all(
    Items.map(async ({ connectionId }) => {
      try {
        await management.send(
          new PostToConnectionCommand({
            ConnectionId: connectionId,
            Data: JSON.stringify({ from: sender, data: message }),
          }),
        );
      } catch (error) {
        if (!(error instanceof GoneException)) throw error;
        console.log(`stale connection ${connectionId}`);
        await db.send(
          new DeleteCommand({ TableName: process.env.TABLE_NAME, Key: { connectionId } }),
        );
      }
    }),
  );
  return { statusCode: 200, body: "Data sent." };
};
