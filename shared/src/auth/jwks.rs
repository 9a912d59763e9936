//! Public keys from a JWKS, by key id. Loaded once (per cold start); an unknown `kid` triggers a
//! reload, so a key rotated in at the issuer is picked up without a restart. Reloads for unknown
//! ids are at most one per [`Jwks::MIN_RELOAD_INTERVAL`], so tokens with made-up ids cannot turn
//! us into a fetch loop against the issuer.
//!
//! A key set that cannot be fetched is the identity provider's outage, reported as
//! [`Error::IdentityProviderUnavailable`], never as an invalid token: while the last load
//! failed, an unknown `kid` cannot be told apart from a key we could not fetch.

use crate::Error;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Where the key set comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    /// `JWT_JWKS_URL`: the issuer's JWKS endpoint (HTTPS in production).
    Url(String),
    /// `JWT_JWKS_FILE`: a JSON file, for local development.
    File(PathBuf),
}

pub struct Jwks {
    source: JwksSource,
    client: reqwest::Client,
    keys: RwLock<HashMap<String, (DecodingKey, Algorithm)>>,
    reloads: tokio::sync::Mutex<Reloads>,
}

/// The reloads an unknown `kid` triggered.
#[derive(Default)]
struct Reloads {
    last_at: Option<Instant>,
    /// Why the last load failed; `None` once one succeeds.
    failure: Option<String>,
}

impl Jwks {
    pub const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

    /// A key set that loads nothing until [`Self::load`].
    pub fn new(source: JwksSource) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|err| Error::Config(format!("JWKS client: {err}")))?;
        Ok(Self {
            source,
            client,
            keys: RwLock::new(HashMap::new()),
            reloads: tokio::sync::Mutex::new(Reloads::default()),
        })
    }

    /// Fetches the set and replaces the known keys with it. Returns how many keys it holds.
    pub async fn load(&self) -> Result<usize, Error> {
        let (text, not_a_set): (String, fn(String) -> Error) = match &self.source {
            JwksSource::File(path) => (
                tokio::fs::read_to_string(path).await.map_err(|err| {
                    Error::Config(format!("JWT_JWKS_FILE {}: {err}", path.display()))
                })?,
                Error::Config,
            ),
            JwksSource::Url(url) => {
                let unavailable = |err: reqwest::Error| {
                    Error::IdentityProviderUnavailable(format!("cannot fetch the JWKS: {err}"))
                };
                let text = self
                    .client
                    .get(url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(unavailable)?
                    .text()
                    .await
                    .map_err(unavailable)?;
                // What the issuer serves is its business: a broken set is its outage.
                (text, Error::IdentityProviderUnavailable)
            }
        };
        let set: JwkSet = serde_json::from_str(&text)
            .map_err(|err| not_a_set(format!("the JWKS is not a JSON Web Key Set: {err}")))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let Some(algorithm) = algorithm_of(jwk) else {
                tracing::warn!(
                    kid,
                    "JWKS key skipped: only RS256 and ES256 (P-256) keys are used"
                );
                continue;
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid, (key, algorithm));
                }
                Err(err) => tracing::warn!(kid, error = %err, "JWKS key skipped"),
            }
        }
        let count = keys.len();
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        tracing::info!(keys = count, "JWKS loaded");
        Ok(count)
    }

    /// The key for `kid`, reloading the set once if the id is unknown.
    pub async fn key(&self, kid: &str) -> Result<(DecodingKey, Algorithm), Error> {
        if let Some(found) = self.known(kid) {
            return Ok(found);
        }
        let mut reloads = self.reloads.lock().await;
        // Another request may have reloaded while this one waited.
        if let Some(found) = self.known(kid) {
            return Ok(found);
        }
        let recent = reloads
            .last_at
            .is_some_and(|at| at.elapsed() < Self::MIN_RELOAD_INTERVAL);
        if !recent {
            reloads.last_at = Some(Instant::now());
            reloads.failure = match self.load().await {
                Ok(_) => None,
                Err(err) => {
                    tracing::error!(error = %err, "JWKS reload failed");
                    Some(err.to_string())
                }
            };
        }
        if let Some(found) = self.known(kid) {
            return Ok(found);
        }
        match &reloads.failure {
            Some(failure) => Err(Error::IdentityProviderUnavailable(format!(
                "key id {kid:?} is unknown and the JWKS cannot be loaded: {failure}"
            ))),
            None => Err(Error::Unauthorized(format!("unknown key id {kid:?}"))),
        }
    }

    fn known(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(kid)
            .cloned()
    }
}

/// RS256 for RSA keys and ES256 for P-256 keys, unless the key names another algorithm.
fn algorithm_of(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    let declared = jwk.common.key_algorithm;
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) if matches!(declared, None | Some(KeyAlgorithm::RS256)) => {
            Some(Algorithm::RS256)
        }
        AlgorithmParameters::EllipticCurve(params)
            if params.curve == EllipticCurve::P256
                && matches!(declared, None | Some(KeyAlgorithm::ES256)) =>
        {
            Some(Algorithm::ES256)
        }
        _ => None,
    }
}
