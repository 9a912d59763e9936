//! The `ws-authorizer` REQUEST authorizer: the alternative to checking tokens in `$connect`.
//! It verifies the same tokens and answers an IAM policy allowing the connection, with the
//! user as `principalId` and the token's channel grants and chosen claims in the context, which
//! API Gateway hands to `$connect` (and every later event) as `requestContext.authorizer`.
//! A missing or invalid token fails with `Unauthorized`, which API Gateway turns into 401.

use super::connect::{CONTEXT_CHANNELS, CONTEXT_CLAIM_PREFIX};
use crate::Error;
use crate::auth::{TokenVerifier, token_from_event};
use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use serde_json::{Map, Value};

pub async fn handle(
    verifier: &TokenVerifier,
    event: ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> Result<ApiGatewayCustomAuthorizerResponse, Error> {
    let Some(token) = token_from_event(&event.query_string_parameters, &event.headers) else {
        tracing::info!("authorizer: no token");
        return Err(Error::Unauthorized("no token".into()));
    };
    let identity = verifier.verify(&token).await.inspect_err(|err| {
        tracing::info!(reason = %err, "authorizer: token refused");
    })?;
    let mut context = Map::new();
    if let Some(grants) = &identity.channel_grants {
        let joined = grants.iter().cloned().collect::<Vec<_>>().join(",");
        context.insert(CONTEXT_CHANNELS.into(), Value::String(joined));
    }
    for (name, value) in &identity.claims {
        context.insert(
            format!("{CONTEXT_CLAIM_PREFIX}{name}"),
            Value::String(value.clone()),
        );
    }
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".into()];
    statement.effect = IamPolicyEffect::Allow;
    statement.resource = vec![event.method_arn.unwrap_or_else(|| "*".into())];
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".into());
    policy.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    tracing::info!(user = %identity.user_id, "authorizer: allowed");
    response.principal_id = Some(identity.user_id);
    response.policy_document = policy;
    response.context = Value::Object(context);
    Ok(response)
}
