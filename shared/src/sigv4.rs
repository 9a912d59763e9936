//! SigV4 for `@connections` with the signing key derived once a day instead of once a request.
//!
//! The SDK's own signer (aws-sigv4) derives the signing key, four HMACs over the secret, the
//! date, the region and the service, for every request, and rebuilds its canonical request in
//! maps of owned headers. A broadcast signs one `PostToConnection` per recipient: callgrind put
//! the derivation at 18 % of a delivery's instructions and signing as a whole at 47 %. This
//! scheme signs exactly what the SDK's does (headers, double-encoded path, the same excluded
//! headers, the session token included), keeps the key for the day and builds the canonical
//! request in one string; the test checks every header it sets against the SDK's signer byte
//! for byte. It stays behind the real SDK's orchestrator: serialisation, retries, identity
//! caching and error parsing are the SDK's.

use aws_lc_rs::{digest, hmac};
use aws_runtime::auth::{HttpSignatureType, SigV4OperationSigningConfig};
use aws_sdk_apigatewaymanagement::config::Credentials;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::auth::{
    AuthScheme, AuthSchemeEndpointConfig, AuthSchemeId, AuthSchemeOption, AuthSchemeOptionsFuture,
    Sign,
};
use aws_smithy_runtime_api::client::identity::{Identity, SharedIdentityResolver};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::{GetIdentityResolver, RuntimeComponents};
use aws_smithy_types::Document;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::SigningName;
use aws_types::region::SigningRegion;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use std::borrow::Cow;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

/// The scheme this module registers; the credentials still come from the SDK's `sigv4` resolver.
const SCHEME_ID: AuthSchemeId = AuthSchemeId::new("ws-bridge-sigv4");
const SDK_SIGV4: AuthSchemeId = AuthSchemeId::new("sigv4");

/// Headers aws-sigv4 leaves out of the signature by default (proxies may change them).
const UNSIGNED_HEADERS: [&str; 4] = [
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "transfer-encoding",
];

/// The second encoding of the (already encoded) path: everything but unreserved characters and
/// `/`, as the SDK's greedy label encoding does.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Installs the cached-key signer on a client configuration.
pub(crate) fn install(
    builder: aws_sdk_apigatewaymanagement::config::Builder,
) -> aws_sdk_apigatewaymanagement::config::Builder {
    builder
        .push_auth_scheme(CachedKeySigV4::default())
        .auth_scheme_resolver(UseCachedKeySigV4)
}

/// Picks [`CachedKeySigV4`] for every operation of the management API (all are SigV4).
#[derive(Debug)]
struct UseCachedKeySigV4;

impl aws_sdk_apigatewaymanagement::config::auth::ResolveAuthScheme for UseCachedKeySigV4 {
    fn resolve_auth_scheme<'a>(
        &'a self,
        _params: &'a aws_sdk_apigatewaymanagement::config::auth::Params,
        _cfg: &'a ConfigBag,
        _runtime_components: &'a RuntimeComponents,
    ) -> AuthSchemeOptionsFuture<'a> {
        AuthSchemeOptionsFuture::ready(Ok(vec![AuthSchemeOption::from(SCHEME_ID)]))
    }
}

#[derive(Debug, Default)]
struct CachedKeySigV4 {
    signer: CachedKeySigner,
}

impl AuthScheme for CachedKeySigV4 {
    fn scheme_id(&self) -> AuthSchemeId {
        SCHEME_ID
    }

    fn identity_resolver(
        &self,
        identity_resolvers: &dyn GetIdentityResolver,
    ) -> Option<SharedIdentityResolver> {
        identity_resolvers.identity_resolver(SDK_SIGV4)
    }

    fn signer(&self) -> &dyn Sign {
        &self.signer
    }
}

/// The signing key of one day, region, service and secret.
struct CachedKey {
    secret: String,
    scope: String,
    key: hmac::Key,
}

