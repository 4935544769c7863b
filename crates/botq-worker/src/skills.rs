//! Which messages the bot answers, and the built-in skills.
//!
//! Routing is pure: the envelope and the bot's routing settings decide.
//! Messages from bots are ignored unless the bot opts in (no reply loops); a
//! group message is for the bot only when it mentions it or starts with the
//! command prefix (configurable per bot); private messages always are. The
//! text is taken after any leading mention markup the platform leaves in it
//! (QQ's leading space, Lark's `@_user_1`, OneBot's `[CQ:at,qq=…]`).
//!
//! Built-in skills answer without any brain behind botq: `/ping` → `pong`,
//! `/echo <text>` → `<text>`, `/help` → the command list. Anything else that
//! is addressed to the bot goes to the upstream agent once one is configured;
//! until then it is ignored.

use botq_core::config::{GroupMode, Routing};
use botq_core::envelope::{ChatKind, Envelope};

/// What to do with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Not for the bot: acknowledge and drop. The reason is a metric label.
    Ignore(&'static str),
    /// Run a built-in skill.
    Builtin { skill: Builtin, args: String },
    /// Addressed to the bot but not a built-in command.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Ping,
    Echo,
    Help,
    Unknown,
}

impl Builtin {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::Echo => "echo",
            Self::Help => "help",
            Self::Unknown => "unknown_command",
        }
    }

    /// The replies of the skill for `args`.
    #[must_use]
    pub fn run(self, prefix: &str, args: &str) -> Vec<String> {
        match self {
            Self::Ping => vec!["pong".to_owned()],
            Self::Echo if args.is_empty() => vec![format!("usage: {prefix}echo <text>")],
            Self::Echo => vec![args.to_owned()],
            Self::Help => vec![help(prefix)],
            Self::Unknown => vec![format!("unknown command; try {prefix}help")],
        }
    }
}

fn help(prefix: &str) -> String {
    format!(
        "commands:\n{prefix}ping: check that the bot answers\n{prefix}echo <text>: repeat the text\n{prefix}help: this list"
    )
}

/// Decides what `env` is for.
#[must_use]
pub fn route(env: &Envelope, routing: &Routing) -> Route {
    if env.sender_is_bot && !routing.respond_to_bots {
        return Route::Ignore("from_bot");
    }
    let text = strip_mentions(&env.text);
    let command = text.strip_prefix(routing.command_prefix.as_str());
    if env.chat_kind != ChatKind::Private {
        let addressed = match routing.group_mode {
            GroupMode::All => true,
            GroupMode::Mention => env.mentions_bot,
            GroupMode::MentionOrPrefix => env.mentions_bot || command.is_some(),
        };
        if !addressed {
            return Route::Ignore("not_addressed");
        }
    }
    let Some(command) = command else { return Route::Other };
    let (name, args) = command.split_once(char::is_whitespace).unwrap_or((command, ""));
    let skill = match name {
        "ping" => Builtin::Ping,
        "echo" => Builtin::Echo,
        "help" => Builtin::Help,
        _ => Builtin::Unknown,
    };
    Route::Builtin { skill, args: args.trim().to_owned() }
}

/// The text after leading whitespace and mention markup.
fn strip_mentions(text: &str) -> &str {
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
mod tests {
    use botq_core::envelope::Platform;
    use botq_core::ids::{BotId, RequestId};

    use super::*;

    fn routing() -> Routing {
        Routing { command_prefix: "/".into(), respond_to_bots: false, group_mode: GroupMode::MentionOrPrefix }
    }

    fn env(kind: ChatKind, text: &str, mentions: bool, from_bot: bool) -> Envelope {
        Envelope {
            version: 1,
            platform: Platform::Onebot,
            bot: BotId::parse("b").unwrap(),
            request_id: RequestId::new(),
            event_id: "e".into(),
            event_type: "message.group".into(),
            message_id: "1".into(),
            chat_kind: kind,
            chat_id: "c".into(),
            guild_id: None,
            sender_id: "u".into(),
            sender_is_bot: from_bot,
            text: text.into(),
            mentions_bot: mentions,
            platform_ts_ms: None,
            received_at_ms: 0,
        }
    }

    fn builtin(skill: Builtin, args: &str) -> Route {
        Route::Builtin { skill, args: args.into() }
    }

    #[test]
    fn commands_are_found_after_platform_mention_markup() {
        let r = routing();
        assert_eq!(route(&env(ChatKind::Group, " /ping", true, false), &r), builtin(Builtin::Ping, ""));
        assert_eq!(
            route(&env(ChatKind::Group, "@_user_1 /echo hi there", true, false), &r),
            builtin(Builtin::Echo, "hi there")
        );
        assert_eq!(
            route(&env(ChatKind::Group, "[CQ:at,qq=10001000] /help", true, false), &r),
            builtin(Builtin::Help, "")
        );
        assert_eq!(route(&env(ChatKind::Private, "/nope", false, false), &r), builtin(Builtin::Unknown, ""));
    }

    #[test]
    fn group_messages_need_a_mention_or_the_prefix() {
        let r = routing();
        assert_eq!(route(&env(ChatKind::Group, "hello all", false, false), &r), Route::Ignore("not_addressed"));
        assert_eq!(route(&env(ChatKind::Group, "/ping", false, false), &r), builtin(Builtin::Ping, ""));
        assert_eq!(route(&env(ChatKind::Group, "hello bot", true, false), &r), Route::Other);
        let mention_only = Routing { group_mode: GroupMode::Mention, ..routing() };
        assert_eq!(route(&env(ChatKind::Group, "/ping", false, false), &mention_only), Route::Ignore("not_addressed"));
        let all = Routing { group_mode: GroupMode::All, ..routing() };
        assert_eq!(route(&env(ChatKind::Group, "hello all", false, false), &all), Route::Other);
        assert_eq!(route(&env(ChatKind::Private, "hello", false, false), &routing()), Route::Other);
    }

    #[test]
    fn bots_are_ignored_unless_the_bot_opts_in() {
        assert_eq!(route(&env(ChatKind::Private, "/ping", false, true), &routing()), Route::Ignore("from_bot"));
        let opt_in = Routing { respond_to_bots: true, ..routing() };
        assert_eq!(route(&env(ChatKind::Private, "/ping", false, true), &opt_in), builtin(Builtin::Ping, ""));
    }

    #[test]
    fn a_custom_prefix_is_honoured() {
        let r = Routing { command_prefix: "!".into(), ..routing() };
        assert_eq!(route(&env(ChatKind::Group, "!ping", false, false), &r), builtin(Builtin::Ping, ""));
        assert_eq!(route(&env(ChatKind::Group, "/ping", false, false), &r), Route::Ignore("not_addressed"));
    }

    #[test]
    fn builtins_answer_as_documented() {
        assert_eq!(Builtin::Ping.run("/", ""), ["pong"]);
        assert_eq!(Builtin::Echo.run("/", "hi there"), ["hi there"]);
        assert_eq!(Builtin::Echo.run("/", ""), ["usage: /echo <text>"]);
        assert!(Builtin::Help.run("!", "")[0].contains("!ping"));
    }
}
