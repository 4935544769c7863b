//! Checking a bot's routing and policy: which messages it answers, which
//! skill each command runs, per-group overrides, who may talk to it, who may
//! use write skills, and its loop and storm guards.
//!
//! Names of skills are checked against the `[[skill]]` tables afterwards
//! (`check_references`), once every table is read.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use super::Problems;
use super::raw::{RawBot, RawGroup};
use super::skill::SkillConfig;
use crate::envelope::Platform;

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

/// Which messages the bot answers, and with which skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// Commands start with this (default `/`).
    pub command_prefix: String,
    /// Answer messages from other bots too (off by default: no reply loops).
    pub respond_to_bots: bool,
    /// A skill's reply may mention everyone in the chat (off: such a
    /// mention is left out of the reply).
    pub mention_everyone: bool,
    /// A group message quoting one of the bot's recent replies is for the
    /// bot, as if it mentioned it (on by default). The worker remembers the
    /// ids of the bot's replies per chat for this.
    pub reply_addresses_bot: bool,
    pub group_mode: GroupMode,
    /// The bot's own sender ids (OneBot `self_id`, Lark `bot_open_id`): its
    /// own messages are never answered, whatever `respond_to_bots` says.
    pub self_ids: Vec<String>,
    /// Command name → skill name; `ping`, `echo` and `help` are always there
    /// unless the bot maps them elsewhere.
    pub commands: BTreeMap<String, String>,
    /// Answerable event type (QQ `INTERACTION_CREATE`, `GROUP_ADD_ROBOT`,
    /// `FRIEND_ADD`) → skill name; an event without an entry is not answered.
    pub events: BTreeMap<String, String>,
    /// The skill for addressed messages that are not commands.
    pub default_skill: Option<String>,
    pub disabled_skills: BTreeSet<String>,
    /// Overrides per group chat id.
    pub groups: HashMap<String, GroupPolicy>,
    pub access: AccessPolicy,
    pub guard: Guard,
    /// The lane of the bot's events; `None`: the default lane.
    pub lane: Option<String>,
    /// The conversation window kept per chat; `None`: off.
    pub context: Option<ContextWindow>,
}

/// What a bot keeps of each chat's conversation, for `http` skills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextWindow {
    /// Newest messages kept (the user's and botq's replies).
    pub messages: u32,
    /// At most this much text kept; older messages go first.
    pub bytes: u32,
    /// The window expires this long after its last message.
    pub ttl: Duration,
    /// Also keep group messages not addressed to the bot (as context only).
    pub include_unaddressed: bool,
    /// When messages fall out of the window, this skill condenses them into a summary.
    pub summarize_with: Option<String>,
}

/// When a group message is for the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupMode {
    /// Only when it mentions the bot or starts with the command prefix (default).
    MentionOrPrefix,
    /// Only when it mentions the bot.
    Mention,
    /// Every group message.
    All,
}

/// One group's overrides (`[[bot.group]]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupPolicy {
    /// When set, only these skills run in the group.
    pub enabled_skills: Option<BTreeSet<String>>,
    pub disabled_skills: BTreeSet<String>,
    /// `Some(None)`: no default skill in this group; `None`: the bot's.
    pub default_skill: Option<Option<String>>,
    pub group_mode: Option<GroupMode>,
    /// This group's lane, instead of the bot's.
    pub lane: Option<String>,
}

/// Who may use the bot. Deny lists win; a non-empty allow list admits only
/// its members. Write skills need the sender in `write_users` or the chat in
/// `write_groups`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    pub allow_users: HashSet<String>,
    pub deny_users: HashSet<String>,
    pub allow_groups: HashSet<String>,
    pub deny_groups: HashSet<String>,
    pub write_users: HashSet<String>,
    pub write_groups: HashSet<String>,
    /// The reply to a refused write skill; `{command}` is replaced by the
    /// command as typed (prefix included).
    pub write_refusal: String,
}

