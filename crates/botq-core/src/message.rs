//! The message model: a message is a sequence of [`Segment`]s, the one
//! representation between the platforms and the skills.
//!
//! Each platform parses its wire format into segments (QQ `content` markup
//! with its HTML escapes, Lark text and rich-text posts with their `at`
//! elements, OneBot's array and CQ-string forms) and renders segments back
//! with the escaping that keeps literal text literal. Routing works on the
//! [`Typed`] view: the text as the user typed it, with the leading quote and
//! the bot's own mentions removed, and what the segments say about the bot.
//! A skill receives both the typed text and the segments.
//!
//! On the wire (the envelope in Redis, the skill contract) a segment is an
//! object tagged by `type`, its empty optional fields omitted:
//! `{"type":"mention","user":"ou_1","name":"Tom"}`.

use serde::{Deserialize, Serialize};

/// One part of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Segment {
    /// Literal text, unescaped: exactly what the user sees.
    Text { text: String },
    /// A mention of one user (QQ openid or guild user id, Lark open_id,
    /// OneBot QQ number). `bot` is set when it names this bot.
    Mention {
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "is_false")]
        bot: bool,
    },
    /// A mention of everyone in the chat.
    MentionEveryone,
    /// The message this one replies to (QQ `REFIDX_…` or guild message id,
    /// Lark `parent_id`, OneBot `reply` id).
    Quote { message_id: String },
    /// An image, with what the platform gives of it.
    Image {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// A file, video or voice message.
    File {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// A sticker (Lark sticker, OneBot `mface`), by the platform's id.
    Sticker {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
    },
    /// A system emoji (QQ `<emoji:id>`, OneBot `face`, Lark `emotion`).
    Face { id: String },
    /// A link to a channel (QQ `<#channel_id>`).
    Channel { id: String },
    /// Anything else, by the platform's own kind (`record`, `json`, `hr`…).
    Other { kind: String },
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}

impl Segment {
    /// A text segment.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    fn is_bot_mention(&self) -> bool {
        matches!(self, Self::Mention { bot: true, .. })
    }

    fn is_blank(&self) -> bool {
        matches!(self, Self::Text { text } if text.trim().is_empty())
    }
}

/// Appends `text` to `segments`, merging it into a text segment at the end.
pub fn push_text(segments: &mut Vec<Segment>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Segment::Text { text: last }) = segments.last_mut() {
        last.push_str(text);
    } else {
        segments.push(Segment::text(text));
    }
}

/// What routing needs from a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed {
    /// The text as typed (see [`typed`]).
    pub text: String,
    /// A segment mentions this bot.
    pub mentions_bot: bool,
    /// The leading quote's message id.
    pub quote_of: Option<String>,
}

/// How a platform shows what is not text, in the text as typed.
#[derive(Debug, Clone, Copy)]
pub struct Shown {
    /// What a mention of everyone reads as (QQ's markup is the text
    /// `@everyone` itself), or `None` to leave it out.
    pub everyone: Option<&'static str>,
}

/// The text as the user typed it: the text segments in order, another
/// user's mention as `@name` when the platform gives the name, the bot's own
/// mentions removed, and a leading quote and surrounding blanks dropped,
/// trimmed. Clients put the quote and the bot's mention before a command
/// (`[quote] @bot /help`), so this is what a command is read from.
#[must_use]
pub fn typed(segments: &[Segment], shown: Shown) -> Typed {
    let mentions_bot = segments.iter().any(Segment::is_bot_mention);
    let mut body = segments;
    let mut quote_of = None;
    while let Some((first, rest)) = body.split_first() {
        match first {
            Segment::Quote { message_id } if quote_of.is_none() => quote_of = Some(message_id.clone()),
            s if s.is_blank() || s.is_bot_mention() => {}
            _ => break,
        }
        body = rest;
    }
    let mut text = String::new();
    for s in body {
        match s {
            Segment::Text { text: t } => text.push_str(t),
            Segment::Mention { name: Some(name), bot: false, .. } => {
                text.push('@');
                text.push_str(name);
            }
            Segment::MentionEveryone => text.push_str(shown.everyone.unwrap_or_default()),
            _ => {}
        }
    }
    Typed { text: text.trim().to_owned(), mentions_bot, quote_of }
}

/// The plain text of segments a skill asked to send, for audit and the
/// conversation window: text as is, a mention as `@user`, an image as its URL.
#[must_use]
pub fn plain(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Text { text } => out.push_str(text),
            Segment::Mention { user, name, .. } => {
                out.push('@');
                out.push_str(name.as_deref().unwrap_or(user));
            }
            Segment::MentionEveryone => out.push_str("@everyone"),
            Segment::Image { url: Some(url), .. } => out.push_str(url),
            _ => {}
        }
    }
    out
}

/// One reply as a skill asked for it, in segments: text, mentions, a quote
/// of the message answered, images by URL. Each platform renders it
/// (`reply::*::render`) so that text can never become markup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outgoing {
    pub segments: Vec<Segment>,
}

impl Outgoing {
    /// A reply of literal text.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self { segments: vec![Segment::text(text)] }
    }

    /// The reply as plain text ([`plain`]).
    #[must_use]
    pub fn plain(&self) -> String {
        plain(&self.segments)
    }

    /// The text of a reply that is one text segment, else `None`.
    #[must_use]
    pub fn as_text(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [Segment::Text { text }] => Some(text),
            _ => None,
        }
    }

    /// Nothing to show: only blank text, or segments that show nothing by
    /// themselves (a quote needs something to quote it with).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.segments.iter().all(|s| match s {
            Segment::Text { text } => text.trim().is_empty(),
            Segment::Mention { .. } | Segment::MentionEveryone | Segment::Image { url: Some(_), .. } => false,
            _ => true,
        })
    }
}

