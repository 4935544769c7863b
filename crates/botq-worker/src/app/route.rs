//! Which skill, if any, an event goes to.
//!
//! Routing is pure: the envelope and the bot's routing settings decide, so it
//! is tested without Redis or HTTP. In order:
//! 1. the bot's own messages are never answered; other bots' only when the
//!    bot opts in (no reply loops);
//! 2. deny and allow lists for users and groups;
//! 3. a group message is for the bot only when it mentions it or starts with
//!    the command prefix (per bot, overridable per group); private messages
//!    always are. A message quoting one of the bot's recent replies counts
//!    as mentioning it (`reply_addresses_bot`): whether it does is a Redis
//!    lookup, so the caller finds out and passes `replies_to_bot`;
//! 4. a command runs the skill it is mapped to, if that skill is enabled in
//!    the chat, else it is an unknown command; any other addressed message
//!    goes to the chat's default skill, or is ignored when there is none.
//!    An answerable event that is not a message (a QQ button, the bot added
//!    to a group) runs the skill the bot's `events` maps its type to.
//!
//! The text is the text as typed (`botq_core::message::typed`): the platform
//! codecs already removed the quote and the bot's mentions, and "mentions
//! the bot" comes from the segments. An envelope written by an ingest from
//! before the message model (envelope version 1) carries the platform's
//! markup in its text; for those the leading markup is stripped here.

use botq_core::envelope::{ChatKind, Envelope, LEGACY_TEXT_VERSION};
use botq_core::routing::{GroupMode, Routing};

/// The reason of a group message that is not for the bot.
pub const NOT_ADDRESSED: &str = "not_addressed";

/// What to do with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Not for the bot: acknowledge and drop. The reason is a metric label.
    Ignore(&'static str),
    /// Run `skill`. `command` is the command as typed (without the prefix)
    /// or `None` for the default skill; `args` is the text after the command,
    /// or the whole message for the default skill.
    Run { skill: String, command: Option<String>, args: String },
    /// A command that does not exist (or is disabled) in this chat.
    Unknown { command: String },
}

/// The group an event belongs to, for group policies (`None`: private chat).
#[must_use]
pub fn group_of(env: &Envelope) -> Option<&str> {
    (env.chat_kind != ChatKind::Private).then_some(env.chat_id.as_str())
}

/// Decides what `env` is for. `replies_to_bot`: the message quotes one of
/// the bot's own replies (see [`needs_quote_lookup`]).
#[must_use]
pub fn route(env: &Envelope, routing: &Routing, replies_to_bot: bool) -> Route {
    if routing.self_ids.contains(&env.sender_id) {
        return Route::Ignore("self");
    }
    if env.sender_is_bot && !routing.respond_to_bots {
        return Route::Ignore("from_bot");
    }
    let group = group_of(env);
    if let Err(reason) = routing.access.admits(&env.sender_id, group) {
        return Route::Ignore(reason);
    }
    if env.notice {
        // An event without a message: its type picks the skill, its text
        // (a button's data) is the argument.
        return match routing.events.get(&env.event_type).filter(|skill| routing.skill_enabled(skill, group)) {
            Some(skill) => Route::Run { skill: skill.clone(), command: None, args: env.text.trim().to_owned() },
            None => Route::Ignore("no_skill"),
        };
    }
    let text = if env.version <= LEGACY_TEXT_VERSION { strip_legacy_mentions(&env.text) } else { env.text.trim() };
    let command = text.strip_prefix(routing.command_prefix.as_str());
    if let Some(g) = group {
        let mentioned = env.mentions_bot || (replies_to_bot && routing.reply_addresses_bot);
        let addressed = match routing.group_mode_in(g) {
            GroupMode::All => true,
            GroupMode::Mention => mentioned,
            GroupMode::MentionOrPrefix => mentioned || command.is_some(),
        };
        if !addressed {
            return Route::Ignore(NOT_ADDRESSED);
        }
    }
    let Some(command) = command else {
        return match routing.default_skill_in(group) {
            Some(skill) => Route::Run { skill: skill.to_owned(), command: None, args: text.trim().to_owned() },
            None => Route::Ignore("no_skill"),
        };
    };
    let (name, args) = command.split_once(char::is_whitespace).unwrap_or((command, ""));
    match routing.commands.get(name).filter(|skill| routing.skill_enabled(skill, group)) {
        Some(skill) => {
            Route::Run { skill: skill.clone(), command: Some(name.to_owned()), args: args.trim().to_owned() }
        }
        None => Route::Unknown { command: name.to_owned() },
    }
}

/// The quoted message id to look up among the bot's replies: only when
/// that could change the route, i.e. `route` found the message not
/// addressed, the bot counts replies to it, and the message quotes one.
#[must_use]
pub fn needs_quote_lookup<'a>(env: &'a Envelope, routing: &Routing, route: &Route) -> Option<&'a str> {
    (routing.reply_addresses_bot && *route == Route::Ignore(NOT_ADDRESSED)).then(|| env.quoted()).flatten()
}

/// The commands usable in the chat of `env`, sorted, for `/help`.
#[must_use]
pub fn commands_in<'a>(env: &Envelope, routing: &'a Routing) -> Vec<(&'a str, &'a str)> {
    let group = group_of(env);
    routing
        .commands
        .iter()
        .filter(|(_, skill)| routing.skill_enabled(skill, group))
        .map(|(c, s)| (c.as_str(), s.as_str()))
        .collect()
}

/// The text of a pre-segments envelope after leading whitespace and mention
/// markup (Lark's `@_user_1`, OneBot's `[CQ:at,qq=…]`).
fn strip_legacy_mentions(text: &str) -> &str {
    let mut rest = text.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("[CQ:at,").and_then(|r| r.split_once(']')).map(|(_, a)| a) {
            rest = after.trim_start();
        } else if let Some(after) = rest.strip_prefix("@_user_") {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return rest;
            }
            rest = after[digits..].trim_start();
        } else {
            return rest;
        }
    }
}

#[cfg(test)]
mod tests;
