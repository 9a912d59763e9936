// $disconnect: forget the connection. CommonJS and callback style, as older handlers are.
const { DynamoDBClient, DeleteItemCommand } = require("@aws-sdk/client-dynamodb");

const db = new DynamoDBClient({});

exports.handler = (event, context, callback) => {
  const connectionId = event.requestContext.connectionId;
  db.send(
    new DeleteItemCommand({
      TableName: process.env.TABLE_NAME,
      Key: { connectionId: { S: connectionId } },
    }),
  ).then(
    () => {
      console.log(`disconnected ${connectionId}`);
      callback(null, { statusCode: 200, body: "Disconnected." });
    },
    (error) => callback(error),
  );
};
