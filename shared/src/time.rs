//! Clock helpers, so every timestamp format we emit is produced in one place.

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch, the unit of `connectedAt` and `requestTimeEpoch` in events.
pub fn now_epoch_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// ISO-8601 with millisecond precision and a `Z` suffix, as the management API and our protocol
/// use (`2026-11-22T04:00:00.123Z`).
///
/// A value beyond what chrono represents (about 262,000 years either side of 1970) is clamped
/// to the nearest representable instant, so the answer is always about the timestamp given,
/// never the current time in its place.
pub fn iso8601_from_epoch_ms(epoch_ms: i64) -> String {
    let at = DateTime::<Utc>::from_timestamp_millis(epoch_ms).unwrap_or(if epoch_ms < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    });
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
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

    #[test]
    fn an_out_of_range_timestamp_is_never_replaced_by_the_current_time() {
        let now_year = now_iso8601()[..4].to_owned();
        for out_of_range in [i64::MAX, i64::MIN] {
            let formatted = iso8601_from_epoch_ms(out_of_range);
            assert!(
                !formatted.starts_with(&now_year),
                "{out_of_range} became {formatted}"
            );
        }
        assert_eq!(
            iso8601_from_epoch_ms(i64::MAX),
            "+262142-12-31T23:59:59.999Z",
            "clamped to the latest representable instant"
        );
        assert!(iso8601_from_epoch_ms(i64::MIN).starts_with("-262143-01-01T00:00:00"));
    }
}
