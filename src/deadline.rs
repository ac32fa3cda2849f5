//! The deadline of a request from Prometheus: the configured timeout, lowered by the
//! `X-Prometheus-Scrape-Timeout-Seconds` header (scrapes and probes alike).

use std::time::Duration;

/// Subtracted from Prometheus' scrape timeout so the answer arrives before Prometheus gives up.
pub const TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// The deadline of a scrape: the smaller of the configured `timeout` and the scrape-timeout
/// header minus [`TIMEOUT_OFFSET`].
pub fn deadline_for(timeout: Duration, header: Option<&str>) -> Duration {
    let from_header = header
        .and_then(|h| h.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| {
            let d = Duration::from_secs_f64(s.min(86_400.0));
            // A tiny header still leaves some time rather than none.
            d.checked_sub(TIMEOUT_OFFSET)
                .filter(|d| !d.is_zero())
                .unwrap_or(d / 2)
        });
    match from_header {
        Some(h) => h.min(timeout),
        None => timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_takes_the_smaller_of_timeout_and_header() {
        let t = Duration::from_secs(10);
        assert_eq!(deadline_for(t, None), t);
        assert_eq!(deadline_for(t, Some("5")), Duration::from_millis(4500));
        assert_eq!(deadline_for(t, Some("30")), t);
        assert_eq!(deadline_for(t, Some("0.4")), Duration::from_millis(200));
        assert_eq!(deadline_for(t, Some("nonsense")), t);
        assert_eq!(deadline_for(t, Some("-3")), t);
        assert_eq!(deadline_for(t, Some("NaN")), t);
    }
}
