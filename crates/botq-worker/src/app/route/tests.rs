use botq_core::envelope::Platform;
use botq_core::ids::{BotId, RequestId};
use botq_core::routing::GroupPolicy;

use super::*;

/// Routes a message that quotes none of the bot's replies.
fn route(env: &Envelope, r: &Routing) -> Route {
    super::route(env, r, false)
}

fn routing() -> Routing {
    Routing::defaults()
}

fn env(kind: ChatKind, text: &str, mentions: bool, from_bot: bool) -> Envelope {
    Envelope {
        version: botq_core::envelope::ENVELOPE_VERSION,
        platform: Platform::Onebot,
        bot: BotId::parse("b").unwrap(),
        request_id: RequestId::new(),
        event_id: "e".into(),
        event_type: "message.group".into(),
        message_id: "1".into(),
        chat_kind: kind,
        chat_id: "c".into(),
        guild_id: None,
        temp_group: None,
        notice: false,
        sender_id: "u".into(),
        sender_is_bot: from_bot,
        text: text.into(),
        segments: vec![botq_core::message::Segment::text(text)],
        mentions_bot: mentions,
        platform_ts_ms: None,
        received_at_ms: 0,
    }
}

fn run(skill: &str, command: Option<&str>, args: &str) -> Route {
    Route::Run { skill: skill.into(), command: command.map(Into::into), args: args.into() }
}

fn cmd(skill: &str, args: &str) -> Route {
    run(skill, Some(skill), args)
}

#[test]
fn commands_are_found_after_platform_mention_markup() {
    let r = routing();
    assert_eq!(route(&env(ChatKind::Group, " /ping", true, false), &r), cmd("ping", ""));
    // Envelopes written before the message model (no segments) carry the
    // platform's markup in their text.
    let legacy = |text: &str| Envelope { version: 1, segments: Vec::new(), ..env(ChatKind::Group, text, true, false) };
    assert_eq!(route(&legacy("@_user_1 /echo hi there"), &r), cmd("echo", "hi there"));
    assert_eq!(route(&legacy("[CQ:at,qq=10001000] /help"), &r), cmd("help", ""));
    assert_eq!(
        route(&env(ChatKind::Group, "[CQ:at,qq=10001000] /help", true, false), &r),
        Route::Ignore("no_skill"),
        "text the user typed that looks like markup is text, not a mention"
    );
    assert_eq!(route(&env(ChatKind::Private, "/nope", false, false), &r), Route::Unknown { command: "nope".into() });
}

#[test]
fn group_messages_need_a_mention_or_the_prefix() {
    let r = Routing { default_skill: Some("agent".into()), ..routing() };
    assert_eq!(route(&env(ChatKind::Group, "hello all", false, false), &r), Route::Ignore("not_addressed"));
    assert_eq!(route(&env(ChatKind::Group, "/ping", false, false), &r), cmd("ping", ""));
    assert_eq!(route(&env(ChatKind::Group, "hello bot", true, false), &r), run("agent", None, "hello bot"));
    let mention_only = Routing { group_mode: GroupMode::Mention, ..r.clone() };
    assert_eq!(route(&env(ChatKind::Group, "/ping", false, false), &mention_only), Route::Ignore("not_addressed"));
    let all = Routing { group_mode: GroupMode::All, ..r.clone() };
    assert_eq!(route(&env(ChatKind::Group, "hello all", false, false), &all), run("agent", None, "hello all"));
    assert_eq!(route(&env(ChatKind::Private, "hello", false, false), &r), run("agent", None, "hello"));
}

#[test]
fn messages_that_are_not_commands_are_ignored_without_a_default_skill() {
    assert_eq!(route(&env(ChatKind::Private, "hello", false, false), &routing()), Route::Ignore("no_skill"));
}

#[test]
fn bots_are_ignored_unless_the_bot_opts_in_and_its_own_messages_always() {
    assert_eq!(route(&env(ChatKind::Private, "/ping", false, true), &routing()), Route::Ignore("from_bot"));
    let opt_in = Routing { respond_to_bots: true, self_ids: vec!["me".into()], ..routing() };
    assert_eq!(route(&env(ChatKind::Private, "/ping", false, true), &opt_in), cmd("ping", ""));
    let mut own = env(ChatKind::Private, "/ping", false, true);
    own.sender_id = "me".into();
    assert_eq!(route(&own, &opt_in), Route::Ignore("self"));
}

