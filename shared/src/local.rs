//! Settings for local endpoints (the local gateway's `@connections`, DynamoDB Local).

use aws_sdk_apigatewaymanagement::config::{Credentials, Region};

/// Local endpoints check no signatures, but the SDK must sign with something. One fixed identity
/// everywhere also matters for DynamoDB Local, which keeps a database per access key.
pub fn credentials() -> Credentials {
    Credentials::new("local", "local", None, None, "ws-bridge-local")
}

pub fn region() -> Region {
    Region::new("us-east-1")
}
