//! Checking the small tables: `[dedupe]`, `[log]`, `[fair_share]`,
//! `[audit]` and `[history]`. Each check records what is wrong at its key
//! path and returns the section's settings (with a stand-in where a value
//! is bad: the config is refused as a whole when anything was recorded).

use std::time::Duration;

use super::raw::{RawAudit, RawDedupe, RawFairShare, RawHistory, RawLog};
use super::{AuditConfig, FairShare, HistoryConfig, LogConfig, LogFormat, Problems};

/// How long an event's id is remembered, to drop a platform's redelivery.
pub(super) fn dedupe(raw: &RawDedupe, problems: &mut Problems) -> Duration {
    if raw.ttl_secs == 0 {
        problems.push("dedupe.ttl_secs".into(), "must be ≥ 1".into());
    }
    Duration::from_secs(raw.ttl_secs)
}

pub(super) fn log(raw: &RawLog, problems: &mut Problems) -> LogConfig {
    let format = match raw.format.as_str() {
        "auto" => LogFormat::Auto,
        "json" => LogFormat::Json,
        "pretty" => LogFormat::Pretty,
        other => {
            problems.push("log.format".into(), format!("{other:?} is not one of auto, json, pretty"));
            LogFormat::Auto
        }
    };
    if tracing_subscriber::EnvFilter::try_new(&raw.level).is_err() {
        problems
            .push("log.level".into(), format!("{:?} is not a tracing filter such as info or botq=debug", raw.level));
    }
    LogConfig { format, level: raw.level.clone() }
}

pub(super) fn fair_share(raw: &RawFairShare, problems: &mut Problems) -> FairShare {
    if raw.counter_ttl_secs == 0 {
        problems.push("fair_share.counter_ttl_secs".into(), "must be ≥ 1".into());
    }
    FairShare {
        max_queued_per_chat: (raw.max_queued_per_chat > 0).then_some(raw.max_queued_per_chat),
        counter_ttl: Duration::from_secs(raw.counter_ttl_secs),
    }
}

pub(super) fn audit(raw: &RawAudit, problems: &mut Problems) -> AuditConfig {
    if raw.max_len == 0 {
        problems.push("audit.max_len".into(), "must be ≥ 1".into());
    }
    if raw.max_age_secs == 0 {
        problems.push("audit.max_age_secs".into(), "must be ≥ 1".into());
    }
    AuditConfig { max_len: raw.max_len, max_age: Duration::from_secs(raw.max_age_secs) }
}

pub(super) fn history(raw: &RawHistory, problems: &mut Problems) -> HistoryConfig {
    if !HistoryConfig::RETENTION_SECS.contains(&raw.retention_secs) {
        problems.push(
            "history.retention_secs".into(),
            format!(
                "must be from {} (ten minutes) to {} (one day)",
                HistoryConfig::RETENTION_SECS.start(),
                HistoryConfig::RETENTION_SECS.end()
            ),
        );
    }
    HistoryConfig { retention: Duration::from_secs(raw.retention_secs) }
}
