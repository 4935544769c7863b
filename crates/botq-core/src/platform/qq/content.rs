//! QQ message `content`: its embedded markup and escaping, both ways.
//!
//! The platform's message format (bot docs, "内嵌格式" and "文本交互"):
//! - `<@user_id>` and `<@!user_id>` mention a user (guild); `<qqbot-at-user
//!   id="…" />` is the newer form (groups and text channels);
//! - `@everyone` and the newer `<qqbot-at-everyone />` mention everyone (text
//!   channels only, with the permission);
//! - `<#channel_id>` links a channel, `<emoji:id>` is a system emoji;
//! - "to tell text from markup", delivered content escapes `&` `<` `>` as
//!   `&amp;` `&lt;` `&gt;`, and sent content is unescaped the same way.
//!
//! So a user who types `R&D <x>` arrives as `R&amp;D &lt;x&gt;`, and text a
//! skill sends must be escaped or `<@!1>` becomes a live mention. `@everyone`
//! has no escape: outbound it gets a zero-width space after the `@`
//! (`message::neutralise_word_after_at`), where the platform reads it
//! (guild channels and DMs).

use crate::message::{self, Segment, Shown};

/// The text as typed shows a mention of everyone as the markup itself,
/// which is what the user typed.
pub(super) const SHOWN: Shown = Shown { everyone: Some("@everyone") };

const EVERYONE: &str = "everyone";

/// A user named in the event's `mentions` (guild messages).
#[derive(Debug, Clone, Copy)]
pub(super) struct Known<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub bot: bool,
}

