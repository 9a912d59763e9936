// A handler written for Node.js 16 and older, whose runtime included the AWS SDK v2.
const AWS = require("aws-sdk");

exports.handler = async () => ({ region: AWS.config.region });
