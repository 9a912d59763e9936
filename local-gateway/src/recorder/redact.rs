//! Masking credentials wherever the gateway shows a request: the query parameter `token`, the
//! `Authorization` header and the headers configured with `--secret-header`. The request log's
//! span and the inspector both go through [`Redactor`], so what one hides the other hides too.

use percent_encoding::percent_decode_str;
use serde_json::Value;
use std::borrow::Cow;

/// What a masked value reads as.
pub(crate) const MASK: &str = "***";

/// The query parameter that carries a credential (`?token=`, the handshake's JWT).
const SECRET_QUERY_PARAMETER: &str = "token";

#[derive(Clone, Debug)]
pub(crate) struct Redactor {
    /// Lower-case header names whose values are masked; `authorization` always.
    secret_headers: Vec<String>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(&[])
    }
}

impl Redactor {
    pub(crate) fn new(extra_secret_headers: &[String]) -> Self {
        let mut secret_headers = vec!["authorization".to_owned()];
        for name in extra_secret_headers {
            let name = name.trim().to_ascii_lowercase();
            if !name.is_empty() && !secret_headers.contains(&name) {
                secret_headers.push(name);
            }
        }
        Self { secret_headers }
    }

    pub(crate) fn is_secret_header(&self, name: &str) -> bool {
        self.secret_headers
            .iter()
            .any(|secret| secret.eq_ignore_ascii_case(name))
    }

    /// A raw query string (without `?`) with the value of every `token` parameter masked; the
    /// rest is kept byte for byte.
    pub(crate) fn query<'a>(&self, query: &'a str) -> Cow<'a, str> {
        let is_secret = |pair: &str| {
            let name = pair.split('=').next().unwrap_or_default();
            percent_decode_str(&name.replace('+', " "))
                .decode_utf8_lossy()
                .eq_ignore_ascii_case(SECRET_QUERY_PARAMETER)
        };
        if !query.split('&').any(is_secret) {
            return Cow::Borrowed(query);
        }
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if is_secret(pair) => format!("{name}={MASK}"),
                _ => pair.to_owned(),
            })
            .collect();
        Cow::Owned(masked.join("&"))
    }

    /// A request target (path and query) with its query masked.
    pub(crate) fn uri<'a>(&self, uri: &'a http::Uri) -> Cow<'a, str> {
        match uri.query() {
            Some(query) => Cow::Owned(format!("{}?{}", uri.path(), self.query(query))),
            None => Cow::Borrowed(uri.path()),
        }
    }

    /// Masks, anywhere in an event or a result: the values of keys that name a secret header or
    /// the `token` parameter (in `headers`, `multiValueHeaders`, `queryStringParameters`, …),
    /// and the `token` in a `rawQueryString`.
    pub(crate) fn json(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    if self.is_secret_header(key)
                        || key.eq_ignore_ascii_case(SECRET_QUERY_PARAMETER)
                    {
                        mask_value(value);
                    } else if key == "rawQueryString"
                        && let Value::String(query) = value
                        && let Cow::Owned(masked) = self.query(query)
                    {
                        *query = masked;
                    } else {
                        self.json(value);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.json(item)),
            _ => {}
        }
    }
}

fn mask_value(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(mask_value),
        Value::Null => {}
        other => *other = Value::String(MASK.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_token_parameter_is_masked_and_nothing_else() {
        let redactor = Redactor::default();
        assert_eq!(
            redactor.query("clientId=a&token=eyJ.x.y&b=2"),
            "clientId=a&token=***&b=2"
        );
        assert_eq!(redactor.query("TOKEN=1&%74oken=2"), "TOKEN=***&%74oken=***");
        assert_eq!(redactor.query("tokens=1&a=token"), "tokens=1&a=token");
        let uri: http::Uri = "/dev?token=secret".parse().unwrap();
        assert_eq!(redactor.uri(&uri), "/dev?token=***");
    }

    #[test]
    fn secret_headers_and_tokens_are_masked_anywhere_in_an_event() {
        let redactor = Redactor::new(&["X-Api-Key".into()]);
        let mut event = json!({
            "headers": {"Authorization": "Bearer abc", "x-api-key": "k", "Host": "h"},
            "multiValueHeaders": {"authorization": ["Bearer abc"]},
            "queryStringParameters": {"token": "jwt", "clientId": "c"},
            "multiValueQueryStringParameters": {"token": ["jwt"]},
            "rawQueryString": "token=jwt&x=1",
        });
        redactor.json(&mut event);
        assert_eq!(
            event,
            json!({
                "headers": {"Authorization": "***", "x-api-key": "***", "Host": "h"},
                "multiValueHeaders": {"authorization": ["***"]},
                "queryStringParameters": {"token": "***", "clientId": "c"},
                "multiValueQueryStringParameters": {"token": ["***"]},
                "rawQueryString": "token=***&x=1",
            })
        );
        assert!(redactor.is_secret_header("X-API-KEY"));
        assert!(!redactor.is_secret_header("Host"));
    }
}
