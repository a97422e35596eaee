//! How long a client waits before trying again: the outbox's replays and the live
//! connection's reconnects share one rule.

/// First wait after a failed send; doubled per further attempt.
pub const BACKOFF_BASE_MS: u64 = 1_000;
/// The longest wait between two attempts.
pub const BACKOFF_CAP_MS: u64 = 5 * 60 * 1000;

/// How long to wait before attempt `attempts + 1`, with "equal jitter": half the exponential
/// delay is fixed, half random (`jitter` in [0, 1)), so many clients coming back online at once
/// do not retry in step.
pub fn backoff_ms(attempts: u32, jitter: f64) -> u64 {
    let exp = BACKOFF_BASE_MS
        .saturating_mul(1u64 << attempts.saturating_sub(1).min(20))
        .min(BACKOFF_CAP_MS);
    let half = exp / 2;
    half + (half as f64 * jitter.clamp(0.0, 1.0)) as u64
}
