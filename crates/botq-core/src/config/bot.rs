//! Checking one `[[bot]]` table: required and forbidden keys per platform,
//! secret resolution (the rotated-out ones in `rotation.rs`), and building
//! the platform adapter.

use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;

use super::raw::{RawBot, RawRateLimit};
use super::rotation::{self, PreviousCredentials};
use super::secret::SecretSource;
use super::{Problems, RateLimit, SkillConfig};
use crate::envelope::Platform;
use crate::ids::BotId;
use crate::platform::lark::config::LarkBot;
use crate::platform::onebot::config::OnebotBot;
use crate::platform::qq::config::QqBot;
use crate::platform::{Adapter, KeyError, PlatformBot, TimestampWindow, lark, onebot, qq};
use crate::routing::Routing;
use crate::throttle::Gcra;

/// Default: longer than Lark's ~7.1 h retry schedule, so a genuine retry with
/// its original timestamp is still admitted while dedupe (24 h) catches replays.
pub const DEFAULT_TIMESTAMP_WINDOW_SECS: u64 = 8 * 3600;
/// How far ahead of this machine's clock a platform timestamp may be.
pub const DEFAULT_CLOCK_SKEW_SECS: u64 = 300;
const MAX_CLOCK_SKEW_SECS: u64 = 3600;

/// A checked bot: its id, its platform's settings and its limits.
#[derive(Debug)]
pub struct BotConfig {
    pub id: BotId,
    /// Everything the platform needs, in the platform's own type
    /// (`platform::<name>::config`): what a bot lacks is a load error.
    pub platform: PlatformBot,
    /// Credentials being rotated out, still accepted until their deadline.
    pub previous: Option<PreviousCredentials>,
    /// How old a platform timestamp may be (`None`: not checked).
    pub timestamp_window: Option<Duration>,
    /// How far in the future a platform timestamp may be.
    pub clock_skew: Duration,
    pub rate_limit: RateLimit,
    pub routing: Routing,
    pub reply_limit: ReplyLimit,
}

/// Reply rates per chat and per bot; `None` = that limit is off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplyLimit {
    pub chat: Option<super::Gcra>,
    pub bot: Option<super::Gcra>,
}

impl ReplyLimit {
    /// Platform defaults: Lark 5 QPS per chat (shared by the group's bots) and
    /// 50/s per app; QQ 5/s per channel; OneBot 2/s per chat and 5/s per
    /// account (the spec warns fast sending gets accounts banned).
    #[must_use]
    pub fn platform_default(platform: Platform) -> Self {
        let g = |per_sec: f64, burst: u32| Some(super::Gcra { per_sec, burst });
        match platform {
            Platform::Lark => Self { chat: g(5.0, 5), bot: g(50.0, 50) },
            Platform::Qq => Self { chat: g(5.0, 5), bot: g(50.0, 50) },
            Platform::Onebot => Self { chat: g(2.0, 3), bot: g(5.0, 5) },
        }
    }
}

impl BotConfig {
    /// The bot's platform.
    #[must_use]
    pub fn platform(&self) -> Platform {
        self.platform.platform()
    }

