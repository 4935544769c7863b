//! The tool-call audit log: one entry per skill invocation, in a capped Redis stream.
//!
//! Every time the worker runs a skill (built-in or upstream), or refuses to,
//! it appends an entry to `<prefix>:audit` with `XADD … MAXLEN ~ <max_len>`,
//! so the log is bounded and the newest entries are kept. An entry is
//! metadata: who asked (bot, chat, sender), which skill, read or write, what
//! came of it, how long it took and how many bytes went each way. The
//! message text and the answer are recorded only when the skill is configured
//! with `audit_content = true`. Entries are flat field/value pairs, so
//! `redis-cli XREVRANGE botq:audit + - COUNT 10` is readable too;
//! `botqctl audit tail` is the friendly reader.
//!
//! Writing is best effort and happens after the invocation: an entry lost to
//! a Redis outage is counted, but never makes an event run twice (running a
//! write skill again to retry an audit write would be worse than a gap).

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

/// Whether a skill only reads or also changes something outside botq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Write,
}

/// What came of one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The skill answered (its replies were handed to the reply path).
    Ok,
    /// It failed and the event will be tried again.
    Retry,
    /// It failed for good: the event goes to the dead-letter queue.
    Failed,
    /// Not run: the sender or chat may not use it (write skills).
    Denied,
    /// Not run (or given up): the degraded answer was sent instead; `reason`
    /// says why (`breaker_open`, `cooldown`, `exhausted`).
    Degraded,
}

impl Outcome {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Retry => "retry",
            Self::Failed => "failed",
            Self::Denied => "denied",
            Self::Degraded => "degraded",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ok" => Self::Ok,
            "retry" => Self::Retry,
            "failed" => Self::Failed,
            "denied" => Self::Denied,
            "degraded" => Self::Degraded,
            _ => return None,
        })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Access {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The stream id (`<ms>-<seq>`), set when read back; empty when writing.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// When the invocation ended, Unix ms.
    pub ts_ms: i64,
    pub request_id: String,
    pub event_id: String,
    pub bot: String,
    pub platform: String,
    pub chat_kind: String,
    pub chat_id: String,
    pub sender_id: String,
    pub skill: String,
    /// `builtin` or `http`.
    pub kind: String,
    pub access: Access,
    pub outcome: Outcome,
    /// Why, for anything but `ok`: a short class such as `timeout`,
    /// `upstream_5xx`, `breaker_open`, `not_allow_listed`. Never content.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    pub attempt: u32,
    /// The worker replica that ran the attempt (its fleet name); empty in
    /// entries written before botq recorded it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub replica: String,
    pub duration_ms: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub replies: u32,
    /// The message text, only with `audit_content = true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The replies joined by newlines, only with `audit_content = true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

impl Entry {
    /// The field/value pairs stored in the stream.
    #[must_use]
    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        let mut f = vec![
            ("ts_ms", self.ts_ms.to_string()),
            ("request_id", self.request_id.clone()),
            ("event_id", self.event_id.clone()),
            ("bot", self.bot.clone()),
            ("platform", self.platform.clone()),
            ("chat_kind", self.chat_kind.clone()),
            ("chat_id", self.chat_id.clone()),
            ("sender_id", self.sender_id.clone()),
            ("skill", self.skill.clone()),
            ("kind", self.kind.clone()),
            ("access", self.access.as_str().to_owned()),
            ("outcome", self.outcome.as_str().to_owned()),
            ("reason", self.reason.clone()),
            ("attempt", self.attempt.to_string()),
            ("replica", self.replica.clone()),
            ("duration_ms", self.duration_ms.to_string()),
            ("request_bytes", self.request_bytes.to_string()),
            ("response_bytes", self.response_bytes.to_string()),
            ("replies", self.replies.to_string()),
        ];
        if let Some(t) = &self.text {
            f.push(("text", t.clone()));
        }
        if let Some(a) = &self.answer {
            f.push(("answer", a.clone()));
        }
        f
    }

    /// Reads an entry back from its stream id and fields.
    ///
    /// # Errors
    /// A missing or malformed field, by name.
    pub fn from_fields(id: &str, fields: &HashMap<String, String>) -> Result<Self, DecodeError> {
        let missing = |k: &str| DecodeError::Missing { id: id.to_owned(), field: k.to_owned() };
        let not_numeric = |k: &str| DecodeError::NotNumeric { id: id.to_owned(), field: k.to_owned() };
        let s = |k: &str| fields.get(k).cloned().ok_or_else(|| missing(k));
        let n = |k: &str| -> Result<u64, DecodeError> { s(k)?.parse().map_err(|_| not_numeric(k)) };
        let unknown = |field: &'static str, value: &str| DecodeError::Unknown {
            id: id.to_owned(),
            field,
            value: value.to_owned(),
        };
        let access = match s("access")?.as_str() {
            "read" => Access::Read,
            "write" => Access::Write,
            other => return Err(unknown("access", other)),
        };
        let outcome = s("outcome").and_then(|o| Outcome::parse(&o).ok_or_else(|| unknown("outcome", &o)))?;
        Ok(Self {
            id: id.to_owned(),
            ts_ms: s("ts_ms")?.parse().map_err(|_| not_numeric("ts_ms"))?,
            request_id: s("request_id")?,
            event_id: s("event_id")?,
            bot: s("bot")?,
            platform: s("platform")?,
            chat_kind: s("chat_kind")?,
            chat_id: s("chat_id")?,
            sender_id: s("sender_id")?,
            skill: s("skill")?,
            kind: s("kind")?,
            access,
            outcome,
            reason: fields.get("reason").cloned().unwrap_or_default(),
            attempt: u32::try_from(n("attempt")?).unwrap_or(u32::MAX),
            replica: fields.get("replica").cloned().unwrap_or_default(),
            duration_ms: n("duration_ms")?,
            request_bytes: n("request_bytes")?,
            response_bytes: n("response_bytes")?,
            replies: u32::try_from(n("replies")?).unwrap_or(u32::MAX),
            text: fields.get("text").cloned(),
            answer: fields.get("answer").cloned(),
        })
    }
}

