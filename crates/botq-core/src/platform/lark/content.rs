//! Lark message content, both ways.
//!
//! Inbound (the `im.message.receive_v1` event, "message content" reference):
//! - a `text` message is `{"text": "@_user_1 hello"}`: each mention is a
//!   placeholder key, resolved through the event's `mentions` (`key`, `id`,
//!   `name`, and `mentioned_type` where Lark sends it); `@_all` is everyone;
//! - a `post` is `{title, content: [[element…]…]}` (the send API's language
//!   wrapper `{"zh_cn": {…}}` is accepted too), with `text`, `a`, `at`
//!   (`user_id` is the placeholder key), `img`, `media`, `emotion`,
//!   `code_block` and `hr` elements;
//! - `image`, `file`, `audio`, `media` and `sticker` messages carry keys only.
//!
//! Outbound, a `text` message interprets `<at user_id="…"></at>`, so literal
//! text sent as `text` can mention everyone. Replies go as a `post` instead:
//! its `text` element is literal (`un_escape` unset) and a mention is an
//! element of its own (`{"tag":"at","user_id":"ou_…"}`, `"all"` for everyone).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::message::{Segment, Shown, push_text};

/// Lark names `@_all` in `mentions` (e.g. "所有人"), but the text as typed
/// leaves it out like the bot's own mention.
pub(super) const SHOWN: Shown = Shown { everyone: None };

/// One entry of a message's `mentions`.
#[derive(Debug, Deserialize)]
pub(super) struct Mention {
    pub key: Option<String>,
    pub id: Option<MentionId>,
    pub name: Option<String>,
    pub mentioned_type: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct MentionId {
    pub open_id: Option<String>,
    pub user_id: Option<String>,
}

/// How the bot's own mention is recognised.
#[derive(Debug, Clone, Copy)]
pub(super) struct BotIs<'a> {
    /// The configured `bot_open_id`: exact.
    pub open_id: Option<&'a str>,
}

impl BotIs<'_> {
    /// With `bot_open_id`, exactly "names the bot". Without it, Lark's own
    /// word where it gives one (`mentioned_type`), else a mention that opens
    /// the message: Lark delivers only group messages that @ the bot unless
    /// the app may read them all, so a leading mention is almost always it.
    fn is(self, m: &Mention, leading: bool) -> bool {
        match (self.open_id, m.mentioned_type.as_deref()) {
            (Some(bot), _) => m.id.as_ref().and_then(|id| id.open_id.as_deref()) == Some(bot),
            (None, Some(kind)) => kind == "bot",
            (None, None) => leading,
        }
    }
}

/// The segments of a message's `content`, `Ok(None)` for a type botq does
/// not read.
///
/// # Errors
/// `content` is not the JSON its type promises.
pub(super) fn parse(
    message_type: &str,
    content: &str,
    mentions: &[Mention],
    bot: BotIs<'_>,
) -> Result<Option<Vec<Segment>>, ()> {
    let v: Value = serde_json::from_str(content).map_err(|_| ())?;
    let mut segments = Vec::new();
    let key = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    match message_type {
        "text" => text(&mut segments, v.get("text").and_then(Value::as_str).ok_or(())?, mentions, bot),
        "post" => post(&mut segments, &v, mentions, bot).ok_or(())?,
        "image" => segments.push(Segment::Image { url: None, id: key("image_key") }),
        "file" | "audio" | "media" => {
            segments.push(Segment::File { url: None, id: key("file_key"), name: key("file_name") });
        }
        "sticker" => segments.push(Segment::Sticker { id: key("file_key").unwrap_or_default(), summary: None }),
        _ => return Ok(None),
    }
    Ok(Some(segments))
}

