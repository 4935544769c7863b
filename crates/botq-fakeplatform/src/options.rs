//! The fake's knobs: token lifetime, platform limits and fault injection.
//!
//! Defaults are the platforms' documented values (QQ: 7200 s tokens, 5 replies
//! per message, reply windows of 5 min for groups and guilds and 60 min for
//! C2C; Lark: 5 QPS per chat), so a fake started with no flags behaves like
//! production. Tests shrink them (a 2 s token, a 1-per-second chat) to reach
//! edge cases quickly. Every value here is checked once, by [`Options::check`].

use std::time::Duration;

/// QQ's reply rules.
#[derive(Debug, Clone, PartialEq)]
pub struct QqLimits {
    /// Passive-reply window of a group message (default 5 min).
    pub group_window: Duration,
    /// Passive-reply window of a C2C message (default 60 min).
    pub c2c_window: Duration,
    /// Passive-reply window of a guild channel or DM message (default 5 min).
    pub guild_window: Duration,
    /// Distinct `msg_seq` values accepted per `msg_id` (group, C2C, channel; default 5).
    pub max_replies: u32,
    /// Messages per second to one group, one user, or one guild DM (22009 above it; default 5).
    pub chat_rate: u32,
    /// Messages per second to one guild sub-channel (20028 above it; default 5).
    pub channel_rate: u32,
}

impl Default for QqLimits {
    fn default() -> Self {
        Self {
            group_window: Duration::from_secs(300),
            c2c_window: Duration::from_secs(3600),
            guild_window: Duration::from_secs(300),
            max_replies: 5,
            chat_rate: 5,
            channel_rate: 5,
        }
    }
}

impl QqLimits {
    /// The longest reply window: how long a reply ledger entry must be remembered.
    #[must_use]
    pub fn longest_window(&self) -> Duration {
        self.group_window.max(self.c2c_window).max(self.guild_window)
    }
}

/// Everything configurable about the fake.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Lifetime of QQ and Lark access tokens (default 7200 s).
    pub token_ttl: Duration,
    /// Added to every message request before it is handled (default 0).
    pub latency: Duration,
    /// Share of message requests answered 503 (0.0–1.0).
    pub error_rate: f64,
    /// Share of message requests answered with the platform's throttle response.
    pub throttle_rate: f64,
    /// Share of message requests held for `timeout_hold`, then answered 504.
    pub timeout_rate: f64,
    /// How long an injected timeout (or lost answer) holds the request (default 30 s).
    pub timeout_hold: Duration,
    /// Share of message requests that are handled (delivered, idempotency
    /// ledgers updated) and whose answer is then lost: held for
    /// `timeout_hold`, then 504. The ambiguous failure a client can only
    /// survive with idempotency keys.
    pub lost_answer_rate: f64,
    pub qq: QqLimits,
    /// Lark messages per second to one chat (send and reply together; default 5).
    pub lark_chat_qps: u32,
    /// Deliveries and rejections kept for inspection (oldest dropped; counters stay exact).
    pub max_records: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(7200),
            latency: Duration::ZERO,
            error_rate: 0.0,
            throttle_rate: 0.0,
            timeout_rate: 0.0,
            timeout_hold: Duration::from_secs(30),
            lost_answer_rate: 0.0,
            qq: QqLimits::default(),
            lark_chat_qps: 5,
            max_records: 100_000,
        }
    }
}

/// An option value that makes no sense.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{option}: {problem}")]
pub struct OptionError {
    pub option: &'static str,
    pub problem: &'static str,
}

impl Options {
    /// Checks the values a command line could get wrong.
    ///
    /// # Errors
    /// The first value out of range.
    pub fn check(&self) -> Result<(), OptionError> {
        let bad = |option, problem| Err(OptionError { option, problem });
        for (option, rate) in [
            ("error-rate", self.error_rate),
            ("throttle-rate", self.throttle_rate),
            ("timeout-rate", self.timeout_rate),
            ("lost-answer-rate", self.lost_answer_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return bad(option, "must be between 0.0 and 1.0");
            }
        }
        if self.error_rate + self.throttle_rate + self.timeout_rate > 1.0 {
            return bad("error-rate", "error, throttle and timeout rates must add up to at most 1.0");
        }
        if self.token_ttl < Duration::from_secs(1) {
            return bad("token-ttl-secs", "must be at least 1");
        }
        if self.max_records == 0 {
            return bad("max-records", "must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_platforms_documented_values_and_pass_the_check() {
        let o = Options::default();
        assert_eq!(o.check(), Ok(()));
        assert_eq!(o.qq.longest_window(), Duration::from_secs(3600));
        assert_eq!(o.token_ttl, Duration::from_secs(7200));
    }

    #[test]
    fn fault_rates_outside_zero_to_one_or_adding_past_one_are_refused() {
        let o = Options { error_rate: 1.5, ..Options::default() };
        assert_eq!(o.check().unwrap_err().option, "error-rate");
        let o = Options { error_rate: 0.6, timeout_rate: 0.6, ..Options::default() };
        assert!(o.check().is_err());
        let o = Options { throttle_rate: f64::NAN, ..Options::default() };
        assert_eq!(o.check().unwrap_err().option, "throttle-rate");
        let o = Options { lost_answer_rate: -0.1, ..Options::default() };
        assert_eq!(o.check().unwrap_err().option, "lost-answer-rate");
    }
}
