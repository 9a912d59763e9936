//! Who is connecting: JSON Web Tokens checked at `$connect` (by `ws-connect` itself, or by the
//! `ws-authorizer` REQUEST authorizer), and what a verified identity may do with channels.
//!
//! Configuration (all optional; with neither a secret nor a JWKS, authentication is off and
//! connections are anonymous):
//!
//! | env | meaning |
//! |---|---|
//! | `JWT_SECRET` | HS256 shared secret |
//! | `JWT_JWKS_URL` / `JWT_JWKS_FILE` | public keys for RS256 and ES256 (fetched once per cold start, again on an unknown `kid`) |
//! | `JWT_ISSUER`, `JWT_AUDIENCE` | required `iss` / `aud`, when set |
//! | `JWT_LEEWAY_SECS` | clock leeway for `exp` and `nbf` (default 5) |
//! | `JWT_CLAIMS` | claims to store with the connection, comma-separated (e.g. `email,role`) |

pub mod context;
mod grants;
mod jwks;
pub(crate) mod token;

pub use grants::may_join;
pub use jwks::{Jwks, JwksSource};
pub use token::{Identity, TokenVerifier, VerifierConfig, bearer_token, token_from_event};
