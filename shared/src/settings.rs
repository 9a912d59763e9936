//! Tunables read from the environment, each with a documented default (see the README).

use crate::Error;
use std::str::FromStr;

/// DynamoDB writes a connection, its user slot and its subscriptions in one transaction of at
/// most 100 items.
pub const MAX_CHANNELS_LIMIT: usize = 98;

// The defaults, named once: `Settings::default()` and the local gateway's flags both use them.
pub const DEFAULT_BROADCAST_CONCURRENCY: usize = 64;
pub const DEFAULT_BROADCAST_PAGE_SIZE: usize = 1000;
pub const DEFAULT_BROADCAST_MAX_ATTEMPTS: u32 = 5;
pub const DEFAULT_MAX_CHANNELS_PER_CONNECTION: usize = 20;
pub const DEFAULT_CLIENT_PUBLISH: bool = false;
pub const DEFAULT_MAX_CONNECTIONS_PER_USER: usize = 5;
pub const DEFAULT_HISTORY_TTL_SECONDS: u64 = 300;
pub const DEFAULT_HISTORY_MAX_MESSAGES: usize = 300;
/// The history table's default name; `infra/history-table.json` names the same.
pub const DEFAULT_HISTORY_TABLE: &str = "ws-bridge-history";
pub const DEFAULT_PRESENCE_LEAVE_GRACE_SECONDS: u64 = 5;
/// The presence table's default name; `infra/presence-table.json` names the same.
pub const DEFAULT_PRESENCE_TABLE: &str = "ws-bridge-presence";
/// SQS's longest message delay, which bounds the grace period on AWS.
pub const MAX_PRESENCE_LEAVE_GRACE_SECONDS: u64 = 900;

/// How a broadcast lists and fans out, and what clients may do with channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `BROADCAST_CONCURRENCY`: PostToConnection calls in flight at once (default 64). Bounded so a
    /// broadcast to a large audience neither exhausts sockets nor trips the account's throttle.
    pub broadcast_concurrency: usize,
    /// `BROADCAST_PAGE_SIZE`: connection ids fetched per store page (default 1000).
    pub broadcast_page_size: usize,
    /// `BROADCAST_MAX_ATTEMPTS`: attempts per PostToConnection (default 5), retried with backoff
    /// on 429 `LimitExceededException` and transient errors; a connection still refusing after
    /// them is reported under `failed`, never dropped silently.
    pub broadcast_max_attempts: u32,
    /// `API_TOKEN`: when set, every HTTP route requires `Authorization: Bearer <token>`.
    /// Unset (the local default): the routes are open.
    pub api_token: Option<String>,
    /// `MAX_CHANNELS_PER_CONNECTION`: how many channels one connection may be in (default 20,
    /// at most 98).
    pub max_channels_per_connection: usize,
    /// `CLIENT_PUBLISH`: whether clients may publish to channels they are in (default `false`:
    /// only the backend publishes).
    pub client_publish: bool,
    /// `MAX_CONNECTIONS_PER_USER`: open connections one authenticated user may hold (default 5);
    /// the next handshake is refused with 429.
    pub max_connections_per_user: usize,
    /// `MESSAGE_RATE_LIMIT`: client messages a connection may send per window, as `N/SECONDS`
    /// (e.g. `20/10`). Unset: no limit.
    pub message_rate: Option<MessageRate>,
    /// `HISTORY_*`: which channels number and keep their messages, and for how long.
    pub history: HistorySettings,
    /// `PRESENCE_*`: which channels track their members, and how long a leave waits.
    pub presence: PresenceSettings,
}

/// Channel history (sequence numbers, replay on resume): off unless `HISTORY_CHANNELS` names
/// channels. With it off, channels behave byte for byte as without the feature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistorySettings {
    /// `HISTORY_CHANNELS`: the channels with history (default: none).
    pub channels: ChannelPatterns,
    /// `HISTORY_TTL_SECONDS`: how long a message is kept (default 300).
    pub ttl_seconds: u64,
    /// `HISTORY_MAX_MESSAGES`: how many messages per channel are kept at most (default 300).
    pub max_messages: usize,
    /// `HISTORY_TABLE`: the DynamoDB history table (default `ws-bridge-history`).
    pub table: String,
}

