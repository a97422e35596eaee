//! Timestamps as the protocol writes them.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, RFC 3339 in UTC.
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .expect("the current time always formats")
}

/// Now, in milliseconds since the Unix epoch, for scheduling.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
