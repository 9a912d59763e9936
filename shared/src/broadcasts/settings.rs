//! The asynchronous broadcasts' settings, each read once from the environment (Lambda) or the
//! local gateway's flags, with one default.

use crate::Error;
use crate::settings::parse_positive;

pub const ASYNC_THRESHOLD_ENV: &str = "BROADCAST_ASYNC_THRESHOLD";
pub const SHARD_SIZE_ENV: &str = "BROADCAST_SHARD_SIZE";
pub const WORKERS_ENV: &str = "BROADCAST_WORKERS";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsyncBroadcastSettings {
    /// Audiences larger than this go asynchronous without being asked (`0`, the default: only
    /// when asked with `Prefer: respond-async`). Off by default because deciding costs a count
    /// of the audience on every broadcast, and because a backend whose client expects the
    /// synchronous report must opt in to a 202. 20,000 (2 s at the account throttle's 10,000/s,
    /// 8 s at the 2,500/s of some regions) keeps well inside the HTTP API's 30 s.
    pub threshold: u64,
    /// Recipients per shard (one queue message, one worker invocation).
    pub shard_size: u64,
    /// Shards worked on at once (locally: in-process workers; on AWS the template's
    /// `MaximumConcurrency` of the queue's event source plays this part).
    pub workers: usize,
}

impl Default for AsyncBroadcastSettings {
    fn default() -> Self {
        Self {
            threshold: 0,
            shard_size: 10_000,
            workers: 4,
        }
    }
}

impl AsyncBroadcastSettings {
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let defaults = Self::default();
        let read = |name: &str| lookup(name).filter(|raw| !raw.trim().is_empty());
        let threshold = match read(ASYNC_THRESHOLD_ENV) {
            None => defaults.threshold,
            Some(raw) => raw.trim().parse::<u64>().map_err(|_| {
                Error::Config(format!(
                    "{ASYNC_THRESHOLD_ENV}: must be a whole number, got {raw:?}"
                ))
            })?,
        };
        let positive = |name: &str, default: usize| -> Result<usize, Error> {
            read(name).map_or(Ok(default), |raw| {
                parse_positive(&raw).map_err(|err| Error::Config(format!("{name}: {err}")))
            })
        };
        Ok(Self {
            threshold,
            shard_size: positive(SHARD_SIZE_ENV, defaults.shard_size as usize)? as u64,
            workers: positive(WORKERS_ENV, defaults.workers)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_is_the_default_and_a_bad_value_is_an_error_naming_it() {
        assert_eq!(
            AsyncBroadcastSettings::from_lookup(|_| None).unwrap(),
            AsyncBroadcastSettings::default()
        );
        let set = AsyncBroadcastSettings::from_lookup(|name| match name {
            ASYNC_THRESHOLD_ENV => Some("20000".into()),
            SHARD_SIZE_ENV => Some("500".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            (set.threshold, set.shard_size, set.workers),
            (20_000, 500, 4)
        );
        let err = AsyncBroadcastSettings::from_lookup(|name| {
            (name == WORKERS_ENV).then(|| "0".to_owned())
        })
        .unwrap_err();
        assert!(err.to_string().contains(WORKERS_ENV), "{err}");
    }
}
