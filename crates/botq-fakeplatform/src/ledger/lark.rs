//! Lark's send rules, decided with time passed in: `uuid` dedupe and the
//! per-chat rate.
//!
//! A send or reply carrying a `uuid` succeeds at most once per hour; Lark
//! answers a repeat with success and the first message's id, so the client
//! cannot tell a replay from a first send, and must not need to. The fake
//! keeps `(bot, uuid) → first message` for that hour. Sends to one chat are
//! limited to 5 per second (shared by every bot in the chat); a reply's chat is
//! the chat of the message replied to, known only when a test registered it
//! (`/_fake/lark/inbound`), else the replied-to message id stands in for it.

use std::collections::{HashMap, VecDeque};

use crate::limits::{SlidingWindow, Throttle};

/// How long a `uuid` is remembered: "持有相同uuid的请求1小时内至多成功执行一次".
pub const UUID_TTL_MS: i64 = 3_600_000;

/// The first successful send under a `uuid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub message_id: String,
    pub chat_id: String,
    pub at_ms: i64,
}

/// Everything Lark remembers about sends.
#[derive(Debug)]
pub struct LarkLedger {
    sent: HashMap<(usize, String), Sent>,
    sent_order: VecDeque<(i64, usize, String)>,
    chats: HashMap<String, String>,
    rate: SlidingWindow,
}

impl LarkLedger {
    #[must_use]
    pub fn new(chat_qps: u32) -> Self {
        Self {
            sent: HashMap::new(),
            sent_order: VecDeque::new(),
            chats: HashMap::new(),
            rate: SlidingWindow::new(chat_qps, 1000),
        }
    }

    /// The configured per-chat limit (for `x-ogw-ratelimit-limit`).
    #[must_use]
    pub fn chat_qps(&self) -> u32 {
        self.rate.limit()
    }

    /// Remembers that message `message_id` was said in `chat_id`.
    pub fn register_inbound(&mut self, message_id: &str, chat_id: &str) {
        self.chats.insert(message_id.to_owned(), chat_id.to_owned());
    }

    /// The registered chat of a message.
    #[must_use]
    pub fn chat_of(&self, message_id: &str) -> Option<&str> {
        self.chats.get(message_id).map(String::as_str)
    }

    /// The first send of `bot` under `uuid` within the last hour, if any.
    pub fn prior(&mut self, bot: usize, uuid: &str, now_ms: i64) -> Option<Sent> {
        self.prune(now_ms);
        self.sent.get(&(bot, uuid.to_owned())).cloned()
    }

    /// Counts one send to `rate_key` at `now_ms` against the per-chat rate.
    pub fn acquire(&mut self, rate_key: &str, now_ms: i64) -> Throttle {
        self.rate.try_acquire(rate_key, now_ms)
    }

    /// Remembers a successful send under `uuid`.
    pub fn remember(&mut self, bot: usize, uuid: &str, sent: Sent) {
        self.sent_order.push_back((sent.at_ms, bot, uuid.to_owned()));
        self.sent.insert((bot, uuid.to_owned()), sent);
    }

    fn prune(&mut self, now_ms: i64) {
        while let Some((at_ms, bot, uuid)) = self.sent_order.front().cloned()
            && at_ms <= now_ms - UUID_TTL_MS
        {
            self.sent_order.pop_front();
            let key = (bot, uuid);
            if self.sent.get(&key).is_some_and(|s| s.at_ms == at_ms) {
                self.sent.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn sent(id: &str, at_ms: i64) -> Sent {
        Sent { message_id: id.into(), chat_id: "oc_1".into(), at_ms }
    }

    #[test]
    fn a_uuid_is_remembered_for_one_hour_then_forgotten() {
        let mut l = LarkLedger::new(5);
        assert_eq!(l.prior(0, "u1", T0), None);
        l.remember(0, "u1", sent("om_1", T0));
        assert_eq!(l.prior(0, "u1", T0 + UUID_TTL_MS - 1), Some(sent("om_1", T0)));
        assert_eq!(l.prior(0, "u1", T0 + UUID_TTL_MS), None);
    }

    #[test]
    fn uuids_are_scoped_to_one_app() {
        let mut l = LarkLedger::new(5);
        l.remember(0, "u1", sent("om_1", T0));
        assert_eq!(l.prior(1, "u1", T0), None);
    }

    #[test]
    fn the_sixth_send_to_one_chat_within_a_second_is_limited_until_the_window_moves() {
        let mut l = LarkLedger::new(5);
        for i in 0..5 {
            assert_eq!(l.acquire("oc_1", T0 + i * 10), Throttle::Allowed);
        }
        assert_eq!(l.acquire("oc_1", T0 + 500), Throttle::Limited { reset_at_ms: T0 + 1_000 });
        assert_eq!(l.acquire("oc_2", T0 + 500), Throttle::Allowed);
        assert_eq!(l.acquire("oc_1", T0 + 1_000), Throttle::Allowed);
    }

    #[test]
    fn registered_messages_know_their_chat() {
        let mut l = LarkLedger::new(5);
        l.register_inbound("om_in", "oc_9");
        assert_eq!(l.chat_of("om_in"), Some("oc_9"));
        assert_eq!(l.chat_of("om_other"), None);
    }
}