impl Entry {
    /// An entry for tests (of this and other crates): a degraded write-skill
    /// call, no content.
    #[doc(hidden)]
    #[must_use]
    pub fn sample() -> Self {
        Self {
            id: String::new(),
            ts_ms: 1_700_000_000_123,
            request_id: "req-1".into(),
            event_id: "ev-1".into(),
            bot: "qq-main".into(),
            platform: "qq".into(),
            chat_kind: "group".into(),
            chat_id: "chat-1".into(),
            sender_id: "user-1".into(),
            skill: "agent".into(),
            kind: "http".into(),
            access: Access::Write,
            outcome: Outcome::Degraded,
            reason: "breaker_open".into(),
            attempt: 2,
            replica: "worker-a-1".into(),
            duration_ms: 17,
            request_bytes: 300,
            response_bytes: 0,
            replies: 1,
            text: None,
            answer: None,
        }
    }
}

/// Appends `entry` to the audit stream `key`, keeping about `max_len`
/// entries: one [`xadd`], sent alone (the worker pipelines many instead).
///
/// # Errors
/// Redis errors.
pub async fn append<C: redis::aio::ConnectionLike + Send>(
    conn: &mut C,
    key: &str,
    max_len: u64,
    entry: &Entry,
) -> redis::RedisResult<()> {
    xadd(key, max_len, entry).query_async::<String>(conn).await.map(drop)
}

/// The command that appends `entry` to the log at `key`, capped near
/// `max_len` entries; [`append`] sends one, a writer may pipeline many.
#[must_use]
pub fn xadd(key: &str, max_len: u64, entry: &Entry) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(key).arg("MAXLEN").arg("~").arg(max_len).arg("*");
    for (k, v) in entry.to_fields() {
        cmd.arg(k).arg(v);
    }
    cmd
}