#[test]
fn a_custom_prefix_is_honoured() {
    let r = Routing { command_prefix: "!".into(), ..routing() };
    assert_eq!(route(&env(ChatKind::Group, "!ping", false, false), &r), cmd("ping", ""));
    assert_eq!(route(&env(ChatKind::Group, "/ping", false, false), &r), Route::Ignore("not_addressed"));
}

#[test]
fn commands_map_to_skills_and_disabled_ones_are_unknown_in_that_group() {
    let mut r = routing();
    r.commands.insert("ask".into(), "agent".into());
    r.groups.insert("c".into(), GroupPolicy { disabled_skills: ["agent".into()].into(), ..GroupPolicy::default() });
    assert_eq!(route(&env(ChatKind::Private, "/ask why", false, false), &r), run("agent", Some("ask"), "why"));
    assert_eq!(route(&env(ChatKind::Group, "/ask why", false, false), &r), Route::Unknown { command: "ask".into() });
    let names: Vec<_> = commands_in(&env(ChatKind::Group, "", false, false), &r).into_iter().map(|c| c.0).collect();
    assert_eq!(names, ["echo", "help", "ping"]);
}

#[test]
fn deny_and_allow_lists_are_applied_before_anything_else() {
    let mut r = routing();
    r.access.deny_users.insert("u".into());
    assert_eq!(route(&env(ChatKind::Private, "/ping", false, false), &r), Route::Ignore("denied_user"));
    let mut r = routing();
    r.access.allow_groups.insert("other".into());
    assert_eq!(route(&env(ChatKind::Group, "/ping", true, false), &r), Route::Ignore("group_not_allowed"));
}

#[test]
fn a_group_can_override_the_group_mode() {
    let mut r = routing();
    r.groups.insert("c".into(), GroupPolicy { group_mode: Some(GroupMode::Mention), ..GroupPolicy::default() });
    assert_eq!(route(&env(ChatKind::Group, "/ping", false, false), &r), Route::Ignore("not_addressed"));
}

fn quoting(kind: ChatKind, text: &str, quoted: &str) -> Envelope {
    let mut e = env(kind, text, false, false);
    e.segments.insert(0, botq_core::message::Segment::Quote { message_id: quoted.into() });
    e
}

#[test]
fn a_quote_of_the_bots_reply_addresses_it_like_a_mention() {
    let r = Routing { group_mode: GroupMode::Mention, ..routing() };
    let e = quoting(ChatKind::Group, "/ping", "m7");
    assert_eq!(route(&e, &r), Route::Ignore(NOT_ADDRESSED));
    let first = route(&e, &r);
    assert_eq!(needs_quote_lookup(&e, &r, &first), Some("m7"));
    assert_eq!(super::route(&e, &r, true), cmd("ping", ""));
    // Without a default skill, a quote that is not a command stays unanswered.
    let chat = quoting(ChatKind::Group, "thanks", "m7");
    assert_eq!(super::route(&chat, &r, true), Route::Ignore("no_skill"));
    let with_agent = Routing { default_skill: Some("agent".into()), ..r.clone() };
    assert_eq!(super::route(&chat, &with_agent, true), run("agent", None, "thanks"));
}

#[test]
fn the_quote_lookup_happens_only_when_it_could_change_the_route() {
    let r = Routing { group_mode: GroupMode::Mention, ..routing() };
    // Mentioned already, private, or no quote at all: nothing to look up.
    let mut mentioned = quoting(ChatKind::Group, "/ping", "m7");
    mentioned.mentions_bot = true;
    let private = quoting(ChatKind::Private, "/ping", "m7");
    let plain = env(ChatKind::Group, "/ping", false, false);
    for e in [mentioned, private, plain] {
        let first = route(&e, &r);
        assert_eq!(needs_quote_lookup(&e, &r, &first), None, "{e:?}");
    }
    // The bot that opted out never looks, and a quote does not address it.
    let off = Routing { reply_addresses_bot: false, ..r };
    let e = quoting(ChatKind::Group, "/ping", "m7");
    assert_eq!(needs_quote_lookup(&e, &off, &route(&e, &off)), None);
    assert_eq!(super::route(&e, &off, true), Route::Ignore(NOT_ADDRESSED));
}
