//! Tunables read from the environment, each with a documented default (see the README).

use crate::Error;
use std::str::FromStr;

/// How a broadcast lists and fans out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `BROADCAST_CONCURRENCY`: PostToConnection calls in flight at once (default 64). Bounded so a
    /// broadcast to a large audience neither exhausts sockets nor trips the account's throttle.
    pub broadcast_concurrency: usize,
    /// `BROADCAST_PAGE_SIZE`: connection ids fetched per store page (default 1000).
    pub broadcast_page_size: usize,
    /// `API_TOKEN`: when set, every HTTP route requires `Authorization: Bearer <token>`.
    /// Unset (the local default): the routes are open.
    pub api_token: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            broadcast_concurrency: 64,
            broadcast_page_size: 1000,
            api_token: None,
        }
    }
}

impl Settings {
    /// Reads the settings from the process environment, falling back to the defaults.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let defaults = Self::default();
        Ok(Self {
            broadcast_concurrency: positive(&lookup, "BROADCAST_CONCURRENCY")?
                .unwrap_or(defaults.broadcast_concurrency),
            broadcast_page_size: positive(&lookup, "BROADCAST_PAGE_SIZE")?
                .unwrap_or(defaults.broadcast_page_size),
            api_token: lookup("API_TOKEN").filter(|token| !token.is_empty()),
        })
    }
}

fn positive(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Result<Option<usize>, Error> {
    match lookup(name) {
        None => Ok(None),
        Some(raw) => match usize::from_str(raw.trim()) {
            Ok(value) if value > 0 => Ok(Some(value)),
            _ => Err(Error::Config(format!(
                "{name} must be a positive integer, got {raw:?}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_unset() {
        assert_eq!(
            Settings::from_lookup(|_| None).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn values_are_read_and_validated() {
        let settings = Settings::from_lookup(|name| match name {
            "BROADCAST_CONCURRENCY" => Some("8".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(settings.broadcast_concurrency, 8);
        let err = Settings::from_lookup(|_| Some("0".into())).unwrap_err();
        assert!(err.to_string().contains("positive integer"), "{err}");
    }
}
