//! Access tokens of QQ (`getAppAccessToken`) and Lark (`tenant_access_token`).
//!
//! Both platforms hand out a bearer token for `ttl`, and both keep returning
//! the *same* token until it is close to expiry: QQ issues a new one in the
//! last 60 s, Lark when less than 30 min remain; the old token stays valid
//! until its own expiry, so two can be live at once. The fake does the same,
//! because that overlap is exactly where a client's token cache goes wrong
//! (refreshing too late, or throwing away a token that still works).
//!
//! Tokens are random strings mapped to the bot that fetched them; `now_ms` is
//! an argument everywhere so expiry is tested without waiting. Tokens are
//! credentials: they are never logged.

use std::collections::HashMap;

/// QQ returns a new token only within this long of the current one's expiry.
pub const QQ_RENEW_WITHIN_MS: i64 = 60_000;
/// Lark returns a new token only when less than this remains.
pub const LARK_RENEW_WITHIN_MS: i64 = 30 * 60_000;

#[derive(Debug, Clone, Copy)]
struct Issued {
    bot: usize,
    expires_at_ms: i64,
}

/// A token handed out, with its remaining lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub token: String,
    pub expires_in_secs: i64,
}

/// Every live token, and the newest one of each bot.
#[derive(Debug, Default)]
pub struct Tokens {
    by_token: HashMap<String, Issued>,
    newest: HashMap<usize, String>,
}

impl Tokens {
    /// The token for `bot` at `now_ms`: the newest one if more than
    /// `renew_within_ms` of it remains, else a fresh one from `mint` living `ttl_ms`.
    pub fn grant(
        &mut self,
        bot: usize,
        now_ms: i64,
        ttl_ms: i64,
        renew_within_ms: i64,
        mint: impl FnOnce() -> String,
    ) -> Grant {
        self.by_token.retain(|_, t| t.expires_at_ms > now_ms);
        if let Some(token) = self.newest.get(&bot)
            && let Some(issued) = self.by_token.get(token)
            && issued.expires_at_ms - now_ms > renew_within_ms
        {
            return Grant { token: token.clone(), expires_in_secs: (issued.expires_at_ms - now_ms) / 1000 };
        }
        let token = mint();
        self.by_token.insert(token.clone(), Issued { bot, expires_at_ms: now_ms + ttl_ms });
        self.newest.insert(bot, token.clone());
        Grant { token, expires_in_secs: ttl_ms / 1000 }
    }

    /// The bot a token belongs to, if the token exists and has not expired at `now_ms`.
    #[must_use]
    pub fn bot_of(&self, token: &str, now_ms: i64) -> Option<usize> {
        self.by_token.get(token).filter(|t| t.expires_at_ms > now_ms).map(|t| t.bot)
    }

    /// Forgets every token: the next API call with one gets the "token invalid" answer.
    pub fn revoke_all(&mut self) {
        self.by_token.clear();
        self.newest.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: i64 = 7_200_000;

    fn minter(name: &str) -> impl FnOnce() -> String + '_ {
        move || name.to_owned()
    }

    #[test]
    fn a_token_is_valid_until_its_ttl_and_not_a_millisecond_longer() {
        let mut t = Tokens::default();
        let g = t.grant(0, 1_000, TTL, QQ_RENEW_WITHIN_MS, minter("a"));
        assert_eq!(g, Grant { token: "a".into(), expires_in_secs: 7200 });
        assert_eq!(t.bot_of("a", 1_000 + TTL - 1), Some(0));
        assert_eq!(t.bot_of("a", 1_000 + TTL), None);
        assert_eq!(t.bot_of("nope", 1_000), None);
    }

    #[test]
    fn qq_returns_the_same_token_until_its_last_minute_with_the_remaining_lifetime() {
        let mut t = Tokens::default();
        t.grant(0, 0, TTL, QQ_RENEW_WITHIN_MS, minter("a"));
        let again = t.grant(0, TTL - 60_001, TTL, QQ_RENEW_WITHIN_MS, minter("b"));
        assert_eq!(again, Grant { token: "a".into(), expires_in_secs: 60 });
        let renewed = t.grant(0, TTL - 60_000, TTL, QQ_RENEW_WITHIN_MS, minter("b"));
        assert_eq!(renewed.token, "b");
        assert_eq!(t.bot_of("a", TTL - 1), Some(0), "the old token stays valid until its own expiry");
        assert_eq!(t.bot_of("b", TTL), Some(0));
    }

    #[test]
    fn lark_renews_when_less_than_thirty_minutes_remain() {
        let mut t = Tokens::default();
        t.grant(3, 0, TTL, LARK_RENEW_WITHIN_MS, minter("t-a"));
        assert_eq!(t.grant(3, 5_399_999, TTL, LARK_RENEW_WITHIN_MS, minter("t-b")).token, "t-a");
        assert_eq!(t.grant(3, 5_400_000, TTL, LARK_RENEW_WITHIN_MS, minter("t-b")).token, "t-b");
    }

    #[test]
    fn tokens_of_different_bots_are_independent() {
        let mut t = Tokens::default();
        t.grant(0, 0, TTL, QQ_RENEW_WITHIN_MS, minter("a"));
        t.grant(1, 0, TTL, QQ_RENEW_WITHIN_MS, minter("b"));
        assert_eq!(t.bot_of("a", 1), Some(0));
        assert_eq!(t.bot_of("b", 1), Some(1));
    }

    #[test]
    fn revoked_tokens_are_unknown() {
        let mut t = Tokens::default();
        t.grant(0, 0, TTL, QQ_RENEW_WITHIN_MS, minter("a"));
        t.revoke_all();
        assert_eq!(t.bot_of("a", 1), None);
    }
}