/// One stream entry as read back: its id, and the entry or why it does not
/// decode (a reader pages past a bad entry by its id, and reports it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub id: String,
    pub entry: Result<Entry, DecodeError>,
}

/// Why a stored audit entry does not read back as an [`Entry`]: written by
/// another version, or by hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("audit entry {id} has no {field:?}")]
    Missing { id: String, field: String },
    #[error("audit entry {id} has a non-numeric {field:?}")]
    NotNumeric { id: String, field: String },
    #[error("audit entry {id} has an unknown {field} {value:?}")]
    Unknown { id: String, field: &'static str, value: String },
    #[error("audit entry {id} has a {field:?} that is not text")]
    NotText { id: String, field: String },
}

/// Up to `count` entries older than `before` (exclusive; `None`: from the
/// newest), newest first.
///
/// # Errors
/// Redis errors (a missing stream reads as empty).
pub async fn before<C>(conn: &mut C, key: &str, before: Option<&str>, count: usize) -> redis::RedisResult<Vec<Read>>
where
    C: redis::aio::ConnectionLike + Send,
{
    let end = before.map_or_else(|| "+".to_owned(), |id| format!("({id}"));
    let reply: redis::streams::StreamRangeReply =
        redis::cmd("XREVRANGE").arg(key).arg(end).arg("-").arg("COUNT").arg(count).query_async(conn).await?;
    Ok(reply.ids.iter().map(decode).collect())
}

/// Up to `count` entries newer than `after` (exclusive), oldest first.
///
/// # Errors
/// Redis errors (a missing stream reads as empty).
pub async fn after<C>(conn: &mut C, key: &str, after: &str, count: usize) -> redis::RedisResult<Vec<Read>>
where
    C: redis::aio::ConnectionLike + Send,
{
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(key)
        .arg(format!("({after}"))
        .arg("+")
        .arg("COUNT")
        .arg(count)
        .query_async(conn)
        .await?;
    Ok(reply.ids.iter().map(decode).collect())
}

fn decode(e: &redis::streams::StreamId) -> Read {
    let fields: Result<HashMap<String, String>, DecodeError> = e
        .map
        .iter()
        .map(|(k, v)| {
            redis::from_redis_value_ref::<String>(v)
                .map(|v| (k.clone(), v))
                .map_err(|_| DecodeError::NotText { id: e.id.clone(), field: k.clone() })
        })
        .collect();
    Read { id: e.id.clone(), entry: fields.and_then(|f| Entry::from_fields(&e.id, &f)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry::sample()
    }

    #[test]
    fn an_entry_survives_the_trip_through_stream_fields() {
        let e = entry();
        let fields: HashMap<String, String> = e.to_fields().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        assert!(!fields.contains_key("text"), "no content unless configured");
        let back = Entry::from_fields("1-0", &fields).unwrap();
        assert_eq!(back, Entry { id: "1-0".into(), ..e });
    }

    #[test]
    fn a_malformed_entry_is_an_error_naming_the_field() {
        let mut fields: HashMap<String, String> =
            entry().to_fields().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        fields.insert("outcome".into(), "exploded".into());
        let err = Entry::from_fields("1-0", &fields).unwrap_err();
        assert_eq!(err, DecodeError::Unknown { id: "1-0".into(), field: "outcome", value: "exploded".into() });
        assert_eq!(err.to_string(), "audit entry 1-0 has an unknown outcome \"exploded\"");
        fields.insert("outcome".into(), "ok".into());
        fields.remove("skill");
        let err = Entry::from_fields("1-0", &fields).unwrap_err();
        assert_eq!(err, DecodeError::Missing { id: "1-0".into(), field: "skill".into() });
    }
}
