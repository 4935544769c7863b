//! Credentials being rotated out: still accepted beside the current ones
//! until a deadline, so a secret can change without refusing a single genuine
//! webhook while the platform (or each of its delivery servers) switches over.
//!
//! The adapters always try the current credential first and fall back to a
//! previous one only while the request's own `now_ms` is before the deadline,
//! so the window closes on time without a reload and tests control the clock.
//! A previous credential only ever verifies: nothing botq sends (a QQ op-13
//! answer) is signed with it. Each request it admits is counted in
//! [`PREVIOUS_SECRET`](crate::telemetry::PREVIOUS_SECRET), which is how an
//! operator sees when the platform has stopped using it.

use std::fmt;

use super::Inbound;

/// A credential (or a key derived from one) that is accepted until `until_ms`.
pub(crate) struct Previous<T> {
    value: T,
    /// Unix milliseconds; from this instant on the credential is refused.
    until_ms: i64,
}

impl<T> Previous<T> {
    pub(crate) fn new(value: T, until_ms: i64) -> Self {
        Self { value, until_ms }
    }

    /// The credential while `now_ms` is before the deadline, else `None`.
    pub(crate) fn at(&self, now_ms: i64) -> Option<&T> {
        (now_ms < self.until_ms).then_some(&self.value)
    }
}

/// Finds the value of `previous` (if any) that is still accepted at `now_ms`.
pub(crate) fn active<T>(previous: Option<&Previous<T>>, now_ms: i64) -> Option<&T> {
    previous.and_then(|p| p.at(now_ms))
}

impl<T> fmt::Debug for Previous<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Previous")
            .field("value", &format_args!("***"))
            .field("until", &crate::rfc3339::format_unix_ms(self.until_ms))
            .finish()
    }
}

/// Counts (and logs at debug) a request admitted by a previous credential;
/// `credential` is the config key, never its value.
pub(crate) fn record_use(req: &Inbound<'_>, credential: &'static str) {
    metrics::counter!(crate::telemetry::PREVIOUS_SECRET, "bot" => req.bot.as_str().to_owned()).increment(1);
    tracing::debug!(
        bot = %req.bot,
        credential,
        "webhook verified with the previous credential; the platform still uses the old one"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_previous_credential_is_accepted_only_before_its_deadline() {
        let p = Previous::new("old", 1_000);
        assert_eq!(p.at(999), Some(&"old"));
        assert_eq!(p.at(1_000), None);
        assert_eq!(p.at(i64::MAX), None);
        assert_eq!(active(Some(&p), 0), Some(&"old"));
        assert_eq!(active::<&str>(None, 0), None);
    }

    #[test]
    fn debug_output_shows_the_deadline_but_not_the_value() {
        let shown = format!("{:?}", Previous::new("hunter2", 0));
        assert_eq!(shown, r#"Previous { value: ***, until: "1970-01-01T00:00:00.000Z" }"#);
    }
}