#[derive(Default)]
struct CachedKeySigner {
    cached: Mutex<Option<CachedKey>>,
}

impl std::fmt::Debug for CachedKeySigner {
    // The cache holds the secret: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CachedKeySigner")
    }
}

impl CachedKeySigner {
    /// The signature of `string_to_sign` with the key for `scope`
    /// (`{date}/{region}/{service}/aws4_request`), derived again only when the day, the region or
    /// the credentials change. Signed under the lock: a key is no cheaper to clone than to use.
    fn signature(
        &self,
        secret: &str,
        scope: &str,
        [date, region, service]: [&str; 3],
        string_to_sign: &str,
    ) -> hmac::Tag {
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        let current = match cached.take() {
            Some(key) if key.scope == scope && key.secret == secret => key,
            _ => CachedKey {
                secret: secret.to_owned(),
                scope: scope.to_owned(),
                key: derive_key(secret, date, region, service),
            },
        };
        let tag = hmac::sign(&current.key, string_to_sign.as_bytes());
        *cached = Some(current);
        tag
    }
}

fn derive_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let k_date = step(format!("AWS4{secret}").as_bytes(), date);
    let k_region = step(k_date.as_ref(), region);
    let k_service = step(k_region.as_ref(), service);
    let k_signing = step(k_service.as_ref(), "aws4_request");
    hmac::Key::new(hmac::HMAC_SHA256, k_signing.as_ref())
}

impl Sign for CachedKeySigner {
    fn sign_http_request(
        &self,
        request: &mut HttpRequest,
        identity: &Identity,
        endpoint_config: AuthSchemeEndpointConfig<'_>,
        runtime_components: &RuntimeComponents,
        config_bag: &ConfigBag,
    ) -> Result<(), BoxError> {
        let credentials = identity
            .data::<Credentials>()
            .ok_or("SigV4 needs AWS credentials as its identity")?;
        let operation = config_bag
            .load::<SigV4OperationSigningConfig>()
            .ok_or("the SDK stored no SigV4 signing configuration for this operation")?;
        // Where the SDK's signer looks, in its order: the endpoint's auth scheme properties, the
        // client's configuration, the operation's.
        let endpoint = |field: &str| match endpoint_config.get(field) {
            Some(Document::String(value)) => Some(value.as_str()),
            _ => None,
        };
        let region = endpoint("signingRegion")
            .or_else(|| config_bag.load::<SigningRegion>().map(AsRef::as_ref))
            .or(operation.region.as_ref().map(AsRef::as_ref))
            .ok_or("no region to sign for: set AWS_REGION")?;
        let service = endpoint("signingName")
            .or_else(|| config_bag.load::<SigningName>().map(AsRef::as_ref))
            .or(operation.name.as_ref().map(AsRef::as_ref))
            .ok_or("no service name to sign for")?;
        let options = &operation.signing_options;
        let flag = |field: &str| match endpoint_config.get(field) {
            Some(Document::Bool(value)) => Some(*value),
            _ => None,
        };
        if options.signature_type != HttpSignatureType::HttpRequestHeaders {
            return Err("this signer signs headers, not presigned URLs".into());
        }
        let now = runtime_components.time_source().unwrap_or_default().now();
        let signing = Signing {
            region,
            service,
            double_encode: flag("disableDoubleEncoding")
                .map_or(options.double_uri_encode, |off| !off),
            normalize_path: flag("disableNormalizePath")
                .map_or(options.normalize_uri_path, |off| !off),
            content_sha256_header: options.content_sha256_header,
            session_token: !options.omit_session_token,
        };
        sign(self, request, credentials, &signing, now)
    }
}

/// What the SDK's operation configuration says to sign for, and how.
struct Signing<'a> {
    region: &'a str,
    service: &'a str,
    double_encode: bool,
    normalize_path: bool,
    content_sha256_header: bool,
    session_token: bool,
}

