//! OneBot v11 messages: the CQ-code string form and the array form, into
//! segments, and from segments the text as the user typed it.
//!
//! A v11 `message` is either a string with CQ codes (`[CQ:at,qq=123] hi`)
//! or an array of `{"type", "data"}` segments, depending on the
//! implementation's post format; `raw_message` is always the string form.
//! The string form escapes, per the v11 spec (`message/string.md`): in text,
//! `&` → `&amp;`, `[` → `&#91;`, `]` → `&#93;`; inside a code's values also
//! `,` → `&#44;`. So a user who types `R&D [v2]` arrives as
//! `R&amp;D &#91;v2&#93;`, and the text a skill sees must be decoded.
//!
//! The text as typed is what routing works on: the text segments in order,
//! with the leading quote (`[CQ:reply,id=…]`, which a client puts first when
//! the user replies to a message) and the bot's own `at`s at the start and
//! end removed, as QQ clients show them around a command.

use serde_json::Value;

use crate::message::{Segment, Shown, Typed, push_text};

/// How OneBot shows an `@all` in the text as typed: not at all (the
/// segment says it).
const SHOWN: Shown = Shown { everyone: None };

/// Decodes the string form's escapes (`&amp;`, `&#91;`, `&#93;`, `&#44;`).
/// Anything else after `&` is left as typed.
pub(super) fn unescape(s: &str) -> String {
    crate::message::decode_entities(s, &[("&amp;", '&'), ("&#91;", '['), ("&#93;", ']'), ("&#44;", ',')])
}

/// Escapes text for the string form, so it can never become a CQ code (the
/// inverse of [`unescape`] for text). Replies need not: they are sent
/// in the array form, whose text segments are literal.
#[cfg(test)]
fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            c => out.push(c),
        }
    }
    out
}

/// Parses the CQ-code string form. A `[CQ:` without its `]` is text, as
/// implementations treat it. `self_id` marks the bot's own mentions.
pub(super) fn parse_string(s: &str, self_id: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let Some(start) = rest.find("[CQ:") else {
            push_text(&mut segments, &unescape(rest));
            break;
        };
        push_text(&mut segments, &unescape(&rest[..start]));
        let code = &rest[start + 4..];
        let Some(end) = code.find(']') else {
            push_text(&mut segments, &unescape(&rest[start..]));
            break;
        };
        let inner = &code[..end];
        let kind = inner.split(',').next().unwrap_or_default();
        let param = |name: &str| {
            inner
                .split(',')
                .skip(1)
                .find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| unescape(v)))
        };
        push(&mut segments, segment(kind, param, self_id));
        rest = &code[end + 1..];
    }
    segments
}

/// Parses the array form; values that are numbers (some implementations)
/// are taken as their decimal text.
pub(super) fn parse_array(items: &[Value], self_id: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    for item in items {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
        let data = |name: &str| match item.get("data").and_then(|d| d.get(name)) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        push(&mut segments, segment(kind, data, self_id));
    }
    segments
}

fn push(segments: &mut Vec<Segment>, segment: Segment) {
    match segment {
        Segment::Text { text } => push_text(segments, &text),
        other => segments.push(other),
    }
}

/// A segment from its type and a lookup of its data, the same for both forms
/// (the v11 spec's `message/segment.md`; `mface` is NapCat's market sticker).
fn segment(kind: &str, data: impl Fn(&str) -> Option<String>, self_id: &str) -> Segment {
    let other = || Segment::Other { kind: kind.to_owned() };
    match kind {
        "text" => Segment::text(data("text").unwrap_or_default()),
        "at" => match data("qq") {
            Some(qq) if qq == "all" => Segment::MentionEveryone,
            Some(qq) => Segment::Mention { bot: qq == self_id, name: data("name"), user: qq },
            None => other(),
        },
        "reply" => data("id").map_or_else(other, |message_id| Segment::Quote { message_id }),
        "image" => Segment::Image { url: data("url"), id: data("file") },
        "file" | "video" | "record" => Segment::File { url: data("url"), id: data("file"), name: data("name") },
        "face" => data("id").map_or_else(other, |id| Segment::Face { id }),
        "mface" => data("emoji_id").map_or_else(other, |id| Segment::Sticker { id, summary: data("summary") }),
        _ => other(),
    }
}

