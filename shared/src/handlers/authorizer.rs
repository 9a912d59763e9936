//! The `ws-authorizer` REQUEST authorizer: the alternative to checking tokens in `$connect`.
//! It verifies the same tokens and answers an IAM policy allowing the connection, with the
//! user as `principalId` and the token's channel grants and chosen claims in the context, which
//! API Gateway hands to `$connect` (and every later event) as `requestContext.authorizer`.
//! A missing or invalid token fails with `Unauthorized`, which API Gateway turns into 401; an
//! event without a `methodArn` fails with `MalformedEvent`, and a token that cannot be checked
//! because the JWKS cannot be fetched with `IdentityProviderUnavailable` (API Gateway answers 500
//! to both: the failure is ours, not the client's).
//!
//! Given a store, a 401 is also recorded under the handshake's `?ws_bridge_attempt=`, as
//! `$connect` records its refusals, for a browser to read (see [`super::handshakes`]).

use crate::auth::{TokenVerifier, token_from_event};
use crate::{ConnectionStore, Error};
use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use serde_json::Value;

pub async fn handle(
    verifier: &TokenVerifier,
    store: Option<&dyn ConnectionStore>,
    event: ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> Result<ApiGatewayCustomAuthorizerResponse, Error> {
    let attempt_id = event
        .query_string_parameters
        .first(super::handshakes::ATTEMPT_PARAM)
        .map(str::to_owned);
    let answer = authorize(verifier, event).await;
    if let (Err(Error::Unauthorized(_)), Some(store)) = (&answer, store) {
        super::handshakes::record_refusal(store, attempt_id.as_deref(), 401).await;
    }
    answer
}

async fn authorize(
    verifier: &TokenVerifier,
    event: ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> Result<ApiGatewayCustomAuthorizerResponse, Error> {
    // The policy names the method it allows; a policy on `*` would allow every route of every
    // stage, so an event without its methodArn is refused rather than guessed at.
    let Some(method_arn) = event.method_arn.clone().filter(|arn| !arn.is_empty()) else {
        tracing::error!("authorizer: the event has no methodArn");
        return Err(Error::MalformedEvent("the event has no methodArn".into()));
    };
    let Some(token) = token_from_event(&event.query_string_parameters, &event.headers) else {
        tracing::info!("authorizer: no token");
        return Err(Error::Unauthorized("no token".into()));
    };
    let identity = verifier.verify(&token).await.inspect_err(|err| match err {
        Error::Unauthorized(_) => tracing::info!(reason = %err, "authorizer: token refused"),
        _ => tracing::error!(error = %err, "authorizer: cannot verify the token"),
    })?;
    let context = crate::auth::context::encode(&identity);
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".into()];
    statement.effect = IamPolicyEffect::Allow;
    statement.resource = vec![method_arn];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::VerifierConfig;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    async fn verifier() -> TokenVerifier {
        TokenVerifier::new(VerifierConfig {
            secret: Some("authorizer-secret".into()),
            ..VerifierConfig::default()
        })
        .await
        .expect("a verifier")
    }

    fn event(
        token: &str,
        method_arn: Option<&str>,
    ) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
        let mut event = json!({
            "type": "REQUEST",
            "queryStringParameters": {"token": token},
            "requestContext": {
                "routeKey": "$connect",
                "eventType": "CONNECT",
                "apiId": "k3x9q2m7ab",
                "stage": "dev",
                "requestTimeEpoch": 1_721_812_502_117_i64,
                "identity": {"sourceIp": "198.51.100.23"}
            },
        });
        if let Some(arn) = method_arn {
            event["methodArn"] = json!(arn);
        }
        serde_json::from_value(event).expect("an authorizer event")
    }

    fn valid_token() -> String {
        let claims = json!({"sub": "ada", "exp": crate::time::now_epoch_ms() / 1000 + 600});
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(b"authorizer-secret"),
        )
        .expect("a token")
    }

    #[tokio::test]
    async fn a_valid_token_is_allowed_on_the_method_arn() {
        let arn = "arn:aws:execute-api:eu-west-1:123456789012:k3x9q2m7ab/dev/$connect";
        let response = handle(&verifier().await, None, event(&valid_token(), Some(arn)))
            .await
            .expect("allowed");
        assert_eq!(response.principal_id.as_deref(), Some("ada"));
        assert_eq!(response.policy_document.statement[0].resource, vec![arn]);
    }

    #[tokio::test]
    async fn an_event_without_method_arn_is_malformed_not_allowed_on_everything() {
        let refused = handle(&verifier().await, None, event(&valid_token(), None)).await;
        match refused {
            Err(err) => assert_eq!(err.kind(), "MalformedEvent", "{err}"),
            Ok(response) => panic!(
                "allowed on {:?} without a methodArn",
                response.policy_document.statement[0].resource
            ),
        }
    }

    #[tokio::test]
    async fn a_refused_token_is_recorded_under_the_attempt_id() {
        let store = crate::InMemoryStore::new();
        let mut refused = event(
            "not.a.token",
            Some("arn:aws:execute-api:eu-west-1:123456789012:k3x9q2m7ab/dev/$connect"),
        );
        refused.query_string_parameters = serde_json::from_value(json!({
            "token": "not.a.token",
            "ws_bridge_attempt": "authorizer-attempt-01"
        }))
        .expect("a query map");
        let err = handle(&verifier().await, Some(&store), refused)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "Unauthorized", "{err}");
        assert_eq!(
            store
                .refused_handshake("authorizer-attempt-01")
                .await
                .expect("read"),
            Some(401)
        );
    }

    #[tokio::test]
    async fn a_jwks_outage_is_the_authorizers_error_not_unauthorized() {
        let verifier = crate::auth::token::tests::verifier_with_jwks_down().await;
        let event = event(
            crate::auth::token::tests::RS256_TOKEN,
            Some("arn:aws:execute-api:eu-west-1:123456789012:k3x9q2m7ab/dev/$connect"),
        );
        let err = handle(&verifier, None, event).await.unwrap_err();
        let diagnostic = lambda_runtime::Diagnostic::from(err);
        assert_ne!(
            diagnostic.error_message, "Unauthorized",
            "API Gateway would answer 401 for an outage"
        );
    }
}
