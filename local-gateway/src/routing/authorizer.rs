//! A REQUEST authorizer on `$connect` (reference §6), as configured: which function, and which
//! identity sources must be present before it is invoked.

use crate::invoke::LambdaFunction;
use std::sync::Arc;

/// Where an identity comes from: `route.request.header.<Name>` or
/// `route.request.querystring.<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentitySource {
    Header(String),
    QueryString(String),
}

impl IdentitySource {
    /// An empty name is refused: no request carries it, so every `$connect` would be refused.
    pub fn parse(source: &str) -> Result<Self, String> {
        let named = |prefix: &str| source.strip_prefix(prefix).filter(|name| !name.is_empty());
        if let Some(name) = named("route.request.header.") {
            Ok(Self::Header(name.to_owned()))
        } else if let Some(name) = named("route.request.querystring.") {
            Ok(Self::QueryString(name.to_owned()))
        } else {
            Err(format!(
                "identity source {source:?} must be route.request.header.<Name> or route.request.querystring.<name>"
            ))
        }
    }
}

#[derive(Clone)]
pub struct Authorizer {
    pub function: Arc<dyn LambdaFunction>,
    pub identity_sources: Vec<IdentitySource>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_sources_parse() {
        assert_eq!(
            IdentitySource::parse("route.request.header.Authorization"),
            Ok(IdentitySource::Header("Authorization".into()))
        );
        assert_eq!(
            IdentitySource::parse("route.request.querystring.token"),
            Ok(IdentitySource::QueryString("token".into()))
        );
        assert!(IdentitySource::parse("method.request.header.X").is_err());
    }

    /// Found by `any_json_routes_file_loads_or_says_why`: `route.request.header.` was accepted
    /// as a source named "", which no handshake has.
    #[test]
    fn identity_sources_name_something() {
        assert!(IdentitySource::parse("route.request.header.").is_err());
        assert!(IdentitySource::parse("route.request.querystring.").is_err());
    }
}
