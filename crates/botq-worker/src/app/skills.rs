//! Skills: what the bot can do, each with its policies.
//!
//! - [`builtin`]: `/ping`, `/echo`, `/help`, answered in-process.
//! - [`upstream`] and [`contract`]: `http` skills, which POST the normalised
//!   event to an upstream service (an agent such as OpenClaw, or anything
//!   that speaks the v1 contract) and turn its answer into replies.
//! - [`breaker`]: a circuit breaker per upstream, so a dead upstream gets
//!   the degraded answer at once instead of a timeout per message.
//!
//! A [`Skill`] is one configured skill with its live state (its breaker and
//! HTTP client). Skills are rebuilt on a config reload; a skill whose name
//! and breaker settings did not change keeps its breaker, so a reload does
//! not close a breaker that is open for good reason.

pub mod breaker;
pub mod builtin;
pub mod contract;
pub mod upstream;

use std::collections::HashMap;
use std::sync::Arc;

use botq_core::skill::{SkillConfig, SkillKind};

use self::breaker::Breaker;
use self::upstream::Upstream;

/// One configured skill and its live state.
#[derive(Debug)]
pub struct Skill {
    pub cfg: SkillConfig,
    pub breaker: Arc<Breaker>,
    /// `Some` for `http` skills.
    pub upstream: Option<Upstream>,
}

/// Builds the skills of a config, keeping the breakers of `previous` skills
/// whose breaker settings are unchanged.
#[must_use]
pub fn build(
    skills: &[SkillConfig],
    previous: Option<&HashMap<String, Arc<Skill>>>,
    http: &reqwest::Client,
) -> HashMap<String, Arc<Skill>> {
    skills
        .iter()
        .map(|cfg| {
            let kept = previous
                .and_then(|p| p.get(&cfg.name))
                .filter(|old| old.breaker.config() == cfg.breaker && old.upstream.is_some())
                .map(|old| old.breaker.clone());
            let breaker = kept.unwrap_or_else(|| Arc::new(Breaker::new(&cfg.name, cfg.breaker)));
            let upstream = match &cfg.kind {
                SkillKind::Http(h) => {
                    breaker.publish();
                    Some(Upstream::new(http.clone(), h.clone(), cfg.timeout))
                }
                SkillKind::Builtin(_) => None,
            };
            (cfg.name.clone(), Arc::new(Skill { cfg: cfg.clone(), breaker, upstream }))
        })
        .collect()
}
