//! Checking the `[[skill]]` tables into skills (`crate::skill`): the
//! built-ins always present, each table's kind and policies, and the
//! defaults of what a table leaves out.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::Problems;
use super::raw::RawSkill;
use crate::skill::{
    BreakerConfig, BuiltinSkill, ContextBudget, Contract, DEFAULT_DEGRADED_TEXT, DEFAULT_SKILL_TIMEOUT_MS,
    DEFAULT_SLOW_ACK_TEXT, HttpSkill, SkillConfig, SkillKind, SlowAck,
};

/// A skill or command name: what may appear in metric labels and commands.
pub(super) fn valid_name(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Checks every `[[skill]]` and adds the built-ins not redefined.
pub(super) fn check_skills(
    raw: Vec<RawSkill>,
    handler_timeout: Duration,
    env: &dyn Fn(&str) -> Option<String>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Vec<SkillConfig> {
    let mut skills: BTreeMap<String, SkillConfig> = BTreeMap::new();
    for (i, raw) in raw.into_iter().enumerate() {
        let path = format!("skill[{i}]");
        if skills.contains_key(&raw.name) {
            problems.push(format!("{path}.name"), format!("duplicate skill name {:?}", raw.name));
        }
        if let Some(s) = check_skill(raw, &path, handler_timeout, env, base_dir, problems) {
            skills.insert(s.name.clone(), s);
        }
    }
    for b in [BuiltinSkill::Ping, BuiltinSkill::Echo, BuiltinSkill::Help] {
        skills.entry(b.name().to_owned()).or_insert_with(|| SkillConfig::builtin(b));
    }
    skills.into_values().collect()
}

fn check_skill(
    raw: RawSkill,
    path: &str,
    handler_timeout: Duration,
    env: &dyn Fn(&str) -> Option<String>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<SkillConfig> {
    let before = problems.len();
    if !valid_name(&raw.name) {
        problems.push(format!("{path}.name"), "must be 1 to 32 characters of [a-z0-9_-]".into());
    }
    let forbid = |problems: &mut Problems, key: &str, set: bool, kind: &str| {
        if set {
            problems.push(format!("{path}.{key}"), format!("not a setting of {kind} skills"));
        }
    };
    let kind = match raw.kind.as_str() {
        "builtin" => {
            forbid(problems, "url", raw.url.is_some(), "builtin");
            forbid(problems, "headers", !raw.headers.is_empty(), "builtin");
            forbid(problems, "signing_secret", raw.signing_secret.is_some(), "builtin");
            forbid(problems, "contract", raw.contract.is_some(), "builtin");
            match raw.builtin.as_deref().map(|b| (b, BuiltinSkill::parse(b))) {
                Some((_, Some(b))) => Some(SkillKind::Builtin(b)),
                Some((other, None)) => {
                    problems.push(format!("{path}.builtin"), format!("{other:?} is not one of ping, echo, help"));
                    None
                }
                None => {
                    problems.push(format!("{path}.builtin"), "required for builtin skills (ping, echo or help)".into());
                    None
                }
            }
        }
        "http" => {
            forbid(problems, "builtin", raw.builtin.is_some(), "http");
            let url = raw.url.clone().unwrap_or_default();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(format!("{path}.url"), "required: an http:// or https:// URL".into());
            }
            let mut headers = Vec::new();
            for (name, src) in &raw.headers {
                if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    problems.push(format!("{path}.headers.{name}"), "is not a valid header name".into());
                }
                match src.resolve(env, base_dir) {
                    Ok(v) => headers.push((name.clone(), v)),
                    Err(e) => problems.push(format!("{path}.headers.{name}"), e.to_string()),
                }
            }
            let signing_secret = raw.signing_secret.as_ref().and_then(|s| {
                s.resolve(env, base_dir)
                    .map_err(|e| problems.push(format!("{path}.signing_secret"), e.to_string()))
                    .ok()
            });
            let contract = match raw.contract {
                None | Some(1) => Contract::V1,
                Some(2) => Contract::V2,
                Some(n) => {
                    problems.push(format!("{path}.contract"), format!("{n} is not a contract version (1 or 2)"));
                    Contract::V1
                }
            };
            Some(SkillKind::Http(HttpSkill { url, headers, signing_secret, contract }))
        }
        other => {
            problems.push(format!("{path}.kind"), format!("{other:?} is not one of http, builtin"));
            None
        }
    };
    // Unset: 15 s, or less when the handler timeout leaves no room for it.
    let fitting = u64::try_from(handler_timeout.as_millis() * 3 / 4).unwrap_or(u64::MAX).max(1);
    let timeout = Duration::from_millis(raw.timeout_ms.unwrap_or(DEFAULT_SKILL_TIMEOUT_MS.min(fitting)));
    if timeout.is_zero() || timeout >= handler_timeout {
        problems.push(
            format!("{path}.timeout_ms"),
            format!(
                "must be ≥ 1 and below worker.handler_timeout_secs ({} s), which also covers sending the replies",
                handler_timeout.as_secs()
            ),
        );
    }
    let mut at_least_one = |key: &str, v: Option<u64>| {
        if v == Some(0) {
            problems.push(format!("{path}.{key}"), "must be ≥ 1".into());
        }
    };
    at_least_one("concurrency", raw.concurrency.map(u64::from));
    at_least_one("max_attempts", raw.max_attempts.map(u64::from));
    at_least_one("breaker_failures", raw.breaker_failures.map(u64::from));
    at_least_one("breaker_open_secs", raw.breaker_open_secs);
    at_least_one("slow_ack_ms", raw.slow_ack_ms);
    let max_replies = raw.max_replies.unwrap_or(3);
    if !(1..=4).contains(&max_replies) {
        problems.push(
            format!("{path}.max_replies"),
            "must be 1 to 4 (QQ accepts 5 replies to one message, one of them the acknowledgement)".into(),
        );
    }
    if raw.slow_ack_text.is_some() && raw.slow_ack_ms.is_none() {
        problems.push(format!("{path}.slow_ack_text"), "needs slow_ack_ms".into());
    }
    if let Some(ms) = raw.slow_ack_ms
        && Duration::from_millis(ms) >= timeout
    {
        problems.push(format!("{path}.slow_ack_ms"), "must be below timeout_ms".into());
    }
    for (key, text) in [("slow_ack_text", &raw.slow_ack_text), ("degraded_text", &raw.degraded_text)] {
        if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
            problems.push(format!("{path}.{key}"), "must not be empty".into());
        }
    }
    if raw.writes && raw.cache_ttl_secs.is_some_and(|t| t > 0) {
        problems.push(format!("{path}.cache_ttl_secs"), "a write skill's answers must not be cached".into());
    }
    if raw.context.is_some() && raw.cache_ttl_secs.is_some_and(|t| t > 0) {
        problems.push(
            format!("{path}.cache_ttl_secs"),
            "a skill that receives the conversation window is not deterministic in its input; drop context or the cache".into(),
        );
    }
    if let Some(c) = &raw.context
        && (c.messages == 0 || c.bytes == 0)
    {
        problems.push(format!("{path}.context"), "needs messages ≥ 1 and bytes ≥ 1".into());
    }
    if problems.len() > before {
        return None;
    }
    let kind = kind?;
    let description = raw.description.unwrap_or_else(|| match &kind {
        SkillKind::Builtin(b) => b.description().to_owned(),
        SkillKind::Http(_) => format!("ask {}", raw.name),
    });
    Some(SkillConfig {
        name: raw.name,
        kind,
        description,
        writes: raw.writes,
        timeout,
        concurrency: raw.concurrency,
        max_attempts: raw.max_attempts,
        slow_ack: raw.slow_ack_ms.map(|ms| SlowAck {
            after: Duration::from_millis(ms),
            text: raw.slow_ack_text.unwrap_or_else(|| DEFAULT_SLOW_ACK_TEXT.to_owned()),
        }),
        degraded_text: raw.degraded_text.unwrap_or_else(|| DEFAULT_DEGRADED_TEXT.to_owned()),
        breaker: BreakerConfig {
            failures: raw.breaker_failures.unwrap_or(5),
            open_for: Duration::from_secs(raw.breaker_open_secs.unwrap_or(30)),
        },
        cooldown: raw.cooldown_secs.filter(|s| *s > 0).map(Duration::from_secs),
        max_replies,
        audit_content: raw.audit_content,
        cache_ttl: raw.cache_ttl_secs.filter(|t| *t > 0).map(Duration::from_secs),
        context: raw.context.map(|c| ContextBudget { messages: c.messages, bytes: c.bytes }),
    })
}