impl Default for HistorySettings {
    fn default() -> Self {
        Self {
            channels: ChannelPatterns::default(),
            ttl_seconds: DEFAULT_HISTORY_TTL_SECONDS,
            max_messages: DEFAULT_HISTORY_MAX_MESSAGES,
            table: DEFAULT_HISTORY_TABLE.to_owned(),
        }
    }
}

impl HistorySettings {
    /// Whether any channel has history: when not, nothing of it is built or called.
    pub fn enabled(&self) -> bool {
        !self.channels.is_empty()
    }

    pub fn applies_to(&self, channel: &str) -> bool {
        self.channels.matches(channel)
    }
}

/// Presence (members per channel, `presence.join`/`presence.leave`): off unless
/// `PRESENCE_CHANNELS` names channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresenceSettings {
    /// `PRESENCE_CHANNELS`: the channels with presence (default: none).
    pub channels: ChannelPatterns,
    /// `PRESENCE_LEAVE_GRACE_SECONDS`: how long a user's last connection must have been gone
    /// before `presence.leave` (default 5, at most 900: SQS's longest delay).
    pub leave_grace_seconds: u64,
    /// `PRESENCE_INFO_CLAIM`: the token claim (kept through `JWT_CLAIMS`) a member's `info`
    /// is taken from, e.g. `name` (default: none, no info).
    pub info_claim: Option<String>,
    /// `PRESENCE_TABLE`: the DynamoDB presence table (default `ws-bridge-presence`).
    pub table: String,
    /// `PRESENCE_LEAVE_QUEUE_URL`: on AWS, the SQS queue the delayed leave checks go through.
    pub leave_queue_url: Option<String>,
}

impl Default for PresenceSettings {
    fn default() -> Self {
        Self {
            channels: ChannelPatterns::default(),
            leave_grace_seconds: DEFAULT_PRESENCE_LEAVE_GRACE_SECONDS,
            info_claim: None,
            table: DEFAULT_PRESENCE_TABLE.to_owned(),
            leave_queue_url: None,
        }
    }
}

impl PresenceSettings {
    /// Whether any channel has presence: when not, nothing of it is built or called.
    pub fn enabled(&self) -> bool {
        !self.channels.is_empty()
    }

    pub fn applies_to(&self, channel: &str) -> bool {
        self.channels.matches(channel)
    }
}

/// `HISTORY_CHANNELS`: comma-separated patterns; `*` is every channel, `prefix*` the names
/// starting with the prefix, anything else one exact name. Empty: no channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelPatterns {
    patterns: Vec<ChannelPattern>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ChannelPattern {
    Prefix(String),
    Exact(String),
}

impl ChannelPatterns {
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn matches(&self, channel: &str) -> bool {
        self.patterns.iter().any(|pattern| match pattern {
            ChannelPattern::Prefix(prefix) => channel.starts_with(prefix.as_str()),
            ChannelPattern::Exact(name) => channel == name,
        })
    }
}

impl std::str::FromStr for ChannelPatterns {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let patterns = raw
            .split(',')
            .map(str::trim)
            .filter(|piece| !piece.is_empty())
            .map(|piece| {
                let (name, pattern): (&str, fn(String) -> ChannelPattern) =
                    match piece.strip_suffix('*') {
                        Some(prefix) => (prefix, ChannelPattern::Prefix),
                        None => (piece, ChannelPattern::Exact),
                    };
                // `*` alone is the empty prefix; anything else must be (the start of) a name.
                if !name.is_empty() {
                    crate::protocol::validate_channel(name)
                        .map_err(|problem| format!("pattern {piece:?}: {problem}"))?;
                }
                Ok(pattern(name.to_owned()))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { patterns })
    }
}