fn sign(
    signer: &CachedKeySigner,
    request: &mut HttpRequest,
    credentials: &Credentials,
    how: &Signing<'_>,
    now: SystemTime,
) -> Result<(), BoxError> {
    let (region, service) = (how.region, how.service);
    let amz_date = amz_date(now);
    let date = &amz_date[..8];
    let uri: http::Uri = request.uri().parse()?;
    if uri.query().is_some_and(|query| !query.is_empty()) {
        // No operation of the management API has one; refuse rather than sign it wrongly.
        return Err("this signer does not sign query strings".into());
    }

    // The headers as signed: the request's own (names are lowercase in `http`), `host` from the
    // URI unless present, `x-amz-date` and the session token; sorted, values space-trimmed and
    // joined with commas when a name repeats.
    let mut headers: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(12);
    for (name, value) in request.headers().iter() {
        // Names come lowercase from `http`'s header map.
        if !UNSIGNED_HEADERS.contains(&name)
            && name != "x-amz-date"
            && name != "x-amz-security-token"
        {
            headers.push((name, trim_all(value)));
        }
    }
    if !headers.iter().any(|(name, _)| *name == "host") {
        headers.push(("host", host_of(&uri)?.into()));
    }
    let body = request
        .body()
        .bytes()
        .ok_or("this signer signs bodies held in memory only")?;
    let payload_hash = hex(digest::digest(&digest::SHA256, body).as_ref());
    headers.push(("x-amz-date", amz_date.as_str().into()));
    let token = credentials.session_token().filter(|_| how.session_token);
    if let Some(token) = token {
        headers.push(("x-amz-security-token", token.into()));
    }
    if how.content_sha256_header {
        headers.retain(|(name, _)| *name != "x-amz-content-sha256");
        headers.push(("x-amz-content-sha256", payload_hash.as_str().into()));
    }
    headers.sort_by(|a, b| a.0.cmp(b.0));

    let mut canonical = String::with_capacity(512);
    canonical.push_str(request.method());
    canonical.push('\n');
    let path = if how.normalize_path {
        normalize_path(uri.path())
    } else {
        uri.path().into()
    };
    if how.double_encode {
        canonical.extend(percent_encoding::utf8_percent_encode(&path, PATH));
    } else {
        canonical.push_str(&path);
    }
    canonical.push_str("\n\n");
    let mut signed_headers = String::with_capacity(128);
    let mut previous: Option<&str> = None;
    for (name, value) in &headers {
        if previous == Some(*name) {
            canonical.push(',');
        } else {
            if previous.is_some() {
                canonical.push('\n');
                signed_headers.push(';');
            }
            canonical.push_str(name);
            canonical.push(':');
            signed_headers.push_str(name);
        }
        canonical.push_str(value);
        previous = Some(name);
    }
    canonical.push_str("\n\n");
    canonical.push_str(&signed_headers);
    canonical.push('\n');
    canonical.push_str(&payload_hash);

    let scope = [date, "/", region, "/", service, "/aws4_request"].concat();
    let string_to_sign = [
        "AWS4-HMAC-SHA256\n",
        &amz_date,
        "\n",
        &scope,
        "\n",
        &hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref()),
    ]
    .concat();
    let signature = signer.signature(
        credentials.secret_access_key(),
        &scope,
        [date, region, service],
        &string_to_sign,
    );
    let signature = hex(signature.as_ref());
    let authorization = [
        "AWS4-HMAC-SHA256 Credential=",
        credentials.access_key_id(),
        "/",
        &scope,
        ", SignedHeaders=",
        &signed_headers,
        ", Signature=",
        &signature,
    ]
    .concat();

    let request_headers = request.headers_mut();
    request_headers.insert("x-amz-date", amz_date);
    if let Some(token) = token {
        request_headers.insert("x-amz-security-token", token.to_owned());
    }
    if how.content_sha256_header {
        request_headers.insert("x-amz-content-sha256", payload_hash);
    }
    request_headers.insert("authorization", authorization);
    Ok(())
}