/// Loop and storm guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guard {
    /// Replies to one chat per minute, across replicas; past it the bot stays
    /// quiet in that chat until the next minute (stops bot ping-pong and
    /// runaway conversations).
    pub chat_replies_per_min: Option<u32>,
    /// The same text from the same sender in the same chat within this window
    /// is answered once.
    pub same_text_window: Option<Duration>,
}

pub const DEFAULT_WRITE_REFUSAL: &str =
    "Sorry, {command} changes data and only allow-listed users and groups may use it.";
pub const DEFAULT_CHAT_REPLIES_PER_MIN: u32 = 30;

impl Routing {
    /// The lane of the events of chat `chat_id` (`None`: the default lane).
    /// Group overrides apply to any chat id they name.
    #[must_use]
    pub fn lane_in(&self, chat_id: &str) -> Option<&str> {
        self.groups.get(chat_id).and_then(|g| g.lane.as_deref()).or(self.lane.as_deref())
    }

    /// The effective group mode in `chat_id`.
    #[must_use]
    pub fn group_mode_in(&self, chat_id: &str) -> GroupMode {
        self.groups.get(chat_id).and_then(|g| g.group_mode).unwrap_or(self.group_mode)
    }

    /// Whether `skill` may run in chat `chat_id` (`None`: a private chat).
    #[must_use]
    pub fn skill_enabled(&self, skill: &str, group: Option<&str>) -> bool {
        if self.disabled_skills.contains(skill) {
            return false;
        }
        match group.and_then(|g| self.groups.get(g)) {
            Some(g) => {
                !g.disabled_skills.contains(skill) && g.enabled_skills.as_ref().is_none_or(|e| e.contains(skill))
            }
            None => true,
        }
    }

    /// The default skill in `group` (`None`: a private chat), if enabled there.
    #[must_use]
    pub fn default_skill_in(&self, group: Option<&str>) -> Option<&str> {
        let chosen = match group.and_then(|g| self.groups.get(g)).and_then(|g| g.default_skill.as_ref()) {
            Some(over) => over.as_deref(),
            None => self.default_skill.as_deref(),
        };
        chosen.filter(|s| self.skill_enabled(s, group))
    }

    /// A routing with defaults only (tests and tools).
    #[must_use]
    pub fn defaults() -> Self {
        Self {
            command_prefix: "/".into(),
            respond_to_bots: false,
            mention_everyone: false,
            reply_addresses_bot: true,
            group_mode: GroupMode::MentionOrPrefix,
            self_ids: Vec::new(),
            commands: ["ping", "echo", "help"].map(|c| (c.to_owned(), c.to_owned())).into_iter().collect(),
            events: BTreeMap::new(),
            default_skill: None,
            disabled_skills: BTreeSet::new(),
            groups: HashMap::new(),
            access: AccessPolicy { write_refusal: DEFAULT_WRITE_REFUSAL.into(), ..AccessPolicy::default() },
            guard: Guard { chat_replies_per_min: Some(DEFAULT_CHAT_REPLIES_PER_MIN), same_text_window: None },
            lane: None,
            context: None,
        }
    }
}

impl AccessPolicy {
    /// Whether `sender` in `group` (`None`: a private chat) may use the bot at all.
    ///
    /// # Errors
    /// The reason (a metric label) when not.
    pub fn admits(&self, sender: &str, group: Option<&str>) -> Result<(), &'static str> {
        if self.deny_users.contains(sender) {
            return Err("denied_user");
        }
        if !self.allow_users.is_empty() && !self.allow_users.contains(sender) {
            return Err("user_not_allowed");
        }
        if let Some(g) = group {
            if self.deny_groups.contains(g) {
                return Err("denied_group");
            }
            if !self.allow_groups.is_empty() && !self.allow_groups.contains(g) {
                return Err("group_not_allowed");
            }
        }
        Ok(())
    }

    /// Whether `sender` in `group` may run write skills.
    #[must_use]
    pub fn may_write(&self, sender: &str, group: Option<&str>) -> bool {
        self.write_users.contains(sender) || group.is_some_and(|g| self.write_groups.contains(g))
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
        && skills.iter().any(|k| k.name == s && (k.writes || !matches!(k.kind, super::skill::SkillKind::Http(_))))
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
