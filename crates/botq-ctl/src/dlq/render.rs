//! Dead letters for people: the rows of `dlq list` (and the console), and
//! an envelope with its field names spelled out.

use botq_core::envelope::Envelope;
use botq_core::queue::DeadLetter;
use serde::Serialize;

use crate::output;

/// One row of `dlq list`, and the head of `dlq show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub queue: u16,
    pub id: String,
    pub failed_at: String,
    pub failed_at_ms: i64,
    pub attempts: u32,
    pub reason: String,
    pub bot: String,
    pub event_id: String,
    pub chat: String,
    /// The entry's former id in the queue stream.
    pub src: String,
}

impl From<&DeadLetter> for Row {
    fn from(d: &DeadLetter) -> Self {
        let (bot, event_id, chat) = match d.envelope() {
            Ok(e) => (e.bot.to_string(), e.event_id, e.chat_id),
            Err(_) => ("?".into(), "?".into(), "?".into()),
        };
        Self {
            queue: d.queue,
            id: d.id.clone(),
            failed_at: output::rfc3339_ms(d.failed_at_ms),
            failed_at_ms: d.failed_at_ms,
            attempts: d.attempts,
            reason: d.reason.clone(),
            bot,
            event_id,
            chat,
            src: d.src.clone(),
        }
    }
}

/// The human form of a list of dead letters.
#[must_use]
pub fn render_rows(rows: &[Row]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                format!("{}/{}", r.queue, r.id),
                r.failed_at.clone(),
                r.attempts.to_string(),
                output::one_line(&r.reason),
                r.bot.clone(),
                r.event_id.clone(),
                r.chat.clone(),
            ]
        })
        .collect();
    output::table(&["id", "failed_at", "attempts", "reason", "bot", "event_id", "chat"], &cells)
}

/// The envelope with its field names spelled out (the stored form uses
/// one-letter keys to keep stream memory small).
#[must_use]
pub fn readable(e: &Envelope) -> serde_json::Value {
    serde_json::json!({
        "version": e.version,
        "platform": e.platform,
        "bot": e.bot.as_str(),
        "request_id": e.request_id.to_string(),
        "event_id": e.event_id,
        "event_type": e.event_type,
        "message_id": e.message_id,
        "chat_kind": e.chat_kind,
        "chat_id": e.chat_id,
        "guild_id": e.guild_id,
        "sender_id": e.sender_id,
        "sender_is_bot": e.sender_is_bot,
        "text": e.text,
        "mentions_bot": e.mentions_bot,
        "platform_ts_ms": e.platform_ts_ms,
        "received_at_ms": e.received_at_ms,
    })
}
