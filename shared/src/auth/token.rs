//! Verifying a token and turning it into the identity stored with the connection.

use super::jwks::{Jwks, JwksSource};
use crate::Error;
use aws_lambda_events::query_map::QueryMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// What a verified token says about its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `sub`.
    pub user_id: String,
    /// The claims named in `JWT_CLAIMS`, as strings.
    pub claims: BTreeMap<String, String>,
    /// The token's `channels` claim (exact names or `prefix:*`); `None` when it has none.
    pub channel_grants: Option<BTreeSet<String>>,
}

/// How tokens are checked; see the module documentation for the variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifierConfig {
    pub secret: Option<String>,
    pub jwks: Option<JwksSource>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway_secs: u64,
    pub stored_claims: Vec<String>,
}

pub const DEFAULT_LEEWAY_SECS: u64 = 5;

impl VerifierConfig {
    /// `None` when neither `JWT_SECRET` nor a JWKS is configured: authentication is off.
    pub fn from_env() -> Result<Option<Self>, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, Error> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let jwks = match (get("JWT_JWKS_URL"), get("JWT_JWKS_FILE")) {
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "set JWT_JWKS_URL or JWT_JWKS_FILE, not both".into(),
                ));
            }
            (Some(url), None) => Some(JwksSource::Url(url)),
            (None, Some(path)) => Some(JwksSource::File(path.into())),
            (None, None) => None,
        };
        let secret = get("JWT_SECRET");
        if secret.is_none() && jwks.is_none() {
            return Ok(None);
        }
        let leeway_secs = match get("JWT_LEEWAY_SECS") {
            None => DEFAULT_LEEWAY_SECS,
            Some(raw) => raw.trim().parse().map_err(|_| {
                Error::Config(format!(
                    "JWT_LEEWAY_SECS must be a number of seconds, got {raw:?}"
                ))
            })?,
        };
        Ok(Some(Self {
            secret,
            jwks,
            issuer: get("JWT_ISSUER"),
            audience: get("JWT_AUDIENCE"),
            leeway_secs,
            stored_claims: get("JWT_CLAIMS")
                .map(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|name| !name.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }))
    }
}

pub struct TokenVerifier {
    config: VerifierConfig,
    secret: Option<DecodingKey>,
    jwks: Option<Jwks>,
}

impl TokenVerifier {
    /// Builds the verifier and loads the JWKS once. A JWKS file that cannot be read stops
    /// start-up; a URL that cannot be fetched is retried on the first token that needs it, and
    /// until it can be, such tokens fail with [`Error::IdentityProviderUnavailable`].
    pub async fn new(config: VerifierConfig) -> Result<Self, Error> {
        let jwks = match &config.jwks {
            None => None,
            Some(source) => {
                let jwks = Jwks::new(source.clone())?;
                match (jwks.load().await, source) {
                    (Ok(_), _) => {}
                    (Err(err), JwksSource::File(_)) => return Err(err),
                    (Err(err), JwksSource::Url(_)) => {
                        tracing::error!(error = %err, "JWKS not loaded at start-up; will retry")
                    }
                }
                Some(jwks)
            }
        };
        Ok(Self {
            secret: config
                .secret
                .as_deref()
                .map(|s| DecodingKey::from_secret(s.as_bytes())),
            config,
            jwks,
        })
    }

    /// The verifier the environment configures, or `None` when authentication is off.
    pub async fn from_env() -> Result<Option<Self>, Error> {
        match VerifierConfig::from_env()? {
            Some(config) => Ok(Some(Self::new(config).await?)),
            None => Ok(None),
        }
    }