/// Parses delivered `content` into segments. `known` are the event's
/// `mentions` (a mention of one marked `bot` is this bot's); `guild` says
/// whether bare `@everyone` is markup (guild) or text (groups, C2C).
pub(super) fn parse(content: &str, known: &[Known<'_>], guild: bool) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut rest = content;
    while let Some(open) = rest.find('<') {
        let Some((segment, len)) = markup(&rest[open..], known) else {
            // Not markup: the `<` is text (the platform escapes a typed one).
            text(&mut segments, &rest[..=open], guild);
            rest = &rest[open + 1..];
            continue;
        };
        text(&mut segments, &rest[..open], guild);
        segments.push(segment);
        rest = &rest[open + len..];
    }
    text(&mut segments, rest, guild);
    segments
}

/// One piece of markup at the start of `s`, and its length.
fn markup(s: &str, known: &[Known<'_>]) -> Option<(Segment, usize)> {
    let close = s.find('>')?;
    let inner = &s[1..close];
    let len = close + 1;
    let id_ok = |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let mention = |id: &str| {
        let k = known.iter().find(|k| k.id == id);
        Segment::Mention {
            user: id.to_owned(),
            name: k.and_then(|k| k.name).map(str::to_owned),
            bot: k.is_some_and(|k| k.bot),
        }
    };
    let segment = if let Some(id) = inner.strip_prefix("@!").or_else(|| inner.strip_prefix('@')) {
        id_ok(id).then(|| mention(id))?
    } else if let Some(id) = inner.strip_prefix('#') {
        id_ok(id).then(|| Segment::Channel { id: id.to_owned() })?
    } else if let Some(id) = inner.strip_prefix("emoji:") {
        id_ok(id).then(|| Segment::Face { id: id.to_owned() })?
    } else if let Some(attrs) = inner.strip_prefix("qqbot-at-user") {
        // The `id` attribute itself, not the end of another (`uid="…"`).
        let id = attrs.split_once(" id=\"").and_then(|(_, v)| v.split_once('"')).map(|(id, _)| id)?;
        id_ok(id).then(|| mention(id))?
    } else if inner.trim_end_matches('/').trim() == "qqbot-at-everyone" {
        Segment::MentionEveryone
    } else {
        return None;
    };
    Some((segment, len))
}

/// Delivered text between markup: unescaped; in a guild, `@everyone` is a
/// mention of everyone and a zero-width run after `@` loses the one botq
/// adds there.
fn text(segments: &mut Vec<Segment>, escaped: &str, guild: bool) {
    let plain = unescape(escaped);
    if !guild {
        message::push_text(segments, &plain);
        return;
    }
    let mut rest = plain.as_str();
    while let Some(at) = rest.find("@everyone") {
        message::push_text(segments, &message::restore_word_after_at(&rest[..at], EVERYONE));
        segments.push(Segment::MentionEveryone);
        rest = &rest[at + "@everyone".len()..];
    }
    message::push_text(segments, &message::restore_word_after_at(rest, EVERYONE));
}

/// `&amp;` `&lt;` `&gt;` decoded; any other `&` stays as it is.
fn unescape(s: &str) -> String {
    message::decode_entities(s, &[("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>')])
}

/// Literal text as `content`: `&` `<` `>` escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Where a reply goes, which decides the markup it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scene {
    Group,
    C2c,
    Channel,
    GuildDm,
}

impl Scene {
    #[must_use]
    pub fn guild(self) -> bool {
        matches!(self, Self::Channel | Self::GuildDm)
    }
}

/// A reply's segments as QQ sends them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rendered {
    pub content: String,
    /// The first image's URL: the guild APIs' `image` field; in group and
    /// C2C chats uploaded first (`reply::media_upload`). Further images
    /// are their URLs as text.
    pub image: Option<String>,
    /// The message quoted (`message_reference`).
    pub quote: Option<String>,
}

/// Renders segments for `scene`: text escaped, a mention as the markup the
/// scene reads (none in C2C, where there is no one else), everyone only in
/// a text channel, the first image apart (the scene's API decides how it
/// goes), further images as their URLs. Segments without an outbound form
/// are left out.
#[must_use]
pub fn render(segments: &[Segment], scene: Scene) -> Rendered {
    let mut r = Rendered::default();
    for s in segments {
        match s {
            Segment::Text { text } => r.content.push_str(&escape(text)),
            Segment::Mention { user, .. } if message::names_everyone(user) => {}
            Segment::Mention { user, .. } => match scene {
                Scene::Group => r.content.push_str(&format!("<qqbot-at-user id=\"{user}\" />")),
                Scene::Channel | Scene::GuildDm => r.content.push_str(&format!("<@{user}>")),
                Scene::C2c => {}
            },
            Segment::MentionEveryone if scene == Scene::Channel => r.content.push_str("<qqbot-at-everyone />"),
            Segment::Image { url: Some(url), .. } if r.image.is_none() => r.image = Some(url.clone()),
            Segment::Image { url: Some(url), .. } => r.content.push_str(&escape(url)),
            Segment::Quote { message_id } if r.quote.is_none() => r.quote = Some(message_id.clone()),
            _ => {}
        }
    }
    // Over the whole content, not per segment: `@` and `everyone` from two
    // segments (or around one that renders nothing) must not meet.
    if scene.guild() {
        r.content = message::neutralise_word_after_at(&r.content, EVERYONE);
    }
    r
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const BOT: Known<'static> = Known { id: "6528917200927240171", name: Some("helper"), bot: true };

    #[test]
    fn guild_markup_becomes_segments_and_the_bots_mention_is_known() {
        let s =
            parse("<@!6528917200927240171> /echo R&amp;D &lt;b&gt; <#12345> <emoji:4> @everyone <@42>", &[BOT], true);
        assert_eq!(
            s,
            [
                Segment::Mention { user: BOT.id.into(), name: Some("helper".into()), bot: true },
                Segment::text(" /echo R&D <b> "),
                Segment::Channel { id: "12345".into() },
                Segment::text(" "),
                Segment::Face { id: "4".into() },
                Segment::text(" "),
                Segment::MentionEveryone,
                Segment::text(" "),
                Segment::Mention { user: "42".into(), name: None, bot: false },
            ]
        );
        let t = message::typed(&s, SHOWN);
        assert_eq!((t.text.as_str(), t.mentions_bot), ("/echo R&D <b>   @everyone", true));
    }

    #[test]
    fn newer_markup_and_text_that_only_looks_like_markup() {
        assert_eq!(
            parse(r#"<qqbot-at-user id="ABC" /> hi <qqbot-at-everyone />"#, &[], false),
            [
                Segment::Mention { user: "ABC".into(), name: None, bot: false },
                Segment::text(" hi "),
                Segment::MentionEveryone
            ]
        );
        assert_eq!(parse("a < b @everyone", &[], false), [Segment::text("a < b @everyone")], "text in a group");
        assert_eq!(parse("<@!x y>", &[], true), [Segment::text("<@!x y>")]);
        assert_eq!(parse("&amp;lt;", &[], false), [Segment::text("&lt;")], "unescaped once");
    }

    #[test]
    fn literal_text_is_escaped_so_it_shows_as_typed() {
        let r = render(&[Segment::text("<@!1> @everyone <#2> R&D")], Scene::Channel);
        assert_eq!(r.content, "&lt;@!1&gt; @\u{200B}everyone &lt;#2&gt; R&amp;D");
        let g = render(&[Segment::text("@everyone")], Scene::Group);
        assert_eq!(g.content, "@everyone", "groups do not read @everyone");
    }

    #[test]
    fn everyone_split_over_segments_or_spelled_as_a_user_is_no_mention() {
        let split = [
            Segment::text("@"),
            Segment::Quote { message_id: "m".into() },
            Segment::text("every"),
            Segment::text("one"),
            Segment::Mention { user: "everyone".into(), name: None, bot: false },
        ];
        let r = render(&split, Scene::Channel);
        assert_eq!(r.content, "@\u{200B}everyone");
        assert!(!parse(&r.content, &[], true).contains(&Segment::MentionEveryone));
        let uid = parse(r#"<qqbot-at-user uid="X" id="Y" />"#, &[], false);
        assert_eq!(uid, [Segment::Mention { user: "Y".into(), name: None, bot: false }], "the id attribute");
    }

    #[test]
    fn each_scene_gets_the_mention_markup_it_reads() {
        let m = [Segment::Mention { user: "U1".into(), name: None, bot: false }, Segment::text(" hi")];
        assert_eq!(render(&m, Scene::Group).content, "<qqbot-at-user id=\"U1\" /> hi");
        assert_eq!(render(&m, Scene::Channel).content, "<@U1> hi");
        assert_eq!(render(&m, Scene::C2c).content, " hi");
        let all = [Segment::MentionEveryone];
        assert_eq!(render(&all, Scene::Channel).content, "<qqbot-at-everyone />");
        assert_eq!(render(&all, Scene::Group).content, "");
        let img = [Segment::Image { url: Some("https://x/a.png".into()), id: None }];
        assert_eq!(render(&img, Scene::Channel).image.as_deref(), Some("https://x/a.png"));
        assert_eq!(render(&img, Scene::Group).image.as_deref(), Some("https://x/a.png"));
        let two = [img[0].clone(), Segment::Image { url: Some("https://x/b.png?a&b".into()), id: None }];
        assert_eq!(render(&two, Scene::Group).content, "https://x/b.png?a&amp;b");
    }

    fn scene() -> impl Strategy<Value = Scene> {
        prop_oneof![Just(Scene::Group), Just(Scene::C2c), Just(Scene::Channel), Just(Scene::GuildDm)]
    }

    fn tricky() -> impl Strategy<Value = String> {
        prop_oneof!["(<|>|&|@|everyone|amp;|lt;|gt;|<@!1>|<#2>|<emoji:3>|<qqbot-at-everyone />|\u{200B}| |x)*", "\\PC*"]
    }

    proptest! {
        /// Any literal text, rendered and parsed back, is the same text, and
        /// never a mention, channel link, emoji or everyone.
        #[test]
        fn literal_text_round_trips_and_never_becomes_markup(text in tricky(), scene in scene()) {
            let r = render(&[Segment::text(text.clone())], scene);
            let back = parse(&r.content, &[BOT], scene != Scene::Group && scene != Scene::C2c);
            if text.is_empty() {
                prop_assert!(back.is_empty());
            } else {
                prop_assert_eq!(back, vec![Segment::text(text)]);
            }
        }
    }
}
