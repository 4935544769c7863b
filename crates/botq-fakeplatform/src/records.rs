//! What the fake saw: every delivery, every refusal, and counters.
//!
//! Tests assert on these (over `/_fake/*` or in-process), so each record
//! carries what a test asks about: which bot, which endpoint, which chat, what
//! text, under which idempotency key. The logs are capped (oldest dropped) so a
//! long benchmark does not grow the fake without bound; the counters in
//! [`Stats`] are exact whatever the cap.

use std::collections::{BTreeMap, VecDeque};

use botq_core::envelope::Platform;
use serde::{Deserialize, Serialize};

/// Which reply API a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST /v2/groups/{group_openid}/messages`
    QqGroup,
    /// `POST /v2/users/{openid}/messages`
    QqC2c,
    /// `POST /channels/{channel_id}/messages`
    QqChannel,
    /// `POST /dms/{guild_id}/messages`
    QqDm,
    /// `POST /open-apis/im/v1/messages`
    LarkSend,
    /// `POST /open-apis/im/v1/messages/{message_id}/reply`
    LarkReply,
    /// OneBot `send_group_msg`, or `send_msg` to a group
    OnebotGroup,
    /// OneBot `send_private_msg`, or `send_msg` to a user
    OnebotPrivate,
}

impl Endpoint {
    /// The name used in JSON and logs, e.g. `qq_group`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QqGroup => "qq_group",
            Self::QqC2c => "qq_c2c",
            Self::QqChannel => "qq_channel",
            Self::QqDm => "qq_dm",
            Self::LarkSend => "lark_send",
            Self::LarkReply => "lark_reply",
            Self::OnebotGroup => "onebot_group",
            Self::OnebotPrivate => "onebot_private",
        }
    }

    #[must_use]
    pub fn platform(self) -> Platform {
        match self {
            Self::QqGroup | Self::QqC2c | Self::QqChannel | Self::QqDm => Platform::Qq,
            Self::LarkSend | Self::LarkReply => Platform::Lark,
            Self::OnebotGroup | Self::OnebotPrivate => Platform::Onebot,
        }
    }
}

/// One message the fake accepted and "delivered" to a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub platform: Platform,
    /// The configured bot whose credentials authorised the request.
    pub bot: String,
    pub endpoint: Endpoint,
    /// Group / user / channel / guild id, Lark `receive_id`, or the replied-to Lark message id.
    pub target: String,
    /// The text a user would see (`shown`): QQ content unescaped and its
    /// markup read, Lark `<at>` tags or post elements read, OneBot CQ codes
    /// read unless `auto_escape`; a live mention shows as `@<user id>`.
    pub text: String,
    /// Users the message mentions for real (`all`: everyone).
    #[serde(default)]
    pub mentions: Vec<String>,
    /// The message it quotes (QQ `message_reference`, OneBot `reply`).
    #[serde(default)]
    pub quote: Option<String>,
    /// Images it carries (QQ guild `image`, OneBot `image` segments).
    #[serde(default)]
    pub images: Vec<String>,
    /// The message this one replies to: QQ `msg_id`, Lark reply `message_id`.
    pub reply_to: Option<String>,
    /// QQ `msg_id:msg_seq` (none for a guild reply without `msg_seq`), Lark `uuid`, OneBot none.
    pub idempotency_key: Option<String>,
    pub received_at_ms: i64,
    /// The id the fake assigned (OneBot's int32 as a decimal string).
    pub message_id: String,
}

/// One request the fake refused (auth, validation, dedupe, limits, injected faults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub platform: Platform,
    /// Known once the credentials matched a bot.
    pub bot: Option<String>,
    /// `None` for token requests.
    pub endpoint: Option<Endpoint>,
    pub target: Option<String>,
    pub idempotency_key: Option<String>,
    /// HTTP status answered.
    pub status: u16,
    /// The platform code in the body (QQ/Lark `code`, OneBot `retcode`; 0 when the body has none).
    pub code: i64,
    pub reason: String,
    pub received_at_ms: i64,
}

