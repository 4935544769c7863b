//! QQ's passive-reply rules, decided with time passed in.
//!
//! A QQ reply names the inbound message (`msg_id`) and its own sequence
//! number (`msg_seq`; group and C2C default it to 1, the guild APIs have none).
//! The platform refuses a repeated pair (40054005, so a retried send is never
//! posted twice), more than five replies to one group or C2C message and any
//! reply after the message's window (both 40034128), and sends faster than its
//! per-chat rates (22009 for groups, C2C and guild DMs; 20028 for guild
//! sub-channels). Guild replies without `msg_seq` are not deduplicated, and
//! guild messages have no reply cap (the DM docs say "no limit", the channel
//! docs state none). The checks run
//! in that order: a duplicate is reported as a duplicate even after the window
//! (it *was* delivered, which is what the client needs to know), and a refused
//! request is never counted against the rate.
//!
//! The window is known only for messages a test registered (`/_fake/qq/inbound`),
//! because the fake does not see the webhooks. Reply entries are forgotten after
//! the longest window: past it the real platform refuses by window anyway.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::limits::{SlidingWindow, Throttle};
use crate::options::QqLimits;
use crate::records::Endpoint;

/// Inbound registrations are forgotten after a day.
const INBOUND_TTL_MS: i64 = 24 * 3600 * 1000;

/// Where an inbound QQ message was said, which decides its reply window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QqChatKind {
    Group,
    C2c,
    /// A guild sub-channel or guild DM.
    Guild,
}

/// Why a reply is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QqRefusal {
    /// This `msg_id` + `msg_seq` was delivered before (40054005).
    Duplicate,
    /// The message already has the maximum number of replies (40034128).
    TooManyReplies,
    /// The registered inbound message is older than its reply window (40034128).
    WindowPassed,
    /// Over the per-chat rate (22009).
    ChatRate { reset_at_ms: i64 },
    /// Over the per-sub-channel rate (20028).
    ChannelRate { reset_at_ms: i64 },
}

#[derive(Debug)]
struct Replies {
    first_ms: i64,
    seqs: Vec<u64>,
    count: usize,
}

/// Everything QQ remembers about replies.
#[derive(Debug)]
pub struct QqLedger {
    limits: QqLimits,
    replies: HashMap<(usize, String), Replies>,
    replies_order: VecDeque<(i64, usize, String)>,
    inbound: HashMap<String, (QqChatKind, i64)>,
    inbound_order: VecDeque<(i64, String)>,
    chat_rate: SlidingWindow,
    channel_rate: SlidingWindow,
    /// Rich-media uploads (`ledger/media.rs`).
    pub media: super::media::MediaStore,
}

impl QqLedger {
    #[must_use]
    pub fn new(limits: &QqLimits) -> Self {
        Self {
            limits: limits.clone(),
            replies: HashMap::new(),
            replies_order: VecDeque::new(),
            inbound: HashMap::new(),
            inbound_order: VecDeque::new(),
            chat_rate: SlidingWindow::new(limits.chat_rate, 1000),
            channel_rate: SlidingWindow::new(limits.channel_rate, 1000),
            media: super::media::MediaStore::default(),
        }
    }

    /// Remembers when inbound message `msg_id` arrived and where.
    pub fn register_inbound(&mut self, msg_id: &str, kind: QqChatKind, at_ms: i64) {
        self.inbound.insert(msg_id.to_owned(), (kind, at_ms));
        self.inbound_order.push_back((at_ms, msg_id.to_owned()));
    }

