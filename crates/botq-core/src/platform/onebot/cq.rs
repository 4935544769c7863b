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

/// One part of a OneBot message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    Text(String),
    /// `at`: a QQ number, or `all`.
    At(String),
    /// `reply`: the id of the message replied to.
    Reply(String),
    /// Anything else (`face`, `image`, `record`, `file`, …), by its type.
    Other(String),
}

/// What routing needs from a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Typed {
    pub text: String,
    pub mentions_bot: bool,
    pub quote_of: Option<String>,
}

/// Decodes the string form's escapes (`&amp;`, `&#91;`, `&#93;`, `&#44;`).
/// Anything else after `&` is left as typed.
pub(super) fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (decoded, len) = match () {
            () if rest.starts_with("&amp;") => ('&', 5),
            () if rest.starts_with("&#91;") => ('[', 5),
            () if rest.starts_with("&#93;") => (']', 5),
            () if rest.starts_with("&#44;") => (',', 5),
            () => ('&', 1),
        };
        out.push(decoded);
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}

/// Escapes text for the string form, so it can never become a CQ code (the
/// inverse of [`unescape`] for text). Replies need not: they are sent with
/// `auto_escape: true`, which tells the implementation the text is literal.
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
/// implementations treat it.
pub(super) fn parse_string(s: &str) -> Vec<Segment> {
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
        segments.push(code_segment(&code[..end]));
        rest = &code[end + 1..];
    }
    segments
}

/// One CQ code's inside: `type,key=value,…`.
fn code_segment(inner: &str) -> Segment {
    let mut parts = inner.split(',');
    let kind = parts.next().unwrap_or_default();
    let param = |name: &str| {
        inner.split(',').skip(1).find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| unescape(v)))
    };
    match kind {
        "at" => param("qq").map_or_else(|| Segment::Other(kind.to_owned()), Segment::At),
        "reply" => param("id").map_or_else(|| Segment::Other(kind.to_owned()), Segment::Reply),
        _ => Segment::Other(kind.to_owned()),
    }
}

/// Parses the array form; values that are numbers (some implementations)
/// are taken as their decimal text.
pub(super) fn parse_array(items: &[Value]) -> Vec<Segment> {
    let mut segments = Vec::new();
    for item in items {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
        let data = |name: &str| match item.get("data").and_then(|d| d.get(name)) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let segment = match kind {
            "text" => Segment::Text(data("text").unwrap_or_default()),
            "at" => data("qq").map_or_else(|| Segment::Other(kind.to_owned()), Segment::At),
            "reply" => data("id").map_or_else(|| Segment::Other(kind.to_owned()), Segment::Reply),
            _ => Segment::Other(kind.to_owned()),
        };
        match segment {
            Segment::Text(t) => push_text(&mut segments, &t),
            other => segments.push(other),
        }
    }
    segments
}

fn push_text(segments: &mut Vec<Segment>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Segment::Text(last)) = segments.last_mut() {
        last.push_str(text);
    } else {
        segments.push(Segment::Text(text.to_owned()));
    }
}

/// The text as typed and what the segments say about the bot (see the module doc).
pub(super) fn typed(segments: &[Segment], self_id: &str) -> Typed {
    let is_bot = |s: &Segment| matches!(s, Segment::At(qq) if qq == self_id);
    let blank = |s: &Segment| matches!(s, Segment::Text(t) if t.trim().is_empty());
    let mentions_bot = segments.iter().any(is_bot);
    let mut body = segments;
    let mut quote_of = None;
    // Leading: blanks, one quote, the bot's mentions.
    while let Some((first, rest)) = body.split_first() {
        match first {
            Segment::Reply(id) if quote_of.is_none() => quote_of = Some(id.clone()),
            s if blank(s) || is_bot(s) => {}
            _ => break,
        }
        body = rest;
    }
    while let Some((last, rest)) = body.split_last() {
        if !(blank(last) || is_bot(last)) {
            break;
        }
        body = rest;
    }
    let text: String =
        body.iter().filter_map(|s| if let Segment::Text(t) = s { Some(t.as_str()) } else { None }).collect();
    Typed { text: text.trim().to_owned(), mentions_bot, quote_of }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn the_string_form_decodes_its_escapes_and_splits_its_codes() {
        assert_eq!(
            parse_string("[CQ:reply,id=-2147437996][CQ:at,qq=10001000] /echo R&amp;D &#91;v2&#93; a&#44;b"),
            [
                Segment::Reply("-2147437996".into()),
                Segment::At("10001000".into()),
                Segment::Text(" /echo R&D [v2] a,b".into()),
            ]
        );
        assert_eq!(
            parse_string("[CQ:image,file=a.jpg,url=https://x/y?a=1&amp;b=2]x"),
            [Segment::Other("image".into()), Segment::Text("x".into())]
        );
        assert_eq!(parse_string("[CQ:at,qq=all] hi"), [Segment::At("all".into()), Segment::Text(" hi".into())]);
        assert_eq!(parse_string("a [CQ:face"), [Segment::Text("a [CQ:face".into())], "an unclosed code is text");
        assert_eq!(parse_string("&lt; &amp"), [Segment::Text("&lt; &amp".into())], "other entities as typed");
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
        );
        let t = typed(&segments, "10001000");
        assert_eq!(t, Typed { text: "/ping".into(), mentions_bot: true, quote_of: Some("-2147437996".into()) });
    }

    #[test]
    fn a_quoted_reply_to_the_bot_still_shows_the_command() {
        let t = typed(&parse_string("[CQ:reply,id=42][CQ:at,qq=10001000] [CQ:at,qq=10001000] /help"), "10001000");
        assert_eq!((t.text.as_str(), t.mentions_bot, t.quote_of.as_deref()), ("/help", true, Some("42")));
        let other = typed(&parse_string("[CQ:at,qq=555] /help"), "10001000");
        assert_eq!(
            (other.text.as_str(), other.mentions_bot),
            ("/help", false),
            "another user's mention is dropped from the text"
        );
        let middle = typed(&parse_string("hi [CQ:at,qq=10001000] there"), "10001000");
        assert_eq!(middle.text, "hi  there", "inside the text, only the markup goes");
    }

    proptest! {
        /// Any text, escaped for the string form, parses back to itself, as one text segment.
        #[test]
        fn escaped_text_parses_back_to_itself_and_never_becomes_a_code(text in "\\PC*") {
            let segments = parse_string(&escape_text(&text));
            if text.is_empty() {
                prop_assert!(segments.is_empty());
            } else {
                prop_assert_eq!(segments, vec![Segment::Text(text.clone())]);
            }
        }

        #[test]
        fn text_with_cq_syntax_round_trips(text in "[\\[\\]&,;#a-z0-9:=CQ ]{0,40}") {
            let segments = parse_string(&escape_text(&text));
            let back: String = segments.iter().map(|s| match s { Segment::Text(t) => t.clone(), _ => String::from("\u{0}") }).collect();
            prop_assert_eq!(back, text);
        }
    }
}