/// Faults injected by `--error-rate` / `--throttle-rate` / `--timeout-rate` and the script.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCounts {
    /// 5xx (and any other non-429 status) answers.
    pub error: u64,
    pub throttle: u64,
    /// Requests held for the timeout period, then answered 504.
    pub timeout: u64,
    /// Requests delivered whose answer was then lost (held, then 504).
    pub lost_answer: u64,
    /// Scripted delays that were then handled normally.
    pub delay: u64,
    /// How many of the above came from the script.
    pub scripted: u64,
}

/// Exact counters since start or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Token requests by platform (`qq`, `lark`), successful or not.
    pub token_requests: BTreeMap<String, u64>,
    /// Token requests by the `app_id` asked for (`unknown` when it matches no bot).
    pub token_requests_by_app: BTreeMap<String, u64>,
    /// Token requests refused (wrong or unknown credentials, bad body).
    pub token_failures: u64,
    pub deliveries: u64,
    pub deliveries_by_platform: BTreeMap<String, u64>,
    pub deliveries_by_bot: BTreeMap<String, u64>,
    /// Requests not delivered again because of their idempotency key: QQ
    /// 40054005 answers and Lark `uuid` replays answered with the first message id.
    pub deduplicated: u64,
    /// Requests refused by the fake's own platform rate limits (not injected ones).
    pub throttled: u64,
    /// Every refused request, whatever the reason (also listed in `/_fake/rejections`).
    pub rejected: u64,
    pub faults: FaultCounts,
}

/// The capped logs and the counters.
#[derive(Debug)]
pub(crate) struct Records {
    pub deliveries: VecDeque<Delivery>,
    pub rejections: VecDeque<Rejection>,
    /// QQ interaction answers: bot, interaction id, code.
    pub interactions: Vec<(String, String, i64)>,
    pub stats: Stats,
    cap: usize,
}

impl Records {
    pub fn new(cap: usize) -> Self {
        Self {
            deliveries: VecDeque::new(),
            rejections: VecDeque::new(),
            interactions: Vec::new(),
            stats: Stats::default(),
            cap: cap.max(1),
        }
    }

    pub fn delivered(&mut self, d: Delivery) {
        self.stats.deliveries += 1;
        *self.stats.deliveries_by_platform.entry(d.platform.as_str().to_owned()).or_default() += 1;
        *self.stats.deliveries_by_bot.entry(d.bot.clone()).or_default() += 1;
        if self.deliveries.len() == self.cap {
            self.deliveries.pop_front();
        }
        self.deliveries.push_back(d);
    }

    pub fn rejected(&mut self, r: Rejection) {
        self.stats.rejected += 1;
        if self.rejections.len() == self.cap {
            self.rejections.pop_front();
        }
        self.rejections.push_back(r);
    }

    pub fn token_requested(&mut self, platform: Platform, app: &str, ok: bool) {
        *self.stats.token_requests.entry(platform.as_str().to_owned()).or_default() += 1;
        *self.stats.token_requests_by_app.entry(app.to_owned()).or_default() += 1;
        if !ok {
            self.stats.token_failures += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(n: usize) -> Delivery {
        Delivery {
            platform: Platform::Onebot,
            bot: "ob".into(),
            endpoint: Endpoint::OnebotGroup,
            target: "1".into(),
            text: format!("m{n}"),
            mentions: Vec::new(),
            quote: None,
            images: Vec::new(),
            reply_to: None,
            idempotency_key: None,
            received_at_ms: 0,
            message_id: n.to_string(),
        }
    }

    #[test]
    fn endpoint_names_in_logs_match_their_json_names() {
        for e in [Endpoint::QqGroup, Endpoint::QqC2c, Endpoint::QqDm, Endpoint::LarkReply, Endpoint::OnebotPrivate] {
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
    }

    #[test]
    fn the_delivery_log_keeps_the_newest_entries_while_counters_stay_exact() {
        let mut r = Records::new(3);
        for n in 0..5 {
            r.delivered(delivery(n));
        }
        let texts: Vec<_> = r.deliveries.iter().map(|d| d.text.as_str()).collect();
        assert_eq!(texts, ["m2", "m3", "m4"]);
        assert_eq!(r.stats.deliveries, 5);
        assert_eq!(r.stats.deliveries_by_platform["onebot"], 5);
    }
}