    /// Decides one reply of `bot` to `target` at `now_ms`; on `Ok` it counts as delivered.
    ///
    /// # Errors
    /// Why the platform refuses it.
    pub fn admit(
        &mut self,
        bot: usize,
        endpoint: Endpoint,
        target: &str,
        msg_id: &str,
        msg_seq: Option<u64>,
        now_ms: i64,
    ) -> Result<(), QqRefusal> {
        self.prune(now_ms);
        let key = (bot, msg_id.to_owned());
        let (seqs, count) = self.replies.get(&key).map_or((&[][..], 0), |r| (&r.seqs[..], r.count));
        if msg_seq.is_some_and(|seq| seqs.contains(&seq)) {
            return Err(QqRefusal::Duplicate);
        }
        if let Some(&(kind, at_ms)) = self.inbound.get(msg_id) {
            let window = match kind {
                QqChatKind::Group => self.limits.group_window,
                QqChatKind::C2c => self.limits.c2c_window,
                QqChatKind::Guild => self.limits.guild_window,
            };
            if now_ms - at_ms > i64::try_from(window.as_millis()).unwrap_or(i64::MAX) {
                return Err(QqRefusal::WindowPassed);
            }
        }
        let capped = matches!(endpoint, Endpoint::QqGroup | Endpoint::QqC2c);
        if capped && count >= self.limits.max_replies as usize {
            return Err(QqRefusal::TooManyReplies);
        }
        let throttle = match endpoint {
            Endpoint::QqChannel => match self.channel_rate.try_acquire(target, now_ms) {
                Throttle::Limited { reset_at_ms } => Err(QqRefusal::ChannelRate { reset_at_ms }),
                Throttle::Allowed => Ok(()),
            },
            _ => match self.chat_rate.try_acquire(&format!("{endpoint:?}:{target}"), now_ms) {
                Throttle::Limited { reset_at_ms } => Err(QqRefusal::ChatRate { reset_at_ms }),
                Throttle::Allowed => Ok(()),
            },
        };
        throttle?;
        let replies =
            self.replies.entry(key).or_insert_with(|| Replies { first_ms: now_ms, seqs: Vec::new(), count: 0 });
        if replies.count == 0 {
            self.replies_order.push_back((now_ms, bot, msg_id.to_owned()));
        }
        replies.count += 1;
        if let Some(seq) = msg_seq {
            replies.seqs.push(seq);
        }
        Ok(())
    }