    /// Checks signature, `exp`/`nbf` (with leeway), `iss` and `aud` when configured, and `sub`.
    /// [`Error::Unauthorized`] for a token that is not valid; [`Error::IdentityProviderUnavailable`]
    /// when it cannot be checked now because the JWKS cannot be fetched.
    /// HS256 tokens are checked only with the secret and RS256/ES256 only with the JWKS, so a
    /// token cannot choose a weaker check than the key it names.
    pub async fn verify(&self, token: &str) -> Result<Identity, Error> {
        let unauthorized = |reason: String| Error::Unauthorized(reason);
        let header =
            decode_header(token).map_err(|err| unauthorized(format!("malformed token: {err}")))?;
        let key = match header.alg {
            Algorithm::HS256 => self
                .secret
                .clone()
                .ok_or_else(|| unauthorized("HS256 tokens are not accepted here".into()))?,
            Algorithm::RS256 | Algorithm::ES256 => {
                let jwks = self.jwks.as_ref().ok_or_else(|| {
                    unauthorized(format!(
                        "{:?} tokens need a JWKS, none is configured",
                        header.alg
                    ))
                })?;
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| unauthorized("token names no key (kid)".into()))?;
                let (key, algorithm) = jwks.key(kid).await?;
                if algorithm != header.alg {
                    return Err(unauthorized(format!(
                        "key {kid:?} is for {algorithm:?}, the token says {:?}",
                        header.alg
                    )));
                }
                key
            }
            other => return Err(unauthorized(format!("algorithm {other:?} is not accepted"))),
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.leeway_secs;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(issuer) = &self.config.issuer {
            validation.set_issuer(&[issuer]);
        }
        match &self.config.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        let claims = decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|err| unauthorized(format!("invalid token: {err}")))?
            .claims;
        self.identity(&claims)
    }

    fn identity(&self, claims: &Map<String, Value>) -> Result<Identity, Error> {
        let user_id = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|sub| !sub.is_empty())
            .ok_or_else(|| Error::Unauthorized("token's sub is not a non-empty string".into()))?
            .to_owned();
        let channel_grants = match claims.get("channels") {
            None => None,
            Some(Value::Array(grants)) => Some(
                grants
                    .iter()
                    .map(|grant| grant.as_str().map(str::to_owned))
                    .collect::<Option<BTreeSet<String>>>()
                    .ok_or_else(|| {
                        Error::Unauthorized("token's channels must be strings".into())
                    })?,
            ),
            Some(_) => {
                return Err(Error::Unauthorized(
                    "token's channels claim must be an array".into(),
                ));
            }
        };
        let claims = self
            .config
            .stored_claims
            .iter()
            .filter_map(|name| {
                let value = match claims.get(name)? {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                Some((name.clone(), value))
            })
            .collect();
        Ok(Identity {
            user_id,
            claims,
            channel_grants,
        })
    }
}

/// The token a client presented: `?token=` (browsers cannot set headers on a WebSocket) or
/// `Authorization: Bearer …`.
pub fn token_from_event(query: &QueryMap, headers: &http::HeaderMap) -> Option<String> {
    if let Some(token) = query.first("token").filter(|token| !token.is_empty()) {
        return Some(token.to_owned());
    }
    bearer_token(headers).map(str::to_owned)
}

/// The token of an `Authorization: Bearer <token>` header, for the WebSocket handshake and the
/// HTTP routes alike. The scheme is case-insensitive (RFC 7235 §2.1): `bearer` and `BEARER` are
/// `Bearer`.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An RS256 token naming key `k1`; its signature is never reached when the key set cannot
    /// be loaded.
    pub(crate) const RS256_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZGEiLCJleHAiOjQxMDI0NDQ4MDB9.c2ln";

    /// A verifier whose JWKS URL refuses connections: the identity provider is down.
    pub(crate) async fn verifier_with_jwks_down() -> TokenVerifier {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = closed.local_addr().expect("its address").port();
        drop(closed);
        TokenVerifier::new(VerifierConfig {
            jwks: Some(JwksSource::Url(format!(
                "http://127.0.0.1:{port}/jwks.json"
            ))),
            ..VerifierConfig::default()
        })
        .await
        .expect("a URL that cannot be fetched does not stop start-up")
    }

    #[tokio::test]
    async fn a_jwks_outage_is_not_an_invalid_token() {
        let verifier = verifier_with_jwks_down().await;
        let err = verifier.verify(RS256_TOKEN).await.unwrap_err();
        assert_eq!(err.kind(), "IdentityProviderUnavailable", "{err}");
        // Within the reload interval too: the keys are still unknown because of the outage.
        let err = verifier.verify(RS256_TOKEN).await.unwrap_err();
        assert_eq!(err.kind(), "IdentityProviderUnavailable", "{err}");
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let mut headers = http::HeaderMap::new();
        for value in ["Bearer abc", "bearer abc", "BEARER abc"] {
            headers.insert(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_static(value),
            );
            assert_eq!(
                token_from_event(&QueryMap::default(), &headers).as_deref(),
                Some("abc"),
                "{value}"
            );
        }
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Basic abc"),
        );
        assert_eq!(token_from_event(&QueryMap::default(), &headers), None);
    }
}

