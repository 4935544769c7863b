//! Checking a bot's routing and policy (`crate::routing`) from its
//! `[[bot]]` table: commands, events, group overrides, access lists and
//! guards.
//!
//! Names of skills are checked against the `[[skill]]` tables afterwards
//! (`check_references`), once every table is read.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::Problems;
use super::raw::{RawBot, RawGroup};
use crate::envelope::Platform;
use crate::routing::{
    AccessPolicy, ContextWindow, DEFAULT_CHAT_REPLIES_PER_MIN, DEFAULT_WRITE_REFUSAL, GroupMode, GroupPolicy, Guard,
    Routing,
};
use crate::skill::SkillConfig;

/// A command name: what follows the prefix up to the first space. Users
/// type commands in their own script (`/关注`), so letters of any script
/// count; ASCII capitals do not, as commands match exactly.
fn valid_command(s: &str) -> bool {
    (1..=32).contains(&s.chars().count())
        && s.chars().all(|c| (c.is_alphanumeric() && !c.is_ascii_uppercase()) || c == '_' || c == '-')
}

/// The QQ events without a message that a skill may answer (by `event_id`).
const QQ_EVENTS: [&str; 3] = ["INTERACTION_CREATE", "GROUP_ADD_ROBOT", "FRIEND_ADD"];

/// The answerable events of a platform (Lark and OneBot: none yet).
fn answerable(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::Qq => &QQ_EVENTS,
        Platform::Lark | Platform::Onebot => &[],
    }
}

fn parse_group_mode(s: &str, key: &str, problems: &mut Problems) -> GroupMode {
    match s {
        "mention_or_prefix" => GroupMode::MentionOrPrefix,
        "mention" => GroupMode::Mention,
        "all" => GroupMode::All,
        other => {
            problems.push(key.to_owned(), format!("{other:?} is not one of mention_or_prefix, mention, all"));
            GroupMode::MentionOrPrefix
        }
    }
}

pub(super) fn check_routing(raw: &RawBot, platform: Platform, path: &str, problems: &mut Problems) -> Routing {
    let command_prefix = raw.command_prefix.clone().unwrap_or_else(|| "/".to_owned());
    if command_prefix.is_empty()
        || command_prefix.chars().count() > 8
        || command_prefix.chars().any(char::is_whitespace)
    {
        problems.push(format!("{path}.command_prefix"), "must be 1 to 8 characters without spaces".to_owned());
    }
    let group_mode = parse_group_mode(
        raw.group_mode.as_deref().unwrap_or("mention_or_prefix"),
        &format!("{path}.group_mode"),
        problems,
    );
    let self_ids = match platform {
        Platform::Onebot => raw.app_id.iter().cloned().collect(),
        Platform::Lark => raw.bot_open_id.iter().cloned().collect(),
        Platform::Qq => Vec::new(),
    };
    let mut commands = Routing::defaults().commands;
    for (command, skill) in &raw.commands {
        if !valid_command(command) {
            problems.push(
                format!("{path}.commands.{command}"),
                "a command is 1 to 32 letters (any script, no ASCII capitals), digits, '_' or '-'".into(),
            );
        }
        commands.insert(command.clone(), skill.clone());
    }
    for event in raw.events.keys() {
        if !answerable(platform).contains(&event.as_str()) {
            problems.push(
                format!("{path}.events.{event}"),
                format!("not an event a {} bot can answer (QQ: {})", platform.as_str(), QQ_EVENTS.join(", ")),
            );
        }
    }
    let mut groups = HashMap::new();
    for (i, g) in raw.groups.iter().enumerate() {
        let gpath = format!("{path}.group[{i}]");
        if g.id.is_empty() {
            problems.push(format!("{gpath}.id"), "must not be empty".into());
        }
        if groups.insert(g.id.clone(), check_group(g, &gpath, problems)).is_some() {
            problems.push(format!("{gpath}.id"), format!("duplicate group {:?}", g.id));
        }
    }
    let a = &raw.access;
    let set = |v: &Vec<String>| v.iter().cloned().collect::<HashSet<_>>();
    let access = AccessPolicy {
        allow_users: set(&a.allow_users),
        deny_users: set(&a.deny_users),
        allow_groups: set(&a.allow_groups),
        deny_groups: set(&a.deny_groups),
        write_users: set(&a.write_users),
        write_groups: set(&a.write_groups),
        write_refusal: a.write_refusal.clone().unwrap_or_else(|| DEFAULT_WRITE_REFUSAL.to_owned()),
    };
    if access.write_refusal.trim().is_empty() {
        problems.push(format!("{path}.access.write_refusal"), "must not be empty".into());
    }
    let guard = Guard {
        chat_replies_per_min: match raw.guard.chat_replies_per_min {
            Some(0) => None,
            Some(n) => Some(n),
            None => Some(DEFAULT_CHAT_REPLIES_PER_MIN),
        },
        same_text_window: raw.guard.same_text_window_secs.filter(|s| *s > 0).map(Duration::from_secs),
    };
    Routing {
        command_prefix,
        respond_to_bots: raw.respond_to_bots.unwrap_or(false),
        mention_everyone: raw.mention_everyone.unwrap_or(false),
        reply_addresses_bot: raw.reply_addresses_bot.unwrap_or(true),
        group_mode,
        self_ids,
        commands,
        events: raw.events.clone(),
        default_skill: raw.default_skill.clone(),
        disabled_skills: raw.disabled_skills.iter().cloned().collect(),
        groups,
        access,
        guard,
        lane: raw.lane.clone(),
        context: check_context(&raw.context, path, problems),
    }
}

