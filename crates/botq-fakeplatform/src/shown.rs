//! What a user would see of a sent message: each platform's rules for the
//! text it is given, applied the way its clients show it.
//!
//! - QQ unescapes `&amp;` `&lt;` `&gt;` in `content` and reads its markup:
//!   `<@id>`, `<@!id>`, `<qqbot-at-user id="…" />` mention a user,
//!   `<qqbot-at-everyone />` (and, in guild channels, bare `@everyone`)
//!   everyone, `<#id>` links a channel, `<emoji:id>` is an emoji.
//! - Lark `text` content reads `<at user_id="…">name</at>` (`all` is
//!   everyone); a `post`'s `text` and `a` elements are literal and its `at`
//!   elements are mentions.
//! - OneBot reads CQ codes in a string message unless `auto_escape` is true
//!   (then it is literal text), and takes an array's text segments as text.
//!
//! Written apart from botq's own codecs on purpose: a test that compares
//! botq with itself proves nothing. Zero-width spaces are invisible, so the
//! text shown has none.

use serde_json::Value;

/// A message as shown: its visible text and what in it is live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shown {
    pub text: String,
    /// Users mentioned (`all` for everyone), in order.
    pub mentions: Vec<String>,
    /// The message quoted.
    pub quote: Option<String>,
    pub images: Vec<String>,
}

impl Shown {
    fn mention(&mut self, user: &str) {
        self.text.push('@');
        self.text.push_str(user);
        self.mentions.push(user.to_owned());
    }

    fn push_visible(&mut self, text: &str) {
        self.text.extend(text.chars().filter(|c| *c != '\u{200B}'));
    }
}

/// QQ `content`; `channel` says whether bare `@everyone` is read (a guild
/// text channel).
#[must_use]
pub fn qq(content: &str, channel: bool) -> Shown {
    let mut out = Shown::default();
    let mut rest = content;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('<')
            && let Some(end) = after.find('>')
        {
            let tag = &after[..end];
            let id_in = |s: &str| s.split('"').nth(1).map(str::to_owned);
            let live = if let Some(id) = tag.strip_prefix("@!").or_else(|| tag.strip_prefix('@')) {
                Some(("user", id.to_owned()))
            } else if tag.starts_with("qqbot-at-user") {
                id_in(tag).map(|id| ("user", id))
            } else if tag.starts_with("qqbot-at-everyone") {
                Some(("user", "all".to_owned()))
            } else if let Some(id) = tag.strip_prefix('#') {
                Some(("channel", id.to_owned()))
            } else {
                tag.strip_prefix("emoji:").map(|id| ("emoji", id.to_owned()))
            };
            if let Some((kind, id)) = live {
                match kind {
                    "user" => out.mention(&id),
                    "channel" => out.text.push_str(&format!("#{id}")),
                    _ => out.text.push_str(&format!("[emoji {id}]")),
                }
                rest = &after[end + 1..];
                continue;
            }
        }
        if channel && rest.starts_with("@everyone") {
            out.mention("all");
            rest = &rest["@everyone".len()..];
            continue;
        }
        let (piece, len) = qq_entity(rest);
        out.push_visible(piece);
        rest = &rest[len..];
    }
    out
}

/// One character or entity of QQ content: what it shows and its length.
fn qq_entity(s: &str) -> (&str, usize) {
    for (entity, shown) in [("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")] {
        if s.starts_with(entity) {
            return (shown, entity.len());
        }
    }
    let len = s.chars().next().map_or(1, char::len_utf8);
    (&s[..len], len)
}

/// Lark `content` of `msg_type`: `text` reads `<at>` tags, `post` has elements.
#[must_use]
pub fn lark(msg_type: &str, content: &Value) -> Shown {
    let mut out = Shown::default();
    match msg_type {
        "text" => {
            let mut rest = content.get("text").and_then(Value::as_str).unwrap_or_default();
            while let Some(start) = rest.find("<at ") {
                out.push_visible(&rest[..start]);
                let tag = &rest[start..];
                let Some(close) = tag.find("</at>") else {
                    out.push_visible(tag);
                    rest = "";
                    break;
                };
                let user = tag.split("user_id=\"").nth(1).and_then(|v| v.split('"').next()).unwrap_or_default();
                out.mention(user);
                rest = &tag[close + "</at>".len()..];
            }
            out.push_visible(rest);
        }
        "post" => {
            let post = content
                .get("content")
                .map_or_else(|| content.as_object().and_then(|o| o.values().find_map(|l| l.get("content"))), Some);
            for (i, paragraph) in post.and_then(Value::as_array).into_iter().flatten().enumerate() {
                if i > 0 {
                    out.text.push('\n');
                }
                for el in paragraph.as_array().into_iter().flatten() {
                    let field = |k: &str| el.get(k).and_then(Value::as_str).unwrap_or_default();
                    match field("tag") {
                        "at" => out.mention(field("user_id")),
                        "img" => out.images.push(field("image_key").to_owned()),
                        _ => out.push_visible(field("text")),
                    }
                }
            }
        }
        _ => out.text = content.to_string(),
    }
    out
}