/// At most `messages` client messages per `window_secs`, counted in the store (so it holds in
/// Lambda, where no process sees every message). Beyond it a message gets an error frame; at
/// twice the limit in one window the connection is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageRate {
    pub messages: u64,
    pub window_secs: u64,
}

impl std::str::FromStr for MessageRate {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = || {
            Error::Config(format!(
                "MESSAGE_RATE_LIMIT must be N/SECONDS with both positive, e.g. 20/10; got {text:?}"
            ))
        };
        let (messages, window) = text.trim().split_once('/').ok_or_else(invalid)?;
        let messages: u64 = messages.trim().parse().map_err(|_| invalid())?;
        let window_secs: u64 = window.trim().parse().map_err(|_| invalid())?;
        if messages == 0 || window_secs == 0 {
            return Err(invalid());
        }
        Ok(Self {
            messages,
            window_secs,
        })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            broadcast_concurrency: DEFAULT_BROADCAST_CONCURRENCY,
            broadcast_page_size: DEFAULT_BROADCAST_PAGE_SIZE,
            broadcast_max_attempts: DEFAULT_BROADCAST_MAX_ATTEMPTS,
            api_token: None,
            max_channels_per_connection: DEFAULT_MAX_CHANNELS_PER_CONNECTION,
            client_publish: DEFAULT_CLIENT_PUBLISH,
            max_connections_per_user: DEFAULT_MAX_CONNECTIONS_PER_USER,
            message_rate: None,
            history: HistorySettings::default(),
            presence: PresenceSettings::default(),
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
        // Unset or blank means the default; anything else must parse.
        let read = |name: &str| lookup(name).filter(|raw| !raw.trim().is_empty());
        let parsed = |name: &str, parse: fn(&str) -> Result<usize, String>| {
            read(name)
                .map(|raw| {
                    parse(&raw).map_err(|problem| Error::Config(format!("{name} {problem}")))
                })
                .transpose()
        };
        Ok(Self {
            broadcast_concurrency: parsed("BROADCAST_CONCURRENCY", parse_positive)?
                .unwrap_or(defaults.broadcast_concurrency),
            broadcast_page_size: parsed("BROADCAST_PAGE_SIZE", parse_positive)?
                .unwrap_or(defaults.broadcast_page_size),
            broadcast_max_attempts: read("BROADCAST_MAX_ATTEMPTS")
                .map(|raw| {
                    parse_attempts(&raw).map_err(|problem| {
                        Error::Config(format!("BROADCAST_MAX_ATTEMPTS {problem}"))
                    })
                })
                .transpose()?
                .unwrap_or(defaults.broadcast_max_attempts),
            api_token: read("API_TOKEN"),
            max_channels_per_connection: parsed("MAX_CHANNELS_PER_CONNECTION", parse_max_channels)?
                .unwrap_or(defaults.max_channels_per_connection),
            client_publish: read("CLIENT_PUBLISH")
                .map(|raw| {
                    parse_flag(&raw)
                        .map_err(|problem| Error::Config(format!("CLIENT_PUBLISH {problem}")))
                })
                .transpose()?
                .unwrap_or(defaults.client_publish),
            max_connections_per_user: parsed("MAX_CONNECTIONS_PER_USER", parse_positive)?
                .unwrap_or(defaults.max_connections_per_user),
            message_rate: read("MESSAGE_RATE_LIMIT")
                .map(|raw| raw.parse())
                .transpose()?,
            history: HistorySettings {
                channels: read("HISTORY_CHANNELS")
                    .map(|raw| {
                        parse_channel_patterns(&raw)
                            .map_err(|problem| Error::Config(format!("HISTORY_CHANNELS {problem}")))
                    })
                    .transpose()?
                    .unwrap_or_default(),
                ttl_seconds: read("HISTORY_TTL_SECONDS")
                    .map(|raw| {
                        parse_seconds(&raw).map_err(|problem| {
                            Error::Config(format!("HISTORY_TTL_SECONDS {problem}"))
                        })
                    })
                    .transpose()?
                    .unwrap_or(defaults.history.ttl_seconds),
                max_messages: parsed("HISTORY_MAX_MESSAGES", parse_positive)?
                    .unwrap_or(defaults.history.max_messages),
                table: read("HISTORY_TABLE").unwrap_or(defaults.history.table),
            },
            presence: PresenceSettings {
                channels: read("PRESENCE_CHANNELS")
                    .map(|raw| {
                        parse_channel_patterns(&raw).map_err(|problem| {
                            Error::Config(format!("PRESENCE_CHANNELS {problem}"))
                        })
                    })
                    .transpose()?
                    .unwrap_or_default(),
                leave_grace_seconds: read("PRESENCE_LEAVE_GRACE_SECONDS")
                    .map(|raw| {
                        parse_grace_seconds(&raw).map_err(|problem| {
                            Error::Config(format!("PRESENCE_LEAVE_GRACE_SECONDS {problem}"))
                        })
                    })
                    .transpose()?
                    .unwrap_or(defaults.presence.leave_grace_seconds),
                info_claim: read("PRESENCE_INFO_CLAIM").map(|raw| raw.trim().to_owned()),
                table: read("PRESENCE_TABLE").unwrap_or(defaults.presence.table),
                leave_queue_url: read("PRESENCE_LEAVE_QUEUE_URL"),
            },
        })
    }
}