/// `host`, or `host:port` when the port is not the scheme's default (as hyper sends it).
fn host_of(uri: &http::Uri) -> Result<String, BoxError> {
    let host = uri.host().ok_or("the request's URI has no host")?;
    let default_port = match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    Ok(match uri.port_u16() {
        Some(port) if Some(port) != default_port => format!("{host}:{port}"),
        _ => host.to_owned(),
    })
}

/// RFC 3986 dot-segment removal, as SigV4 asks of every service but S3.
fn normalize_path(path: &str) -> Cow<'_, str> {
    if path.is_empty() {
        return "/".into();
    }
    let absolute: Cow<'_, str> = if path.starts_with('/') {
        path.into()
    } else {
        format!("/{path}").into()
    };
    if !absolute.contains('.') && !absolute.contains("//") {
        return absolute;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in absolute.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut normalized = format!("/{}", segments.join("/"));
    let trailing = ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|end| absolute.ends_with(end));
    if trailing && !normalized.ends_with('/') {
        normalized.push('/');
    }
    normalized.into()
}

/// Leading and trailing spaces removed, runs of spaces made one (spaces only, not other
/// whitespace).
fn trim_all(value: &str) -> Cow<'_, str> {
    let value = value.trim_matches(' ');
    if !value.contains("  ") {
        return value.into();
    }
    let mut trimmed = String::with_capacity(value.len());
    let mut last_space = false;
    for c in value.chars() {
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        trimmed.push(c);
    }
    trimmed.into()
}

