//! Channel permissions. A token may list the channels it may join (`"channels"`: exact names or
//! `prefix:*`); `user:<sub>` is always its owner's and never anyone else's. Anonymous connections
//! (authentication off) may join anything.

use crate::Connection;

/// The channel every user owns.
pub const USER_CHANNEL_PREFIX: &str = "user:";

/// Whether `connection` may join `channel`.
pub fn may_join(connection: &Connection, channel: &str) -> bool {
    let Some(user) = connection.user_id.as_deref() else {
        return true;
    };
    if let Some(owner) = channel.strip_prefix(USER_CHANNEL_PREFIX) {
        return owner == user;
    }
    match &connection.channel_grants {
        None => true,
        Some(grants) => grants.iter().any(|grant| grant_matches(grant, channel)),
    }
}

fn grant_matches(grant: &str, channel: &str) -> bool {
    match grant.strip_suffix('*') {
        // `prefix:*`: any channel under the prefix, never the bare prefix itself.
        Some(prefix) if prefix.ends_with(':') => {
            channel.starts_with(prefix) && channel.len() > prefix.len()
        }
        Some(_) => false,
        None => grant == channel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(user: Option<&str>, grants: Option<&[&str]>) -> Connection {
        let mut connection = Connection::new("c", 0, "127.0.0.1");
        connection.user_id = user.map(str::to_owned);
        connection.channel_grants = grants.map(|g| g.iter().map(|s| (*s).to_owned()).collect());
        connection
    }

    #[test]
    fn anonymous_connections_may_join_anything() {
        let anonymous = connection(None, None);
        assert!(may_join(&anonymous, "news"));
        assert!(may_join(&anonymous, "user:ada"));
    }

    #[test]
    fn a_users_own_channel_is_only_theirs() {
        let ada = connection(Some("ada"), Some(&["user:*", "news"]));
        assert!(may_join(&ada, "user:ada"));
        assert!(
            !may_join(&ada, "user:bob"),
            "a grant cannot open someone else's"
        );
        assert!(may_join(&connection(Some("ada"), Some(&[])), "user:ada"));
    }

    #[test]
    fn grants_are_exact_names_or_prefixes() {
        let ada = connection(Some("ada"), Some(&["news", "post:*"]));
        assert!(may_join(&ada, "news"));
        assert!(may_join(&ada, "post:42"));
        assert!(!may_join(&ada, "post:"));
        assert!(!may_join(&ada, "postal"));
        assert!(!may_join(&ada, "news:1"));
        assert!(!may_join(
            &connection(Some("ada"), Some(&["po*"])),
            "post:1"
        ));
        assert!(may_join(&connection(Some("ada"), None), "anything"));
    }
}
