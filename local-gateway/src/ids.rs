//! Identifiers in API Gateway's format.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use rand::RngCore;

/// A connection, request or message id: 11 random bytes in URL-safe base64, which is 15
/// characters of `[A-Za-z0-9_-]` and one `=`, like `Vb7rKfZ-joECH_A=`.
pub fn new_id() -> String {
    let mut bytes = [0u8; 11];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE.encode(bytes)
}

/// An X-Ray trace header value as API Gateway adds it to `$connect`: `Root=1-{epoch hex}-{24 hex}`.
pub fn new_trace_id(epoch_secs: i64) -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("Root=1-{epoch_secs:08x}-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_aws_shape() {
        for _ in 0..1000 {
            let id = new_id();
            assert_eq!(id.len(), 16, "{id}");
            assert!(id.ends_with('='), "{id}");
            assert!(
                id[..15]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{id}"
            );
        }
    }

    #[test]
    fn trace_ids_have_xray_shape() {
        let trace = new_trace_id(0x66a0c1d2);
        assert!(trace.starts_with("Root=1-66a0c1d2-"), "{trace}");
        assert_eq!(trace.len(), "Root=1-66a0c1d2-".len() + 24);
    }
}