/// Lowercase hex (`write!` with `{:02x}` cost 2.6 % of a broadcast's CPU here).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// `YYYYMMDDTHHMMSSZ` in UTC (chrono's `format` cost 1.5 % of a broadcast's CPU here).
fn amz_date(now: SystemTime) -> String {
    use chrono::{Datelike, Timelike};
    fn digits(out: &mut String, value: u32, width: u32) {
        for place in (0..width).rev() {
            let digit = (value / 10u32.pow(place)) % 10;
            out.push(char::from_digit(digit, 10).unwrap_or('0'));
        }
    }
    let time = chrono::DateTime::<chrono::Utc>::from(now);
    let mut out = String::with_capacity(16);
    digits(&mut out, u32::try_from(time.year()).unwrap_or(0), 4);
    digits(&mut out, time.month(), 2);
    digits(&mut out, time.day(), 2);
    out.push('T');
    digits(&mut out, time.hour(), 2);
    digits(&mut out, time.minute(), 2);
    digits(&mut out, time.second(), 2);
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_apigatewaymanagement::config::{BehaviorVersion, IdentityCache, Region};
    use aws_sdk_apigatewaymanagement::primitives::Blob;
    use aws_sdk_apigatewaymanagement::{Client, Config};
    use aws_smithy_async::time::TimeSource;
    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
    };
    use aws_smithy_types::body::SdkBody;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, UNIX_EPOCH};

    /// One request's headers, sorted, with its URI as `(uri)`.
    type Seen = Vec<(String, String)>;

    /// Answers 200 to everything and keeps each request's headers.
    #[derive(Clone, Debug, Default)]
    struct Capture(Arc<Mutex<Vec<Seen>>>);

    impl HttpConnector for Capture {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let mut headers: Vec<(String, String)> = request
                .headers()
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect();
            headers.push(("(uri)".into(), request.uri().to_owned()));
            headers.sort();
            self.0.lock().unwrap().push(headers);
            HttpConnectorFuture::ready(Ok(aws_smithy_runtime_api::http::Response::new(
                200.try_into().unwrap(),
                SdkBody::empty(),
            )))
        }
    }

    impl HttpClient for Capture {
        fn http_connector(
            &self,
            _settings: &HttpConnectorSettings,
            _components: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(self.clone())
        }
    }

    /// A clock the test moves.
    #[derive(Clone, Debug)]
    struct Clock(Arc<AtomicU64>);

    impl TimeSource for Clock {
        fn now(&self) -> SystemTime {
            UNIX_EPOCH + Duration::from_secs(self.0.load(Ordering::SeqCst))
        }
    }

    /// Credentials the test swaps, read on every request (no identity cache).
    #[derive(Clone, Debug)]
    struct Keys(Arc<Mutex<Credentials>>);

    impl aws_sdk_apigatewaymanagement::config::ProvideCredentials for Keys {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let credentials = self.0.lock().unwrap().clone();
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(credentials))
        }
    }

    fn client(ours: bool, clock: &Clock, keys: &Keys, capture: &Capture) -> Client {
        let builder = Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(keys.clone())
            .identity_cache(IdentityCache::no_cache())
            .time_source(clock.clone())
            .http_client(capture.clone())
            .endpoint_url("https://abc123.execute-api.eu-west-1.amazonaws.com/prod");
        let builder = if ours { install(builder) } else { builder };
        Client::from_conf(builder.build())
    }

    #[tokio::test]
    async fn signs_every_management_call_exactly_as_the_sdks_own_signer() {
        let clock = Clock(Arc::new(AtomicU64::new(1_764_460_799))); // 23:59:59 UTC
        let keys = Keys(Arc::new(Mutex::new(Credentials::for_tests())));
        let (theirs, ours) = (Capture::default(), Capture::default());
        let sdk = client(false, &clock, &keys, &theirs);
        let cached = client(true, &clock, &keys, &ours);
        let resolver = format!("{:?}", cached.config().auth_scheme_resolver());
        assert!(resolver.contains("UseCachedKeySigV4"), "{resolver}");

        let ids = [
            "Lx9kTfKbIAMCJkw=",
            "a/b",
            "..",
            "./x/../y",
            "with space",
            "ünïcödé",
            "!$&'()*+,;=:@%",
        ];
        let session = Credentials::new(
            "AKIDSESSION",
            "other/secret+",
            Some("token==".into()),
            None,
            "test",
        );
        for (step, credentials) in [Credentials::for_tests(), session.clone(), session]
            .into_iter()
            .enumerate()
        {
            *keys.0.lock().unwrap() = credentials;
            if step == 2 {
                // The next day: the cached key must not be used any more.
                clock.0.fetch_add(2, Ordering::SeqCst);
            }
            for id in ids {
                for client in [&sdk, &cached] {
                    client
                        .post_to_connection()
                        .connection_id(id)
                        .data(Blob::new(format!("{{\"n\":\"{id}\"}}")))
                        .send()
                        .await
                        .unwrap();
                    client
                        .get_connection()
                        .connection_id(id)
                        .send()
                        .await
                        .unwrap();
                    client
                        .delete_connection()
                        .connection_id(id)
                        .send()
                        .await
                        .unwrap();
                }
            }
        }
        let (theirs, ours) = (theirs.0.lock().unwrap(), ours.0.lock().unwrap());
        assert_eq!(theirs.len(), 3 * ids.len() * 3);
        for (theirs, ours) in theirs.iter().zip(ours.iter()) {
            let authorization = |headers: &[(String, String)]| {
                headers
                    .iter()
                    .find(|(name, _)| name == "authorization")
                    .map(|(_, value)| value.clone())
            };
            assert!(authorization(theirs).is_some());
            assert_eq!(authorization(theirs), authorization(ours));
            // Every header but the invocation id, which is random, is the same.
            let stable = |headers: &[(String, String)]| {
                headers
                    .iter()
                    .filter(|(name, _)| name != "amz-sdk-invocation-id")
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(stable(theirs), stable(ours));
        }
    }

    #[test]
    fn header_values_lose_outer_spaces_and_runs_of_spaces_only() {
        assert_eq!(trim_all("  a   b \t c  "), "a b \t c");
        assert_eq!(trim_all("plain"), "plain");
    }
}