/// `s` with each entity of `entities` decoded once, left to right; any
/// other `&` stays as it is. The platforms' text escapes are small fixed
/// tables (QQ `&amp; &lt; &gt;`, OneBot `&amp; &#91; &#93; &#44;`).
#[must_use]
pub fn decode_entities(s: &str, entities: &[(&str, char)]) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (decoded, len) =
            entities.iter().find(|(e, _)| rest.starts_with(e)).map_or(('&', 1), |(e, c)| (*c, e.len()));
        out.push(decoded);
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}

/// Whether a mention's user id is how a platform spells "everyone" (Lark
/// and OneBot `all`, QQ `everyone`): such a mention is `MentionEveryone`,
/// never a user's, and renderers leave a user mention of it out.
#[must_use]
pub fn names_everyone(user: &str) -> bool {
    user.eq_ignore_ascii_case("all") || user.eq_ignore_ascii_case("everyone")
}

/// The zero-width space that neutralises `@everyone` in platforms that read
/// it from plain text (QQ): `@\u{200B}everyone` shows the same and mentions
/// no one. A run of them after `@` is lengthened by one on the way out and
/// shortened by one on the way in, so every text round-trips exactly.
pub const ZWSP: char = '\u{200B}';

/// Inserts one [`ZWSP`] after each `@` that is followed (after any run of
/// zero-width spaces) by `word`, ASCII case-insensitively.
#[must_use]
pub fn neutralise_word_after_at(text: &str, word: &str) -> String {
    rewrite_after_at(text, word, true)
}

/// The inverse of [`neutralise_word_after_at`]: removes one [`ZWSP`] after
/// each `@` followed by a run of them and then `word`.
#[must_use]
pub fn restore_word_after_at(text: &str, word: &str) -> String {
    rewrite_after_at(text, word, false)
}

/// Copies `text`, lengthening (`insert`) or shortening by one each ZWSP run
/// between an `@` and `word`.
fn rewrite_after_at(text: &str, word: &str, insert: bool) -> String {
    if !text.contains('@') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let run = rest.len() - rest.trim_start_matches(ZWSP).len();
        let (zwsps, after) = rest.split_at(run);
        let word_follows = after.get(..word.len()).is_some_and(|w| w.eq_ignore_ascii_case(word));
        match (word_follows, insert) {
            (true, true) => {
                out.push(ZWSP);
                out.push_str(zwsps);
            }
            (true, false) if run > 0 => out.push_str(&zwsps[ZWSP.len_utf8()..]),
            _ => out.push_str(zwsps),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn mention(user: &str, bot: bool) -> Segment {
        Segment::Mention { user: user.into(), name: None, bot }
    }

    #[test]
    fn the_text_as_typed_drops_the_quote_and_the_bots_mentions() {
        let s = [
            Segment::Quote { message_id: "42".into() },
            mention("BOT", true),
            Segment::text(" /echo "),
            Segment::Mention { user: "U".into(), name: Some("Tom".into()), bot: false },
            Segment::text(" hi "),
            Segment::MentionEveryone,
            mention("BOT", true),
        ];
        let t = typed(&s, Shown { everyone: Some("@everyone") });
        assert_eq!(
            t,
            Typed { text: "/echo @Tom hi @everyone".into(), mentions_bot: true, quote_of: Some("42".into()) }
        );
        let t = typed(&s, Shown { everyone: None });
        assert_eq!(t.text, "/echo @Tom hi");
        let unnamed = typed(&[mention("U", false), Segment::text(" /help")], Shown { everyone: None });
        assert_eq!((unnamed.text.as_str(), unnamed.mentions_bot), ("/help", false));
    }

    #[test]
    fn segments_are_tagged_objects_without_empty_fields() {
        let json = serde_json::to_string(&[mention("U", false), Segment::MentionEveryone]).unwrap();
        assert_eq!(json, r#"[{"type":"mention","user":"U"},{"type":"mention_everyone"}]"#);
        let back: Vec<Segment> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, [mention("U", false), Segment::MentionEveryone]);
    }

    #[test]
    fn everyone_after_at_is_neutralised_and_restored() {
        let n = neutralise_word_after_at("@everyone hi @EveryOne @ everyone a@everyonex", "everyone");
        assert_eq!(n, "@\u{200B}everyone hi @\u{200B}EveryOne @ everyone a@\u{200B}everyonex");
        assert_eq!(restore_word_after_at(&n, "everyone"), "@everyone hi @EveryOne @ everyone a@everyonex");
        assert_eq!(restore_word_after_at("@\u{200B}\u{200B}everyone", "everyone"), "@\u{200B}everyone");
        assert_eq!(restore_word_after_at("@\u{200B}x", "everyone"), "@\u{200B}x");
    }

    proptest! {
        #[test]
        fn neutralising_round_trips_and_leaves_no_bare_everyone(text in "(@|everyone|EVERYONE|\u{200B}| |x){0,12}|\\PC{0,30}") {
            let n = neutralise_word_after_at(&text, "everyone");
            prop_assert_eq!(restore_word_after_at(&n, "everyone"), text);
            prop_assert!(!n.to_ascii_lowercase().contains("@everyone"));
        }
    }
}