/// A OneBot `message` with its `auto_escape`.
#[must_use]
pub fn onebot(message: &Value, auto_escape: bool) -> Shown {
    let mut out = Shown::default();
    match message {
        Value::String(s) if auto_escape => out.push_visible(s),
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(start) = rest.find("[CQ:") {
                out.push_visible(&cq_unescape(&rest[..start]));
                let Some(end) = rest[start..].find(']') else {
                    // Implementations show an unclosed code as the text it is.
                    out.push_visible(&cq_unescape(&rest[start..]));
                    rest = "";
                    break;
                };
                let code = &rest[start + 4..start + end];
                let mut parts = code.split(',');
                let kind = parts.next().unwrap_or_default();
                let data: Vec<(&str, String)> =
                    parts.filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k, cq_unescape(v))).collect();
                onebot_segment(&mut out, kind, |k| data.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()));
                rest = &rest[start + end + 1..];
            }
            out.push_visible(&cq_unescape(rest));
        }
        Value::Array(items) => {
            for item in items {
                let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
                onebot_segment(&mut out, kind, |k| match item.pointer(&format!("/data/{k}")) {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                });
            }
        }
        _ => {}
    }
    out
}

fn onebot_segment(out: &mut Shown, kind: &str, data: impl Fn(&str) -> Option<String>) {
    match kind {
        "text" => out.push_visible(&data("text").unwrap_or_default()),
        "at" => out.mention(&data("qq").unwrap_or_default()),
        "reply" => out.quote = data("id"),
        "image" => out.images.extend(data("file").or_else(|| data("url"))),
        other => out.text.push_str(&format!("[{other}]")),
    }
}

fn cq_unescape(s: &str) -> String {
    s.replace("&#91;", "[").replace("&#93;", "]").replace("&#44;", ",").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn qq_reads_markup_and_shows_escapes_as_characters() {
        let s = qq("<@!1> &lt;@!2&gt; R&amp;D @everyone @\u{200B}everyone <qqbot-at-user id=\"U\" />", true);
        assert_eq!(s.text, "@1 <@!2> R&D @all @everyone @U");
        assert_eq!(s.mentions, ["1", "all", "U"]);
        assert_eq!(qq("@everyone", false).mentions, Vec::<String>::new(), "groups do not read @everyone");
    }

    #[test]
    fn lark_text_reads_at_tags_and_posts_are_literal() {
        let t = lark("text", &json!({"text": "hi <at user_id=\"all\"></at>!"}));
        assert_eq!((t.text.as_str(), t.mentions.as_slice()), ("hi @all!", &["all".to_owned()][..]));
        let p = lark(
            "post",
            &json!({"zh_cn":{"content":[[{"tag":"at","user_id":"ou_1"},{"tag":"text","text":" <at user_id=\"all\"></at>"}],[{"tag":"text","text":"x"}]]}}),
        );
        assert_eq!(
            (p.text.as_str(), p.mentions.as_slice()),
            ("@ou_1 <at user_id=\"all\"></at>\nx", &["ou_1".to_owned()][..])
        );
    }

    #[test]
    fn onebot_honours_auto_escape_and_reads_arrays() {
        assert_eq!(onebot(&json!("[CQ:at,qq=all] R&amp;D"), false).mentions, ["all"]);
        assert_eq!(onebot(&json!("[CQ:at,qq=all] R&amp;D"), true).text, "[CQ:at,qq=all] R&amp;D");
        let a = onebot(
            &json!([{"type":"reply","data":{"id":"7"}},{"type":"at","data":{"qq":"5"}},{"type":"text","data":{"text":" [CQ:at,qq=all]"}}]),
            false,
        );
        assert_eq!(
            (a.text.as_str(), a.mentions.as_slice(), a.quote.as_deref()),
            ("@5 [CQ:at,qq=all]", &["5".to_owned()][..], Some("7"))
        );
    }
}