/// Property tests: whatever a client puts in the query, the headers or the token, nothing
/// panics and nothing is accepted that was not signed. `cases` keeps `cargo test` quick;
/// `PROPTEST_CASES=N` overrides it (proptest reads it by default) for a longer run.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    const SECRET: &str = "a-test-secret-of-some-length";
    /// `{"alg":"HS256","typ":"JWT"}`
    const HS256_HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
    /// `{"sub":"ada","exp":4102444800}`: a payload the verifier would accept if signed.
    const VALID_PAYLOAD: &str = "eyJzdWIiOiJhZGEiLCJleHAiOjQxMDI0NDQ4MDB9";

    fn verifier() -> (tokio::runtime::Runtime, TokenVerifier) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let verifier = runtime
            .block_on(TokenVerifier::new(VerifierConfig {
                secret: Some(SECRET.into()),
                ..VerifierConfig::default()
            }))
            .expect("an HS256 verifier");
        (runtime, verifier)
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9_-]{0,80}",
            "[A-Za-z0-9+/=_.-]{0,40}",
            any::<String>(),
        ]
    }

    fn headers(values: &[Vec<u8>]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for raw in values {
            // Bytes a header cannot carry never reach the handler: hyper refuses them.
            if let Ok(value) = http::HeaderValue::from_bytes(raw) {
                headers.append(http::header::AUTHORIZATION, value);
            }
        }
        headers
    }

    fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<Vec<u8>>(),
            "(?i:bearer)[ \t]{0,3}[ -~]{0,40}".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn bearer_token_takes_only_a_non_empty_bearer_credential(
            values in prop::collection::vec(header_bytes(), 0..3),
        ) {
            let headers = headers(&values);
            if let Some(token) = bearer_token(&headers) {
                prop_assert!(!token.is_empty());
                prop_assert_eq!(token, token.trim());
                let first = headers
                    .get(http::header::AUTHORIZATION)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default();
                prop_assert!(first.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer ")));
            }
        }

        #[test]
        fn token_from_event_prefers_a_non_empty_query_token(
            query in prop::collection::hash_map(
                prop_oneof![Just("token".to_owned()), any::<String>()],
                prop::collection::vec(any::<String>(), 0..3),
                0..4,
            ),
            values in prop::collection::vec(header_bytes(), 0..3),
        ) {
            let headers = headers(&values);
            let expected = query
                .get("token")
                .and_then(|values| values.first())
                .filter(|token| !token.is_empty())
                .cloned()
                .or_else(|| bearer_token(&headers).map(str::to_owned));
            let query = QueryMap::from(query.into_iter().collect::<HashMap<_, _>>());
            prop_assert_eq!(token_from_event(&query, &headers), expected);
        }
    }

    proptest! {
        // Each case runs an HMAC check: fewer cases than the pure parsers.
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn hs256_verify_refuses_arbitrary_strings(token in any::<String>()) {
            let (runtime, verifier) = verifier();
            let outcome = runtime.block_on(verifier.verify(&token));
            prop_assert!(matches!(outcome, Err(Error::Unauthorized(_))), "{:?}", outcome.map(|id| id.user_id));
        }

        #[test]
        fn hs256_verify_refuses_jwts_with_garbage_segments(
            header in prop_oneof![Just(HS256_HEADER.to_owned()), segment()],
            payload in prop_oneof![Just(VALID_PAYLOAD.to_owned()), segment()],
            signature in segment(),
        ) {
            let (runtime, verifier) = verifier();
            let token = format!("{header}.{payload}.{signature}");
            let outcome = runtime.block_on(verifier.verify(&token));
            prop_assert!(matches!(outcome, Err(Error::Unauthorized(_))), "{:?}", outcome.map(|id| id.user_id));
        }
    }
}
