//! Keys and JSON Web Tokens made by the tests themselves (nothing secret is committed), signed
//! here with aws-lc-rs directly, so the verifier under test never checks its own output.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

/// A key that signs tokens.
pub enum Signer {
    Hs256(Vec<u8>),
    Rs256 { kid: String, key: RsaKeyPair },
    Es256 { kid: String, key: EcdsaKeyPair },
}

impl Signer {
    /// A random HS256 secret, as `JWT_SECRET` takes it.
    pub fn hs256() -> (Self, String) {
        let secret: String = (0..48)
            .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
            .collect();
        (Self::Hs256(secret.clone().into_bytes()), secret)
    }

    pub fn rs256(kid: &str) -> Self {
        let key = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
        Self::Rs256 {
            kid: kid.into(),
            key,
        }
    }

    pub fn es256(kid: &str) -> Self {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key");
        Self::Es256 {
            kid: kid.into(),
            key,
        }
    }

    /// A compact JWS of `claims`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = match self {
            Self::Hs256(_) => json!({"alg": "HS256", "typ": "JWT"}),
            Self::Rs256 { kid, .. } => json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
            Self::Es256 { kid, .. } => json!({"alg": "ES256", "typ": "JWT", "kid": kid}),
        };
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = match self {
            Self::Hs256(secret) => {
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
                aws_lc_rs::hmac::sign(&key, input.as_bytes())
                    .as_ref()
                    .to_vec()
            }
            Self::Rs256 { key, .. } => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input.as_bytes(),
                    &mut signature,
                )
                .expect("RSA signature");
                signature
            }
            Self::Es256 { key, .. } => key
                .sign(&SystemRandom::new(), input.as_bytes())
                .expect("EC signature")
                .as_ref()
                .to_vec(),
        };
        format!("{input}.{}", B64.encode(signature))
    }

    /// This key's public half as a JWK (none for a shared secret).
    pub fn jwk(&self) -> Option<Value> {
        match self {
            Self::Hs256(_) => None,
            Self::Rs256 { kid, key } => {
                let public = key.public_key();
                Some(json!({
                    "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                    "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
                    "e": B64.encode(public.exponent().big_endian_without_leading_zero()),
                }))
            }
            Self::Es256 { kid, key } => {
                // The uncompressed point: 0x04, then x and y, 32 bytes each.
                let point = key.public_key().as_ref();
                Some(json!({
                    "kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                    "x": B64.encode(&point[1..33]),
                    "y": B64.encode(&point[33..65]),
                }))
            }
        }
    }
}

/// A JWKS of the signers' public keys.
pub fn jwks(signers: &[&Signer]) -> Value {
    json!({ "keys": signers.iter().filter_map(|signer| signer.jwk()).collect::<Vec<_>>() })
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims for `sub`, valid from now for an hour, with `extra` merged in.
pub fn claims(sub: &str, extra: Value) -> Value {
    let mut claims = json!({ "sub": sub, "iat": now(), "exp": now() + 3600 });
    if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        claims.extend(extra);
    }
    claims
}
