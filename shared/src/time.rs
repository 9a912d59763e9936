//! Clock helpers, so every timestamp format we emit is produced in one place.

use chrono::{SecondsFormat, TimeZone, Utc};

/// Milliseconds since the Unix epoch, the unit of `connectedAt` and `requestTimeEpoch` in events.
pub fn now_epoch_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// ISO-8601 with millisecond precision and a `Z` suffix, as the management API and our protocol
/// use (`2026-11-22T04:00:00.123Z`).
pub fn iso8601_from_epoch_ms(epoch_ms: i64) -> String {
    Utc.timestamp_millis_opt(epoch_ms)
        .single()
        .unwrap_or_else(Utc::now)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The current time in [`iso8601_from_epoch_ms`]'s format.
pub fn now_iso8601() -> String {
    iso8601_from_epoch_ms(now_epoch_ms())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_has_millis_and_z() {
        assert_eq!(
            iso8601_from_epoch_ms(1_721_812_502_117),
            "2024-07-24T09:15:02.117Z"
        );
    }
}
