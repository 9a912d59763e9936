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
    pub fn parse(source: &str) -> Result<Self, String> {
        if let Some(name) = source.strip_prefix("route.request.header.") {
            Ok(Self::Header(name.to_owned()))
        } else if let Some(name) = source.strip_prefix("route.request.querystring.") {
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
}