    /// What weakens this bot's webhook path (see [`super::Config::warnings`]).
    #[must_use]
    pub fn warnings(&self) -> Vec<&'static str> {
        let mut found = Vec::new();
        if matches!(&self.platform, PlatformBot::Lark(b) if b.encrypt_key.is_none()) {
            found.push(
                "no encrypt_key: Lark signs nothing without one, so a captured webhook replayed after \
                 dedupe.ttl_secs is accepted as a new event; set an Encrypt Key in the Lark console and here",
            );
        }
        if matches!(&self.platform, PlatformBot::Onebot(b) if b.secret.is_none()) {
            found.push(
                "no secret: reports are not signed, so anyone who can reach the webhook can post events as \
                 this bot's users; set the implementation's secret and the same value here",
            );
        }
        if self.timestamp_window.is_none() {
            found.push(
                "timestamp_window_secs = 0: timestamps are not checked, so a webhook replayed after \
                 dedupe.ttl_secs is accepted as a new event",
            );
        }
        found
    }

    /// Builds the verifier for this bot's webhooks.
    ///
    /// # Errors
    /// The credentials cannot make a key (already ruled out by validation
    /// for configs that passed [`super::Config::load`]).
    pub fn adapter(&self) -> Result<Adapter, AdapterError> {
        let window =
            self.timestamp_window.map_or(TimestampWindow::OFF, |age| TimestampWindow::new(age, self.clock_skew));
        let previous = self.previous.as_ref();
        let adapter = match &self.platform {
            PlatformBot::Qq(b) => {
                let mut adapter =
                    qq::QqAdapter::new(b.app_id.clone(), &b.secret, window).map_err(AdapterError::Current)?;
                if let Some(p) = previous
                    && let Some(old) = &p.secret
                {
                    adapter = adapter.with_previous_secret(old, p.until_ms).map_err(AdapterError::Previous)?;
                }
                Adapter::Qq(adapter)
            }
            PlatformBot::Lark(b) => {
                let mut adapter =
                    lark::LarkAdapter::new(b.app_id.clone(), &b.verification_token, b.encrypt_key.as_ref(), window)
                        .map_err(AdapterError::Current)?;
                if let Some(p) = previous {
                    adapter = adapter
                        .with_previous(p.verification_token.as_ref(), p.encrypt_key.as_ref(), p.until_ms)
                        .map_err(AdapterError::Previous)?;
                }
                Adapter::Lark(match &b.bot_open_id {
                    Some(id) => adapter.with_bot_open_id(id.clone()),
                    None => adapter,
                })
            }
            PlatformBot::Onebot(b) => {
                let mut adapter = onebot::OnebotAdapter::new(b.self_id.clone(), b.secret.as_ref(), window)
                    .map_err(AdapterError::Current)?;
                if let Some(p) = previous
                    && let Some(old) = &p.secret
                {
                    adapter = adapter.with_previous_secret(old, p.until_ms).map_err(AdapterError::Previous)?;
                }
                Adapter::Onebot(adapter)
            }
        };
        Ok(adapter)
    }
}

/// Why a bot's credentials make no verifier: its current ones, or the ones
/// of a rotation still in its overlap.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("{0}")]
    Current(KeyError),
    #[error("previous: {0}")]
    Previous(KeyError),
}

/// Checks a bot's `[bot.rate_limit]`.
fn check_rate_limit(raw: &RawRateLimit, path: &str, problems: &mut Problems) -> RateLimit {
    let mut one = |rate: f64, burst: u32, name: &str| {
        if !(rate.is_finite() && rate >= 0.0) {
            problems.push(format!("{path}.{name}_per_sec"), "must be a number ≥ 0 (0 turns the limit off)".into());
            return None;
        }
        if rate > 0.0 && burst == 0 {
            problems.push(format!("{path}.{name}_burst"), "must be ≥ 1 when the limit is on".into());
        }
        (rate > 0.0).then_some(Gcra { per_sec: rate, burst: burst.max(1) })
    };
    RateLimit {
        group: one(raw.group_per_sec, raw.group_burst, "group"),
        sender: one(raw.sender_per_sec, raw.sender_burst, "sender"),
    }
}

/// Which keys each platform takes; everything else is an error on that bot.
fn allowed_keys(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::Qq => &["app_id", "secret", "api_base", "token_url"],
        Platform::Lark => &["app_id", "app_secret", "verification_token", "encrypt_key", "api_base", "bot_open_id"],
        Platform::Onebot => &["app_id", "secret", "access_token", "api_base"],
    }
}

fn required_keys(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::Qq => &["app_id", "secret"],
        Platform::Lark => &["app_id", "app_secret", "verification_token"],
        Platform::Onebot => &["api_base"],
    }
}

/// What checking the bots needs from the rest of the file.
pub(super) struct Context<'a> {
    /// `[ingest.rate_limit]`: each bot's limits unless it sets its own.
    pub default_limit: &'a RawRateLimit,
    /// `[dedupe] ttl_secs`: no bot's timestamp window may be longer.
    pub dedupe_ttl_secs: u64,
    /// Every skill, for the routes that name one.
    pub skills: &'a [SkillConfig],
    /// Every lane's name, for the routes that name one.
    pub lanes: &'a [String],
}

