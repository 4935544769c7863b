//! The built-in skills, so that a fresh install answers without any brain
//! behind botq: `/ping` → `pong`, `/echo <text>` → `<text>`, `/help` → the
//! commands usable in this chat with their descriptions.

use botq_core::skill::BuiltinSkill;

/// The replies of `skill` for `args`; `commands` are (command, description)
/// pairs for `/help`.
#[must_use]
pub fn run(skill: BuiltinSkill, prefix: &str, args: &str, commands: &[(&str, &str)]) -> Vec<String> {
    match skill {
        BuiltinSkill::Ping => vec!["pong".to_owned()],
        BuiltinSkill::Echo if args.is_empty() => vec![format!("usage: {prefix}echo <text>")],
        BuiltinSkill::Echo => vec![args.to_owned()],
        BuiltinSkill::Help => {
            let mut text = "commands:".to_owned();
            for (command, description) in commands {
                text.push_str(&format!("\n{prefix}{command}: {description}"));
            }
            vec![text]
        }
    }
}

/// The answer to a command that does not exist in the chat.
#[must_use]
pub fn unknown(prefix: &str) -> String {
    format!("unknown command; try {prefix}help")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_answer_as_documented() {
        assert_eq!(run(BuiltinSkill::Ping, "/", "", &[]), ["pong"]);
        assert_eq!(run(BuiltinSkill::Echo, "/", "hi there", &[]), ["hi there"]);
        assert_eq!(run(BuiltinSkill::Echo, "/", "", &[]), ["usage: /echo <text>"]);
        let help = run(BuiltinSkill::Help, "!", "", &[("ask", "ask the agent"), ("ping", "check")]);
        assert_eq!(help, ["commands:\n!ask: ask the agent\n!ping: check"]);
    }
}