/// Text with placeholder keys: each key found in `mentions` is a mention.
fn text(segments: &mut Vec<Segment>, text: &str, mentions: &[Mention], bot: BotIs<'_>) {
    let mut rest = text;
    while let Some(at) = rest.find("@_") {
        // A key is `@_` and more: an empty one would match everywhere.
        let found =
            mentions.iter().filter_map(|m| Some((m.key.as_deref().filter(|k| k.len() > 2)?, m))).find(|(k, _)| {
                rest[at..].starts_with(k)
                // `@_user_1` must not match the start of `@_user_12`.
                && !rest[at + k.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            });
        let Some((k, m)) = found else {
            push_text(segments, &rest[..at + 2]);
            rest = &rest[at + 2..];
            continue;
        };
        push_text(segments, &rest[..at]);
        let leading = segments.iter().all(|s| matches!(s, Segment::Text { text } if text.trim().is_empty()));
        segments.push(mention(m, k, leading, bot));
        rest = &rest[at + k.len()..];
    }
    push_text(segments, rest);
}

fn mention(m: &Mention, key: &str, leading: bool, bot: BotIs<'_>) -> Segment {
    if key == "@_all" {
        return Segment::MentionEveryone;
    }
    let user = m.id.as_ref().and_then(|id| id.open_id.clone().or_else(|| id.user_id.clone())).unwrap_or_default();
    Segment::Mention { user, name: m.name.clone(), bot: bot.is(m, leading) }
}

/// A rich-text post: the title as a first line, then each paragraph a line.
fn post(segments: &mut Vec<Segment>, v: &Value, mentions: &[Mention], bot: BotIs<'_>) -> Option<()> {
    let post =
        if v.get("content").is_some() { v } else { v.as_object()?.values().find(|l| l.get("content").is_some())? };
    let mut first = true;
    if let Some(title) = post.get("title").and_then(Value::as_str).filter(|t| !t.is_empty()) {
        push_text(segments, title);
        first = false;
    }
    for paragraph in post.get("content")?.as_array()? {
        if !first {
            push_text(segments, "\n");
        }
        first = false;
        for el in paragraph.as_array().into_iter().flatten() {
            element(segments, el, mentions, bot);
        }
    }
    Some(())
}

fn element(segments: &mut Vec<Segment>, el: &Value, mentions: &[Mention], bot: BotIs<'_>) {
    let field = |k: &str| el.get(k).and_then(Value::as_str).map(str::to_owned);
    match el.get("tag").and_then(Value::as_str).unwrap_or_default() {
        "text" | "a" | "code_block" | "md" => push_text(segments, &field("text").unwrap_or_default()),
        "at" => {
            let key = field("user_id").unwrap_or_default();
            if key == "all" || key == "@_all" {
                segments.push(Segment::MentionEveryone);
            } else if let Some(m) = mentions.iter().find(|m| m.key.as_deref() == Some(key.as_str())) {
                let leading = segments.iter().all(|s| matches!(s, Segment::Text { text } if text.trim().is_empty()));
                segments.push(mention(m, &key, leading, bot));
            } else {
                segments.push(Segment::Mention { user: key, name: field("user_name"), bot: false });
            }
        }
        "img" => segments.push(Segment::Image { url: None, id: field("image_key") }),
        "media" => segments.push(Segment::File { url: None, id: field("file_key"), name: None }),
        "emotion" => segments.push(Segment::Face { id: field("emoji_type").unwrap_or_default() }),
        other => segments.push(Segment::Other { kind: other.to_owned() }),
    }
}

/// A reply's segments as a Lark `post` content (the JSON string the send
/// API takes): text elements, one paragraph per line, mentions as `at`
/// elements, images as links (Lark sends images by uploaded key only).
#[must_use]
pub fn render(segments: &[Segment]) -> String {
    let mut paragraphs: Vec<Vec<Value>> = Vec::new();
    let mut line: Vec<Value> = Vec::new();
    for s in segments {
        match s {
            Segment::Text { text } => {
                for (i, piece) in text.split('\n').enumerate() {
                    if i > 0 {
                        paragraphs.push(std::mem::take(&mut line));
                    }
                    if !piece.is_empty() {
                        line.push(json!({ "tag": "text", "text": piece }));
                    }
                }
            }
            Segment::Mention { user, .. } if !crate::message::names_everyone(user) => {
                line.push(json!({ "tag": "at", "user_id": user }));
            }
            Segment::MentionEveryone => line.push(json!({ "tag": "at", "user_id": "all" })),
            Segment::Image { url: Some(url), .. } => line.push(json!({ "tag": "a", "text": url, "href": url })),
            _ => {}
        }
    }
    paragraphs.push(line);
    json!({ "zh_cn": { "content": paragraphs } }).to_string()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn m(key: &str, open_id: &str, name: &str, kind: Option<&str>) -> Mention {
        Mention {
            key: Some(key.into()),
            id: Some(MentionId { open_id: Some(open_id.into()), user_id: None }),
            name: Some(name.into()),
            mentioned_type: kind.map(str::to_owned),
        }
    }

    const NO_ID: BotIs<'static> = BotIs { open_id: None };

    #[test]
    fn text_keys_become_mentions_and_only_known_keys() {
        let ms = [m("@_user_1", "ou_bot", "Helper", None), m("@_user_2", "ou_tom", "Tom", Some("user"))];
        let s = parse("text", r#"{"text":"@_user_1 /echo hi @_user_2 @_user_12 @_all"}"#, &ms, NO_ID).unwrap().unwrap();
        assert_eq!(
            s,
            [
                Segment::Mention { user: "ou_bot".into(), name: Some("Helper".into()), bot: true },
                Segment::text(" /echo hi "),
                Segment::Mention { user: "ou_tom".into(), name: Some("Tom".into()), bot: false },
                Segment::text(" @_user_12 @_all"),
            ],
            "@_user_12 and @_all are not in mentions: text"
        );
        let exact = BotIs { open_id: Some("ou_tom") };
        let s = parse("text", r#"{"text":"@_user_1 hi"}"#, &ms, exact).unwrap().unwrap();
        assert!(matches!(&s[0], Segment::Mention { bot: false, .. }), "with bot_open_id, only the id counts");
    }

    #[test]
    fn a_signed_event_with_an_empty_mention_key_is_read_in_one_pass() {
        let ms = [m("", "ou_x", "x", None), m("@_", "ou_y", "y", None)];
        let s = parse("text", r#"{"text":"@_user_1 hi"}"#, &ms, NO_ID).unwrap().unwrap();
        assert_eq!(s, [Segment::text("@_user_1 hi")], "keys that are no key match nothing");
        let all =
            parse("post", &render(&[Segment::Mention { user: "all".into(), name: None, bot: false }]), &ms, NO_ID);
        assert_eq!(all.unwrap().unwrap(), [], "a user mention of `all` is never rendered as everyone");
    }

    #[test]
    fn a_post_reads_as_lines_with_its_at_and_img_elements() {
        let ms = [m("@_user_1", "ou_bot", "Sophia", Some("bot"))];
        let content = r#"{"title":"","content":[[{"tag":"at","user_id":"@_user_1","user_name":"Sophia"},{"tag":"text","text":" see?"}],[],[{"tag":"img","image_key":"img_1"}]]}"#;
        let s = parse("post", content, &ms, NO_ID).unwrap().unwrap();
        assert_eq!(
            s,
            [
                Segment::Mention { user: "ou_bot".into(), name: Some("Sophia".into()), bot: true },
                Segment::text(" see?\n\n"),
                Segment::Image { url: None, id: Some("img_1".into()) },
            ]
        );
        assert_eq!(parse("interactive", "{}", &ms, NO_ID), Ok(None));
        assert_eq!(parse("text", "{}", &ms, NO_ID), Err(()));
    }

    #[test]
    fn replies_are_posts_whose_text_is_literal() {
        let out = render(&[
            Segment::Mention { user: "ou_1".into(), name: None, bot: false },
            Segment::text(" <at user_id=\"all\"></at>\nline 2"),
        ]);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v,
            json!({"zh_cn":{"content":[
                [{"tag":"at","user_id":"ou_1"},{"tag":"text","text":" <at user_id=\"all\"></at>"}],
                [{"tag":"text","text":"line 2"}]
            ]}})
        );
    }

    proptest! {
        /// Literal text rendered as a post and read back is the same text,
        /// and never a mention.
        #[test]
        fn literal_text_round_trips_and_never_becomes_a_mention(text in "(<at user_id=\"all\"></at>|@_all|@_user_1|\n|x| )*|\\PC*") {
            let ms = [m("@_user_1", "ou_bot", "Helper", None)];
            let back = parse("post", &render(&[Segment::text(text.clone())]), &ms, NO_ID).unwrap().unwrap();
            let joined: String = back.iter().map(|s| match s { Segment::Text { text } => text.clone(), other => format!("{other:?}") }).collect();
            prop_assert_eq!(joined, text);
        }
    }
}