/// Checks every `[[bot]]` table: ids unique, each bot on its own, and every
/// skill and lane its routes name.
pub(super) fn check_bots(
    raw: Vec<RawBot>,
    cx: &Context<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Vec<BotConfig> {
    let mut bots = Vec::with_capacity(raw.len());
    let mut seen = std::collections::HashSet::new();
    for (i, raw_bot) in raw.into_iter().enumerate() {
        let path = format!("bot[{i}]");
        if !seen.insert(raw_bot.id.clone()) {
            problems.push(format!("{path}.id"), format!("duplicate bot id {:?}", raw_bot.id));
        }
        let window = raw_bot.timestamp_window_secs.unwrap_or(DEFAULT_TIMESTAMP_WINDOW_SECS);
        if window > cx.dedupe_ttl_secs {
            problems.push(
                format!("{path}.timestamp_window_secs"),
                format!(
                    "{window} exceeds dedupe.ttl_secs ({}): a replay older than the dedupe TTL but inside the window would be accepted",
                    cx.dedupe_ttl_secs
                ),
            );
        }
        if let Some(b) = check_bot(raw_bot, &path, cx.default_limit, env, base_dir, problems) {
            super::routing::check_references(&path, &b.routing, cx.skills, cx.lanes, problems);
            bots.push(b);
        }
    }
    bots
}

fn check_bot(
    raw: RawBot,
    path: &str,
    default_limit: &RawRateLimit,
    env: &dyn Fn(&str) -> Option<String>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<BotConfig> {
    let id = BotId::parse(&raw.id).map_err(|e| problems.push(format!("{path}.id"), e.to_string())).ok();
    let platform = match raw.platform.as_str() {
        "qq" => Some(Platform::Qq),
        "lark" => Some(Platform::Lark),
        "onebot" => Some(Platform::Onebot),
        other => {
            problems
                .push(format!("{path}.platform"), format!("unknown platform {other:?}; expected qq, lark or onebot"));
            None
        }
    };
    let platform = platform?;
    let present: Vec<(&str, bool)> = vec![
        ("app_id", raw.app_id.is_some()),
        ("secret", raw.secret.is_some()),
        ("api_base", raw.api_base.is_some()),
        ("token_url", raw.token_url.is_some()),
        ("app_secret", raw.app_secret.is_some()),
        ("verification_token", raw.verification_token.is_some()),
        ("encrypt_key", raw.encrypt_key.is_some()),
        ("access_token", raw.access_token.is_some()),
        ("bot_open_id", raw.bot_open_id.is_some()),
    ];
    let before = problems.len();
    for (key, is_set) in &present {
        if *is_set && !allowed_keys(platform).contains(key) {
            problems.push(format!("{path}.{key}"), format!("not a setting of {} bots", platform.as_str()));
        }
        if !*is_set && required_keys(platform).contains(key) {
            problems.push(format!("{path}.{key}"), format!("required for {} bots", platform.as_str()));
        }
    }
    if let (Platform::Onebot, Some(self_id)) = (platform, &raw.app_id)
        && (self_id.is_empty() || !self_id.bytes().all(|b| b.is_ascii_digit()))
    {
        problems.push(format!("{path}.app_id"), "a OneBot app_id is the bot's QQ number (digits)".to_owned());
    }
    for (key, url) in [("api_base", &raw.api_base), ("token_url", &raw.token_url)] {
        if let Some(url) = url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            problems.push(format!("{path}.{key}"), "must be an http:// or https:// URL".to_owned());
        }
    }
    let mut secret = |key: &str, src: &Option<SecretSource>| -> Option<SecretString> {
        src.as_ref().and_then(|s| {
            s.resolve(env, base_dir).map_err(|e| problems.push(format!("{path}.{key}"), e.to_string())).ok()
        })
    };
    let secret_v = secret("secret", &raw.secret);
    let app_secret = secret("app_secret", &raw.app_secret);
    let verification_token = secret("verification_token", &raw.verification_token);
    let encrypt_key = secret("encrypt_key", &raw.encrypt_key);
    let access_token = secret("access_token", &raw.access_token);
    let previous = raw.previous.as_ref().and_then(|p| {
        let current = [
            ("secret", secret_v.as_ref()),
            ("verification_token", verification_token.as_ref()),
            ("encrypt_key", encrypt_key.as_ref()),
        ];
        rotation::check_previous(p, platform, &current, path, env, base_dir, problems)
    });
    let limit = raw.rate_limit.as_ref().unwrap_or(default_limit);
    let rate_limit = check_rate_limit(limit, &format!("{path}.rate_limit"), problems);
    let window_secs = raw.timestamp_window_secs.unwrap_or(DEFAULT_TIMESTAMP_WINDOW_SECS);
    let clock_skew_secs = raw.clock_skew_secs.unwrap_or(DEFAULT_CLOCK_SKEW_SECS);
    if clock_skew_secs > MAX_CLOCK_SKEW_SECS {
        problems.push(
            format!("{path}.clock_skew_secs"),
            format!("must be ≤ {MAX_CLOCK_SKEW_SECS}: a clock further off needs fixing (NTP), not a wider window"),
        );
    }
    let routing = super::routing::check_routing(&raw, platform, path, problems);
    let reply_limit = check_reply_limit(raw.reply_limit.as_ref(), platform, path, problems);
    if problems.len() > before {
        return None;
    }
    // Every required key was checked above: a missing one is a problem already.
    let platform = match platform {
        Platform::Qq => PlatformBot::Qq(QqBot {
            app_id: raw.app_id?,
            secret: secret_v?,
            api_base: raw.api_base.unwrap_or_else(|| qq::config::API_BASE.to_owned()),
            token_url: raw.token_url.unwrap_or_else(|| qq::config::TOKEN_URL.to_owned()),
        }),
        Platform::Lark => PlatformBot::Lark(LarkBot {
            app_id: raw.app_id?,
            app_secret: app_secret?,
            verification_token: verification_token?,
            encrypt_key,
            api_base: raw.api_base.unwrap_or_else(|| lark::config::API_BASE.to_owned()),
            bot_open_id: raw.bot_open_id,
        }),
        Platform::Onebot => PlatformBot::Onebot(OnebotBot {
            self_id: raw.app_id,
            secret: secret_v,
            access_token,
            api_base: raw.api_base?,
        }),
    };
    let bot = BotConfig {
        id: id?,
        platform,
        previous,
        timestamp_window: (window_secs > 0).then(|| Duration::from_secs(window_secs)),
        clock_skew: Duration::from_secs(clock_skew_secs),
        rate_limit,
        routing,
        reply_limit,
    };
    if let Err(e) = bot.adapter() {
        problems.push(path.to_owned(), e.to_string());
        return None;
    }
    Some(bot)
}

fn check_reply_limit(
    raw: Option<&super::raw::RawReplyLimit>,
    platform: Platform,
    path: &str,
    problems: &mut Problems,
) -> ReplyLimit {
    let default = ReplyLimit::platform_default(platform);
    let Some(raw) = raw else { return default };
    let mut one = |name: &str, rate: Option<f64>, burst: Option<u32>, default: Option<super::Gcra>| {
        let per_sec = rate.unwrap_or(default.map_or(0.0, |g| g.per_sec));
        let burst = burst.unwrap_or(default.map_or(1, |g| g.burst));
        if !(per_sec.is_finite() && per_sec >= 0.0) {
            problems.push(format!("{path}.reply_limit.{name}_per_sec"), "must be a number ≥ 0".to_owned());
            return None;
        }
        if burst == 0 {
            problems.push(format!("{path}.reply_limit.{name}_burst"), "must be ≥ 1".to_owned());
        }
        (per_sec > 0.0).then_some(super::Gcra { per_sec, burst: burst.max(1) })
    };
    ReplyLimit {
        chat: one("chat", raw.chat_per_sec, raw.chat_burst, default.chat),
        bot: one("bot", raw.bot_per_sec, raw.bot_burst, default.bot),
    }
}