/// The text as typed and what the segments say about the bot (`message::typed`).
pub(super) fn typed(segments: &[Segment]) -> Typed {
    crate::message::typed(segments, SHOWN)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const BOT: &str = "10001000";

    fn at(qq: &str) -> Segment {
        Segment::Mention { user: qq.into(), name: None, bot: qq == BOT }
    }

    fn quote(id: &str) -> Segment {
        Segment::Quote { message_id: id.into() }
    }

    #[test]
    fn the_string_form_decodes_its_escapes_and_splits_its_codes() {
        assert_eq!(
            parse_string("[CQ:reply,id=-2147437996][CQ:at,qq=10001000] /echo R&amp;D &#91;v2&#93; a&#44;b", BOT),
            [quote("-2147437996"), at(BOT), Segment::text(" /echo R&D [v2] a,b")]
        );
        assert_eq!(
            parse_string("[CQ:image,file=a.jpg,url=https://x/y?a=1&amp;b=2]x", BOT),
            [Segment::Image { url: Some("https://x/y?a=1&b=2".into()), id: Some("a.jpg".into()) }, Segment::text("x")]
        );
        assert_eq!(parse_string("[CQ:at,qq=all] hi", BOT), [Segment::MentionEveryone, Segment::text(" hi")]);
        assert_eq!(parse_string("[CQ:face,id=178]", BOT), [Segment::Face { id: "178".into() }]);
        assert_eq!(parse_string("a [CQ:face", BOT), [Segment::text("a [CQ:face")], "an unclosed code is text");
        assert_eq!(parse_string("&lt; &amp", BOT), [Segment::text("&lt; &amp")], "other entities as typed");
    }

    #[test]
    fn the_array_form_reads_numbers_and_strings_alike() {
        let segments = parse_array(
            json!([
                {"type": "reply", "data": {"id": -2_147_437_996}},
                {"type": "at", "data": {"qq": 10_001_000}},
                {"type": "text", "data": {"text": " /ping "}},
                {"type": "face", "data": {"id": "178"}},
                {"type": "at", "data": {"qq": "10001000"}},
            ])
            .as_array()
            .unwrap(),
            BOT,
        );
        let t = typed(&segments);
        assert_eq!(t, Typed { text: "/ping".into(), mentions_bot: true, quote_of: Some("-2147437996".into()) });
    }

    #[test]
    fn a_quoted_reply_to_the_bot_still_shows_the_command() {
        let t = typed(&parse_string("[CQ:reply,id=42][CQ:at,qq=10001000] [CQ:at,qq=10001000] /help", BOT));
        assert_eq!((t.text.as_str(), t.mentions_bot, t.quote_of.as_deref()), ("/help", true, Some("42")));
        let other = typed(&parse_string("[CQ:at,qq=555] /help", BOT));
        assert_eq!(
            (other.text.as_str(), other.mentions_bot),
            ("/help", false),
            "another user's mention (no name given) is dropped from the text"
        );
        let middle = typed(&parse_string("hi [CQ:at,qq=10001000] there", BOT));
        assert_eq!(middle.text, "hi  there", "inside the text, only the markup goes");
    }

    proptest! {
        /// Any text, escaped for the string form, parses back to itself, as one text segment.
        #[test]
        fn escaped_text_parses_back_to_itself_and_never_becomes_a_code(text in "\\PC*") {
            let segments = parse_string(&escape_text(&text), BOT);
            if text.is_empty() {
                prop_assert!(segments.is_empty());
            } else {
                prop_assert_eq!(segments, vec![Segment::text(text.clone())]);
            }
        }

        #[test]
        fn text_with_cq_syntax_round_trips(text in "[\\[\\]&,;#a-z0-9:=CQ ]{0,40}") {
            let segments = parse_string(&escape_text(&text), BOT);
            let back: String = segments.iter().map(|s| match s { Segment::Text { text } => text.clone(), _ => String::from("\u{0}") }).collect();
            prop_assert_eq!(back, text);
        }
    }
}
