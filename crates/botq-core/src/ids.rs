//! Identifier newtypes, validated once at the boundary.
//!
//! A `BotId` is a URL path segment and part of Redis keys, so its alphabet is
//! restricted; an `EventId` is whatever the platform calls an event's identity
//! (used for dedupe), and a `RequestId` is botq's own UUIDv7 that follows the
//! event through every log line from ingest to reply.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A bot's id: `[a-z0-9-]{1,64}`, the `{id}` of `POST /webhooks/{id}`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BotId(String);

/// Why a string is not a valid [`BotId`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bot id must match [a-z0-9-]{{1,64}}")]
pub struct InvalidBotId;

impl BotId {
    /// Validates `s` as a bot id.
    ///
    /// # Errors
    /// [`InvalidBotId`] when `s` is empty, longer than 64 bytes or has a
    /// character outside `[a-z0-9-]`.
    pub fn parse(s: &str) -> Result<Self, InvalidBotId> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(Self(s.to_owned())) } else { Err(InvalidBotId) }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BotId {
    type Error = InvalidBotId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<BotId> for String {
    fn from(id: BotId) -> Self {
        id.0
    }
}

impl fmt::Display for BotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BotId({})", self.0)
    }
}

/// botq's id for one webhook delivery: a UUIDv7, so ids sort by receipt time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(uuid::Uuid);

impl RequestId {
    #[must_use]
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    #[must_use]
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_id_accepts_the_documented_alphabet() {
        assert!(BotId::parse("qq-main").is_ok());
        assert!(BotId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn bot_id_rejects_anything_else() {
        for bad in ["", "QQ", "a_b", "a/b", "a.b", &"a".repeat(65), "é"] {
            assert_eq!(BotId::parse(bad), Err(InvalidBotId), "{bad:?}");
        }
    }

    #[test]
    fn request_ids_sort_by_creation_time() {
        let a = RequestId::new();
        let b = RequestId::new();
        assert!(a.as_uuid() < b.as_uuid());
        assert_eq!(a.as_uuid().get_version_num(), 7);
    }
}
