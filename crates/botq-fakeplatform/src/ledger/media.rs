//! QQ's rich-media uploads for group and C2C chats: `POST
//! /v2/groups/{id}/files` or `/v2/users/{id}/files` with `{"file_type",
//! "url", "srv_send_msg"}` answers a `file_info`, which a `msg_type` 7
//! message then carries as `media` (botpy's `post_group_file`; the docs'
//! "富媒体消息"). The fake holds what each `file_info` stands for, so a
//! delivery shows the image a user would see, and refuses a `file_info`
//! that was never uploaded, or uploaded by another bot or for another chat
//! (the fake's reading: an upload belongs to the chat it was made for).

use std::collections::{HashMap, VecDeque};

use crate::records::Endpoint;

/// Uploads kept, oldest forgotten first (the platform's answer says a TTL).
const KEPT: usize = 10_000;

/// How long the fake says an upload lives (`ttl` of the answer, seconds).
pub const TTL_SECS: u64 = 3600;

/// One upload: who made it, for which chat, of what.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Upload {
    bot: usize,
    endpoint: Endpoint,
    target: String,
    url: String,
}

/// The uploads the fake answered, by `file_info`.
#[derive(Debug, Default)]
pub struct MediaStore {
    by_info: HashMap<String, Upload>,
    order: VecDeque<String>,
}

impl MediaStore {
    /// Remembers that `bot` uploaded `url` for `target` (on the message
    /// endpoint `endpoint`) as `file_info`.
    pub fn upload(&mut self, file_info: &str, bot: usize, endpoint: Endpoint, target: &str, url: &str) {
        if self.order.len() >= KEPT
            && let Some(old) = self.order.pop_front()
        {
            self.by_info.remove(&old);
        }
        let upload = Upload { bot, endpoint, target: target.to_owned(), url: url.to_owned() };
        self.by_info.insert(file_info.to_owned(), upload);
        self.order.push_back(file_info.to_owned());
    }

    /// The URL behind `file_info`, when `bot` uploaded it for this chat.
    #[must_use]
    pub fn url(&self, file_info: &str, bot: usize, endpoint: Endpoint, target: &str) -> Option<&str> {
        self.by_info
            .get(file_info)
            .filter(|u| u.bot == bot && u.endpoint == endpoint && u.target == target)
            .map(|u| u.url.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_serves_only_its_bot_and_chat() {
        let mut m = MediaStore::default();
        m.upload("FI", 0, Endpoint::QqGroup, "G1", "https://x/a.png");
        assert_eq!(m.url("FI", 0, Endpoint::QqGroup, "G1"), Some("https://x/a.png"));
        assert_eq!(m.url("FI", 1, Endpoint::QqGroup, "G1"), None, "another bot");
        assert_eq!(m.url("FI", 0, Endpoint::QqGroup, "G2"), None, "another group");
        assert_eq!(m.url("FI", 0, Endpoint::QqC2c, "G1"), None, "another kind of chat");
        assert_eq!(m.url("nope", 0, Endpoint::QqGroup, "G1"), None);
    }

    #[test]
    fn the_oldest_uploads_are_forgotten_past_the_bound() {
        let mut m = MediaStore::default();
        for i in 0..=KEPT {
            m.upload(&i.to_string(), 0, Endpoint::QqC2c, "U", "https://x");
        }
        assert_eq!(m.url("0", 0, Endpoint::QqC2c, "U"), None);
        assert_eq!(m.url(&KEPT.to_string(), 0, Endpoint::QqC2c, "U"), Some("https://x"));
    }
}
