//! A bot's routing and policy, the bot application's domain model: which
//! messages it answers, which skill each command runs, per-group overrides,
//! who may talk to it, who may use write skills, and its loop and storm
//! guards.
//!
//! `config` builds these from the `[[bot]]` tables and checks them; the
//! worker's bot application routes and guards by them; ingest reads only
//! the lanes (`Routing::lane_in`), which is why they live in core.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

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