fn check_context(c: &super::raw::RawContext, path: &str, problems: &mut Problems) -> Option<ContextWindow> {
    if c.messages == 0 {
        return None;
    }
    if c.bytes == 0 || c.ttl_secs == 0 {
        problems.push(format!("{path}.context"), "needs bytes ≥ 1 and ttl_secs ≥ 1 when messages is set".into());
    }
    Some(ContextWindow {
        messages: c.messages,
        bytes: c.bytes,
        ttl: Duration::from_secs(c.ttl_secs),
        include_unaddressed: c.include_unaddressed,
        summarize_with: c.summarize_with.clone(),
    })
}

fn check_group(g: &RawGroup, path: &str, problems: &mut Problems) -> GroupPolicy {
    GroupPolicy {
        enabled_skills: g.enabled_skills.as_ref().map(|v| v.iter().cloned().collect()),
        disabled_skills: g.disabled_skills.iter().cloned().collect(),
        default_skill: g.default_skill.as_ref().map(|s| (!s.is_empty()).then(|| s.clone())),
        group_mode: g.group_mode.as_deref().map(|m| parse_group_mode(m, &format!("{path}.group_mode"), problems)),
        lane: g.lane.clone(),
    }
}

/// Every skill and lane a bot names must exist. Runs once all tables are read.
pub(super) fn check_references(
    path: &str,
    routing: &Routing,
    skills: &[SkillConfig],
    lanes: &[String],
    problems: &mut Problems,
) {
    let lane_ok = |l: &str| l == crate::keys::DEFAULT_LANE || lanes.iter().any(|n| n == l);
    if let Some(l) = routing.lane.as_deref().filter(|l| !lane_ok(l)) {
        problems.push(format!("{path}.lane"), format!("no lane named {l:?} (define it in a [[lane]] table)"));
    }
    let mut with_lane: Vec<_> =
        routing.groups.iter().filter_map(|(id, g)| g.lane.as_deref().map(|l| (id, l))).collect();
    with_lane.sort_unstable();
    for (id, l) in with_lane {
        if !lane_ok(l) {
            problems.push(
                format!("{path}.group[id={id}].lane"),
                format!("no lane named {l:?} (define it in a [[lane]] table)"),
            );
        }
    }
    if let Some(s) = routing.context.as_ref().and_then(|c| c.summarize_with.as_deref())
        && skills.iter().any(|k| k.name == s && (k.writes || !matches!(k.kind, crate::skill::SkillKind::Http(_))))
    {
        problems.push(format!("{path}.context.summarize_with"), format!("{s:?} must be a read-only http skill"));
    }
    let exists = |s: &str| skills.iter().any(|k| k.name == s);
    let mut check = |key: String, name: &str| {
        if !exists(name) {
            problems.push(key, format!("no skill named {name:?} (define it in a [[skill]] table)"));
        }
    };
    for (command, skill) in &routing.commands {
        check(format!("{path}.commands.{command}"), skill);
    }
    for (event, skill) in &routing.events {
        check(format!("{path}.events.{event}"), skill);
    }
    if let Some(d) = &routing.default_skill {
        check(format!("{path}.default_skill"), d);
    }
    if let Some(s) = routing.context.as_ref().and_then(|c| c.summarize_with.as_deref()) {
        check(format!("{path}.context.summarize_with"), s);
    }
    for s in &routing.disabled_skills {
        check(format!("{path}.disabled_skills"), s);
    }
    let mut groups: Vec<_> = routing.groups.iter().collect();
    groups.sort_by(|a, b| a.0.cmp(b.0));
    for (id, g) in groups {
        let gpath = format!("{path}.group[id={id}]");
        for s in g.enabled_skills.iter().flatten().chain(&g.disabled_skills) {
            check(format!("{gpath}.skills"), s);
        }
        if let Some(Some(d)) = &g.default_skill {
            check(format!("{gpath}.default_skill"), d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_lists_win_and_allow_lists_admit_only_members() {
        let mut a = AccessPolicy::default();
        assert_eq!(a.admits("u", Some("g")), Ok(()));
        a.allow_users.insert("u".into());
        assert_eq!(a.admits("v", None), Err("user_not_allowed"));
        a.deny_users.insert("u".into());
        assert_eq!(a.admits("u", None), Err("denied_user"));
        let mut a = AccessPolicy::default();
        a.allow_groups.insert("g".into());
        assert_eq!(a.admits("u", Some("h")), Err("group_not_allowed"));
        assert_eq!(a.admits("u", None), Ok(()), "group lists do not apply to private chats");
        a.deny_groups.insert("g".into());
        assert_eq!(a.admits("u", Some("g")), Err("denied_group"));
    }

    #[test]
    fn write_access_needs_an_allow_listed_user_or_group() {
        let mut a = AccessPolicy::default();
        assert!(!a.may_write("u", Some("g")));
        a.write_groups.insert("g".into());
        assert!(a.may_write("u", Some("g")) && !a.may_write("u", Some("h")) && !a.may_write("u", None));
        a.write_users.insert("u".into());
        assert!(a.may_write("u", None));
    }

    #[test]
    fn group_overrides_enable_disable_and_replace_the_default_skill() {
        let mut r = Routing { default_skill: Some("agent".into()), ..Routing::defaults() };
        r.groups.insert(
            "quiet".into(),
            GroupPolicy {
                default_skill: Some(None),
                disabled_skills: ["echo".into()].into(),
                ..GroupPolicy::default()
            },
        );
        r.groups.insert(
            "tight".into(),
            GroupPolicy { enabled_skills: Some(["ping".into()].into()), ..GroupPolicy::default() },
        );
        assert_eq!(r.default_skill_in(None), Some("agent"));
        assert_eq!(r.default_skill_in(Some("other")), Some("agent"));
        assert_eq!(r.default_skill_in(Some("quiet")), None);
        assert_eq!(r.default_skill_in(Some("tight")), None, "agent is not enabled there");
        assert!(!r.skill_enabled("echo", Some("quiet")) && r.skill_enabled("echo", None));
        assert!(r.skill_enabled("ping", Some("tight")) && !r.skill_enabled("help", Some("tight")));
    }
}