    fn prune(&mut self, now_ms: i64) {
        let keep_ms = i64::try_from(self.limits.longest_window().as_millis()).unwrap_or(i64::MAX);
        while let Some((first_ms, bot, msg_id)) = self.replies_order.front().cloned()
            && first_ms <= now_ms.saturating_sub(keep_ms)
        {
            self.replies_order.pop_front();
            let key = (bot, msg_id);
            if self.replies.get(&key).is_some_and(|r| r.first_ms == first_ms) {
                self.replies.remove(&key);
            }
        }
        while let Some((at_ms, msg_id)) = self.inbound_order.front().cloned()
            && at_ms <= now_ms - INBOUND_TTL_MS
        {
            self.inbound_order.pop_front();
            if self.inbound.get(&msg_id).is_some_and(|&(_, t)| t == at_ms) {
                self.inbound.remove(&msg_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn ledger() -> QqLedger {
        QqLedger::new(&QqLimits::default())
    }

    #[test]
    fn the_same_msg_id_and_msg_seq_is_refused_as_a_duplicate() {
        let mut l = ledger();
        assert_eq!(l.admit(0, Endpoint::QqGroup, "G", "m1", Some(1), T0), Ok(()));
        assert_eq!(l.admit(0, Endpoint::QqGroup, "G", "m1", Some(1), T0 + 5_000), Err(QqRefusal::Duplicate));
        assert_eq!(l.admit(0, Endpoint::QqGroup, "G", "m1", Some(2), T0 + 5_000), Ok(()));
    }

    #[test]
    fn the_same_pair_from_another_bot_is_not_a_duplicate() {
        let mut l = ledger();
        assert_eq!(l.admit(0, Endpoint::QqGroup, "G", "m1", Some(1), T0), Ok(()));
        assert_eq!(l.admit(1, Endpoint::QqGroup, "G", "m1", Some(1), T0 + 1_000), Ok(()));
    }

    #[test]
    fn a_sixth_distinct_reply_to_one_message_is_refused() {
        let mut l = ledger();
        for seq in 1..=5 {
            assert_eq!(
                l.admit(0, Endpoint::QqC2c, "U", "m1", Some(seq), T0 + i64::try_from(seq).unwrap() * 1_000),
                Ok(())
            );
        }
        assert_eq!(l.admit(0, Endpoint::QqC2c, "U", "m1", Some(6), T0 + 10_000), Err(QqRefusal::TooManyReplies));
        assert_eq!(l.admit(0, Endpoint::QqC2c, "U", "m1", Some(3), T0 + 10_000), Err(QqRefusal::Duplicate));
    }

    #[test]
    fn guild_messages_have_no_reply_cap_and_replies_without_msg_seq_are_not_duplicates() {
        let mut l = ledger();
        for i in 1..=8 {
            let at = T0 + i64::try_from(i).unwrap() * 1_000;
            assert_eq!(l.admit(0, Endpoint::QqDm, "guild", "m1", Some(i), at), Ok(()));
            assert_eq!(l.admit(0, Endpoint::QqChannel, "C", "m2", None, at), Ok(()));
        }
    }

    #[test]
    fn a_reply_after_the_registered_window_is_refused_and_at_its_edge_is_accepted() {
        let mut l = ledger();
        l.register_inbound("g", QqChatKind::Group, T0);
        l.register_inbound("c", QqChatKind::C2c, T0);
        l.register_inbound("h", QqChatKind::Guild, T0);
        assert_eq!(l.admit(0, Endpoint::QqGroup, "G", "g", Some(1), T0 + 300_000), Ok(()));
        assert_eq!(l.admit(0, Endpoint::QqGroup, "G", "g", Some(2), T0 + 300_001), Err(QqRefusal::WindowPassed));
        assert_eq!(l.admit(0, Endpoint::QqC2c, "U", "c", Some(1), T0 + 3_600_000), Ok(()));
        assert_eq!(l.admit(0, Endpoint::QqC2c, "U", "c", Some(2), T0 + 3_600_001), Err(QqRefusal::WindowPassed));
        assert_eq!(l.admit(0, Endpoint::QqChannel, "C", "h", Some(1), T0 + 300_001), Err(QqRefusal::WindowPassed));
    }

    #[test]
    fn a_retried_reply_after_the_window_is_still_reported_as_a_duplicate() {
        let mut l = ledger();
        l.register_inbound("g", QqChatKind::Group, T0);
        assert_eq!(l.admit(0, Endpoint::QqGroup, "G", "g", Some(1), T0 + 1_000), Ok(()));
        assert_eq!(l.admit(0, Endpoint::QqGroup, "G", "g", Some(1), T0 + 400_000), Err(QqRefusal::Duplicate));
    }

    #[test]
    fn windows_are_configurable() {
        let limits = QqLimits { group_window: Duration::from_secs(1), ..QqLimits::default() };
        let mut l = QqLedger::new(&limits);
        l.register_inbound("g", QqChatKind::Group, T0);
        assert_eq!(l.admit(0, Endpoint::QqGroup, "G", "g", Some(1), T0 + 1_001), Err(QqRefusal::WindowPassed));
    }

    #[test]
    fn unregistered_messages_have_no_window() {
        let mut l = ledger();
        assert_eq!(l.admit(0, Endpoint::QqGroup, "G", "old", Some(1), T0 + 86_400_000), Ok(()));
    }

    #[test]
    fn more_than_five_messages_a_second_to_one_group_are_throttled_and_refusals_are_not_recorded() {
        let mut l = ledger();
        for i in 0..5 {
            assert_eq!(l.admit(0, Endpoint::QqGroup, "G", &format!("m{i}"), Some(1), T0 + i64::from(i) * 100), Ok(()));
        }
        assert_eq!(
            l.admit(0, Endpoint::QqGroup, "G", "m5", Some(1), T0 + 900),
            Err(QqRefusal::ChatRate { reset_at_ms: T0 + 1_000 })
        );
        assert_eq!(
            l.admit(0, Endpoint::QqGroup, "OTHER", "m6", Some(1), T0 + 900),
            Ok(()),
            "other chats are not affected"
        );
        assert_eq!(
            l.admit(0, Endpoint::QqGroup, "G", "m5", Some(1), T0 + 1_000),
            Ok(()),
            "the throttled reply was not recorded"
        );
    }

    #[test]
    fn guild_channels_are_throttled_per_channel_with_their_own_code() {
        let mut l = ledger();
        for i in 0..5 {
            assert_eq!(l.admit(0, Endpoint::QqChannel, "C", &format!("m{i}"), Some(1), T0), Ok(()));
        }
        assert_eq!(
            l.admit(0, Endpoint::QqChannel, "C", "m5", Some(1), T0 + 10),
            Err(QqRefusal::ChannelRate { reset_at_ms: T0 + 1_000 })
        );
    }

    #[test]
    fn reply_entries_are_forgotten_after_the_longest_window() {
        let mut l = ledger();
        assert_eq!(l.admit(0, Endpoint::QqGroup, "G", "m1", Some(1), T0), Ok(()));
        assert_eq!(l.admit(0, Endpoint::QqGroup, "G", "m2", Some(1), T0 + 3_600_000), Ok(()));
        assert!(!l.replies.contains_key(&(0, "m1".to_owned())));
        assert!(l.replies.contains_key(&(0, "m2".to_owned())));
    }
}