// One parser per kind of value, shared by the Lambdas (`Settings::from_env`) and the local
// gateway's flags, so `CLIENT_PUBLISH=1` means the same everywhere. Each says what it wants.

/// `true`/`false`, `1`/`0` (any case, surrounding blanks ignored).
pub fn parse_flag(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("must be true or false (or 1 or 0), got {raw:?}")),
    }
}

/// A positive integer.
pub fn parse_positive(raw: &str) -> Result<usize, String> {
    match usize::from_str(raw.trim()) {
        Ok(value) if value > 0 => Ok(value),
        _ => Err(format!("must be a positive integer, got {raw:?}")),
    }
}

/// A number of attempts: a positive integer that fits a `u32`.
pub fn parse_attempts(raw: &str) -> Result<u32, String> {
    let attempts = parse_positive(raw)?;
    u32::try_from(attempts).map_err(|_| format!("is too large: {attempts}"))
}

/// A number of seconds: a positive integer.
pub fn parse_seconds(raw: &str) -> Result<u64, String> {
    parse_positive(raw).map(|seconds| seconds as u64)
}

/// `PRESENCE_LEAVE_GRACE_SECONDS`: 0 to [`MAX_PRESENCE_LEAVE_GRACE_SECONDS`].
pub fn parse_grace_seconds(raw: &str) -> Result<u64, String> {
    match u64::from_str(raw.trim()) {
        Ok(seconds) if seconds <= MAX_PRESENCE_LEAVE_GRACE_SECONDS => Ok(seconds),
        _ => Err(format!(
            "must be a whole number of seconds from 0 to {MAX_PRESENCE_LEAVE_GRACE_SECONDS}, got {raw:?}"
        )),
    }
}

/// `HISTORY_CHANNELS`: `*`, `prefix*` or exact names, comma-separated.
pub fn parse_channel_patterns(raw: &str) -> Result<ChannelPatterns, String> {
    raw.parse()
}

/// Channels per connection: 1 to [`MAX_CHANNELS_LIMIT`].
pub fn parse_max_channels(raw: &str) -> Result<usize, String> {
    match parse_positive(raw)? {
        max if max > MAX_CHANNELS_LIMIT => {
            Err(format!("must be at most {MAX_CHANNELS_LIMIT}, got {max}"))
        }
        max => Ok(max),
    }
}

/// `WEBHOOK_*` settings: the receiver, its secret, which events, and how delivery retries.
/// The same names for the Lambdas, the template's parameters and the local gateway's flags.
pub mod webhook {
    use crate::Error;
    use crate::webhooks::{Deliverer, EventFilter, WebhookSecret};
    use std::time::Duration;

    pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
    pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
    pub const DEFAULT_RETRY_BASE_MS: u64 = 1_000;
    pub const DEFAULT_STATS_INTERVAL_SECS: u64 = 60;
    pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;

    /// Where and how webhooks go. `url` unset: webhooks are off.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct WebhookSettings {
        /// `WEBHOOK_URL`: the receiver. Unset or blank: no webhooks at all.
        pub url: Option<String>,
        /// `WEBHOOK_SECRET`: `whsec_` + base64 (Standard Webhooks); required with a URL.
        pub secret: Option<WebhookSecret>,
        /// `WEBHOOK_EVENTS`: comma-separated event types; unset: all of them.
        pub events: EventFilter,
        /// `WEBHOOK_MAX_ATTEMPTS`: attempts per event (default 5) before it is recorded as dead.
        pub max_attempts: u32,
        /// `WEBHOOK_TIMEOUT_MS`: one attempt's limit, connect to last byte (default 5000).
        pub timeout_ms: u64,
        /// `WEBHOOK_RETRY_BASE_MS`: the first retry's delay, doubling per attempt, capped at
        /// 60 s, jittered (default 1000).
        pub retry_base_ms: u64,
        /// `WEBHOOK_STATS_INTERVAL_SECS`: period of `broadcast.stats` (default 60; 0: never).
        pub stats_interval_secs: u64,
        /// `WEBHOOK_QUEUE_CAPACITY`: events the local gateway queues before dropping (default
        /// 10000).
        pub queue_capacity: usize,
    }

    impl Default for WebhookSettings {
        fn default() -> Self {
            Self {
                url: None,
                secret: None,
                events: EventFilter::default(),
                max_attempts: DEFAULT_MAX_ATTEMPTS,
                timeout_ms: DEFAULT_TIMEOUT_MS,
                retry_base_ms: DEFAULT_RETRY_BASE_MS,
                stats_interval_secs: DEFAULT_STATS_INTERVAL_SECS,
                queue_capacity: DEFAULT_QUEUE_CAPACITY,
            }
        }
    }

    impl WebhookSettings {
        pub fn from_env() -> Result<Self, Error> {
            Self::from_lookup(|name| std::env::var(name).ok())
        }

        pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
            Self::read(lookup)?.validated()
        }

        /// Each value read and parsed, but not yet checked together ([`Self::validated`]):
        /// for a caller that layers several sources before checking.
        pub fn read(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
            let read = |name: &str| lookup(name).filter(|raw| !raw.trim().is_empty());
            fn parsed<T>(
                name: &str,
                raw: Option<String>,
                parse: fn(&str) -> Result<T, String>,
            ) -> Result<Option<T>, Error> {
                raw.map(|raw| {
                    parse(&raw).map_err(|problem| Error::Config(format!("{name} {problem}")))
                })
                .transpose()
            }
            let defaults = Self::default();
            let settings = Self {
                url: parsed("WEBHOOK_URL", read("WEBHOOK_URL"), parse_url)?,
                secret: parsed("WEBHOOK_SECRET", read("WEBHOOK_SECRET"), parse_secret)?,
                events: parsed("WEBHOOK_EVENTS", read("WEBHOOK_EVENTS"), parse_events)?
                    .unwrap_or_default(),
                max_attempts: parsed(
                    "WEBHOOK_MAX_ATTEMPTS",
                    read("WEBHOOK_MAX_ATTEMPTS"),
                    super::parse_attempts,
                )?
                .unwrap_or(defaults.max_attempts),
                timeout_ms: parsed(
                    "WEBHOOK_TIMEOUT_MS",
                    read("WEBHOOK_TIMEOUT_MS"),
                    parse_millis,
                )?
                .unwrap_or(defaults.timeout_ms),
                retry_base_ms: parsed(
                    "WEBHOOK_RETRY_BASE_MS",
                    read("WEBHOOK_RETRY_BASE_MS"),
                    parse_millis,
                )?
                .unwrap_or(defaults.retry_base_ms),
                stats_interval_secs: parsed(
                    "WEBHOOK_STATS_INTERVAL_SECS",
                    read("WEBHOOK_STATS_INTERVAL_SECS"),
                    parse_interval_seconds,
                )?
                .unwrap_or(defaults.stats_interval_secs),
                queue_capacity: parsed(
                    "WEBHOOK_QUEUE_CAPACITY",
                    read("WEBHOOK_QUEUE_CAPACITY"),
                    super::parse_positive,
                )?
                .unwrap_or(defaults.queue_capacity),
            };
            Ok(settings)
        }

        /// A URL needs a secret: every webhook is signed.
        pub fn validated(self) -> Result<Self, Error> {
            if self.url.is_some() && self.secret.is_none() {
                return Err(Error::Config(
                    "WEBHOOK_URL is set but WEBHOOK_SECRET is not: webhooks are always signed"
                        .into(),
                ));
            }
            Ok(self)
        }

        /// Whether webhooks are on at all.
        pub fn enabled(&self) -> bool {
            self.url.is_some()
        }

        /// The signer and sender these settings describe; `None` when webhooks are off.
        pub fn deliverer(&self) -> Result<Option<Deliverer>, Error> {
            let (Some(url), Some(secret)) = (&self.url, &self.secret) else {
                return Ok(None);
            };
            Deliverer::new(
                url,
                secret.clone(),
                self.max_attempts,
                Duration::from_millis(self.timeout_ms),
                Duration::from_millis(self.retry_base_ms),
            )
            .map(Some)
        }
    }

    /// An `http://` or `https://` URL.
    pub fn parse_url(raw: &str) -> Result<String, String> {
        let url = raw.trim();
        match reqwest::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(url.to_owned()),
            _ => Err(format!("must be an http:// or https:// URL, got {raw:?}")),
        }
    }

    /// `whsec_` followed by the base64 of at least 16 bytes. The error never repeats the value.
    pub fn parse_secret(raw: &str) -> Result<WebhookSecret, String> {
        raw.trim().parse()
    }

    /// Comma-separated event types, e.g. `client.connected,message.broadcast`.
    pub fn parse_events(raw: &str) -> Result<EventFilter, String> {
        raw.parse()
    }

    /// Milliseconds: a positive integer.
    pub fn parse_millis(raw: &str) -> Result<u64, String> {
        super::parse_positive(raw).map(|value| value as u64)
    }

    /// Seconds, where 0 means never.
    pub fn parse_interval_seconds(raw: &str) -> Result<u64, String> {
        raw.trim()
            .parse()
            .map_err(|_| format!("must be a whole number of seconds (0: never), got {raw:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_settings_are_read_checked_and_off_by_default() {
        use webhook::WebhookSettings;
        let off = WebhookSettings::from_lookup(|_| None).unwrap();
        assert!(!off.enabled());
        assert_eq!(off.max_attempts, webhook::DEFAULT_MAX_ATTEMPTS);
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        let on = WebhookSettings::from_lookup(env(&[
            ("WEBHOOK_URL", "https://example.com/hooks"),
            ("WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            ("WEBHOOK_EVENTS", "client.connected"),
            ("WEBHOOK_STATS_INTERVAL_SECS", "0"),
        ]))
        .unwrap();
        assert!(on.enabled());
        assert_eq!(on.stats_interval_secs, 0);
        assert!(
            !on.events
                .allows(crate::webhooks::EventType::MessageBroadcast)
        );
        for (bad, problem) in [
            (
                &[("WEBHOOK_URL", "https://example.com/hooks")][..],
                "WEBHOOK_SECRET",
            ),
            (
                &[("WEBHOOK_URL", "ftp://example.com")][..],
                "http:// or https://",
            ),
            (&[("WEBHOOK_SECRET", "secret")][..], "whsec_"),
            (&[("WEBHOOK_TIMEOUT_MS", "0")][..], "positive"),
        ] {
            let err = WebhookSettings::from_lookup(env(bad))
                .unwrap_err()
                .to_string();
            assert!(err.contains(problem), "{bad:?}: {err}");
            assert!(
                !err.contains("MfKQ9r8"),
                "the secret is never repeated: {err}"
            );
        }
    }

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
        let channels = Settings::from_lookup(|name| match name {
            "MAX_CHANNELS_PER_CONNECTION" => Some("5".into()),
            "CLIENT_PUBLISH" => Some("true".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(channels.max_channels_per_connection, 5);
        assert!(channels.client_publish);
        let err = Settings::from_lookup(|name| {
            (name == "MAX_CHANNELS_PER_CONNECTION").then(|| "100".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains("at most 98"), "{err}");
        let err =
            Settings::from_lookup(|name| (name == "CLIENT_PUBLISH").then(|| "yes".to_string()))
                .unwrap_err();
        assert!(err.to_string().contains("true or false"), "{err}");
        for (raw, expected) in [
            ("1", true),
            ("TRUE", true),
            (" 0 ", false),
            ("False", false),
        ] {
            let settings =
                Settings::from_lookup(|name| (name == "CLIENT_PUBLISH").then(|| raw.to_string()))
                    .unwrap();
            assert_eq!(settings.client_publish, expected, "{raw:?}");
        }
        let limited = Settings::from_lookup(|name| match name {
            "MESSAGE_RATE_LIMIT" => Some("20/10".into()),
            "MAX_CONNECTIONS_PER_USER" => Some("2".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            limited.message_rate,
            Some(MessageRate {
                messages: 20,
                window_secs: 10
            })
        );
        assert_eq!(limited.max_connections_per_user, 2);
        let history = Settings::from_lookup(|name| match name {
            "HISTORY_CHANNELS" => Some("post:*, news".into()),
            "HISTORY_TTL_SECONDS" => Some("60".into()),
            "HISTORY_MAX_MESSAGES" => Some("10".into()),
            _ => None,
        })
        .unwrap()
        .history;
        assert!(history.enabled());
        assert!(history.applies_to("post:42") && history.applies_to("news"));
        assert!(!history.applies_to("newsroom") && !history.applies_to("post"));
        assert_eq!((history.ttl_seconds, history.max_messages), (60, 10));
        assert_eq!(history.table, DEFAULT_HISTORY_TABLE);
        let presence = Settings::from_lookup(|name| match name {
            "PRESENCE_CHANNELS" => Some("room:*".into()),
            "PRESENCE_LEAVE_GRACE_SECONDS" => Some("0".into()),
            "PRESENCE_INFO_CLAIM" => Some(" name ".into()),
            _ => None,
        })
        .unwrap()
        .presence;
        assert!(
            presence.enabled() && presence.applies_to("room:1") && !presence.applies_to("news")
        );
        assert_eq!(presence.leave_grace_seconds, 0);
        assert_eq!(presence.info_claim.as_deref(), Some("name"));
        assert_eq!(presence.table, DEFAULT_PRESENCE_TABLE);
        assert!(!Settings::default().presence.enabled());
        for bad in ["901", "-1", "soon"] {
            let err = Settings::from_lookup(|name| {
                (name == "PRESENCE_LEAVE_GRACE_SECONDS").then(|| bad.to_string())
            })
            .unwrap_err();
            assert!(err.to_string().contains("0 to 900"), "{bad}: {err}");
        }
        let every = parse_channel_patterns("*").unwrap();
        assert!(every.matches("anything"));
        assert!(!Settings::default().history.enabled());
        assert!(parse_channel_patterns("bad name").is_err());
        assert!(parse_channel_patterns(" , ").unwrap().is_empty());
        for bad in ["20", "0/10", "20/0", "x/y"] {
            let err = Settings::from_lookup(|name| {
                (name == "MESSAGE_RATE_LIMIT").then(|| bad.to_string())
            })
            .unwrap_err();
            assert!(err.to_string().contains("N/SECONDS"), "{bad}: {err}");
        }
    }
}
