//! The identity a REQUEST authorizer hands to `$connect`: `ws-authorizer` writes it into the
//! authorizer's `context` (API Gateway allows only string, number and boolean values there), and
//! `ws-connect` reads it back from `requestContext.authorizer`, where API Gateway puts
//! `principalId` beside the context's keys. Written and read here only, so the two cannot drift.

use super::Identity;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The token's channel grants, comma-separated (a grant never contains a comma).
const CHANNELS: &str = "channels";
/// Each stored claim as `claim.<name>`.
const CLAIM_PREFIX: &str = "claim.";
/// Where API Gateway puts the authorizer's `principalId`.
const PRINCIPAL_ID: &str = "principalId";

/// The authorizer's `context` for `identity` (its `principalId` travels beside it).
pub fn encode(identity: &Identity) -> Map<String, Value> {
    let mut context = Map::new();
    if let Some(grants) = &identity.channel_grants {
        let joined = grants.iter().cloned().collect::<Vec<_>>().join(",");
        context.insert(CHANNELS.into(), Value::String(joined));
    }
    for (name, value) in &identity.claims {
        context.insert(
            format!("{CLAIM_PREFIX}{name}"),
            Value::String(value.clone()),
        );
    }
    context
}

/// The identity in `requestContext.authorizer`; `None` without a non-empty `principalId`.
pub fn decode<'a>(fields: impl IntoIterator<Item = (&'a String, &'a Value)>) -> Option<Identity> {
    let mut user_id = None;
    let mut channel_grants = None;
    let mut claims = BTreeMap::new();
    for (key, value) in fields {
        if key == PRINCIPAL_ID {
            user_id = value
                .as_str()
                .filter(|id| !id.is_empty())
                .map(str::to_owned);
        } else if key == CHANNELS {
            channel_grants = value.as_str().map(|list| {
                list.split(',')
                    .filter(|grant| !grant.is_empty())
                    .map(str::to_owned)
                    .collect::<BTreeSet<String>>()
            });
        } else if let Some(name) = key.strip_prefix(CLAIM_PREFIX) {
            // Another authorizer may send numbers or booleans; keep their text.
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            claims.insert(name.to_owned(), text);
        }
    }
    Some(Identity {
        user_id: user_id?,
        claims,
        channel_grants,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of(principal: &str, context: Map<String, Value>) -> Map<String, Value> {
        let mut fields = context;
        fields.insert(PRINCIPAL_ID.into(), Value::String(principal.into()));
        fields
    }

    #[test]
    fn an_identity_survives_the_round_trip() {
        for channel_grants in [
            None,
            Some(BTreeSet::new()),
            Some(["news".to_string(), "post:*".to_string()].into()),
        ] {
            let identity = Identity {
                user_id: "user-42".into(),
                claims: [("email".to_string(), "a@b.c".to_string())].into(),
                channel_grants,
            };
            let fields = fields_of("user-42", encode(&identity));
            assert_eq!(decode(&fields), Some(identity));
        }
    }

    #[test]
    fn no_principal_means_no_identity() {
        let identity = Identity {
            user_id: "u".into(),
            claims: BTreeMap::new(),
            channel_grants: None,
        };
        assert_eq!(decode(&encode(&identity)), None);
        assert_eq!(decode(&fields_of("", encode(&identity))), None);
    }

    #[test]
    fn claims_of_other_authorizers_keep_their_text() {
        let mut fields = fields_of("u", Map::new());
        fields.insert("claim.admin".into(), Value::Bool(true));
        fields.insert("claim.level".into(), Value::from(3));
        let identity = decode(&fields).unwrap();
        assert_eq!(identity.claims["admin"], "true");
        assert_eq!(identity.claims["level"], "3");
    }
}

/// Property test: what `ws-authorizer` writes, `ws-connect` reads back unchanged. `cases` keeps
/// `cargo test` quick; `PROPTEST_CASES=N` overrides it (proptest reads it by default).
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn identity() -> impl Strategy<Value = Identity> {
        (
            ".+",
            prop::collection::btree_map(any::<String>(), any::<String>(), 0..4),
            // A grant is never empty and never holds a comma (the separator).
            prop::option::of(prop::collection::btree_set("[^,]+", 0..4)),
        )
            .prop_map(|(user_id, claims, channel_grants)| Identity {
                user_id,
                claims,
                channel_grants,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn the_authorizer_context_round_trips(identity in identity()) {
            let mut fields = encode(&identity);
            // API Gateway puts the authorizer's principalId beside its context.
            fields.insert(PRINCIPAL_ID.into(), Value::String(identity.user_id.clone()));
            prop_assert_eq!(decode(&fields), Some(identity));
        }
    }
}
