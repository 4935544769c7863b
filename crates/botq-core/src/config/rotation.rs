//! A bot's `previous = { …, until = … }`: the credentials being rotated out.
//!
//! Rotating a webhook secret without refusing deliveries takes a window in
//! which both the new and the old one verify; the platform (or each of its
//! delivery servers) switches at its own pace inside it. Only credentials
//! that verify webhooks can have a previous value: QQ `secret`, Lark
//! `verification_token` and `encrypt_key`, OneBot `secret`. Outbound
//! credentials (Lark `app_secret`, OneBot `access_token`) are replaced, not
//! overlapped: botq only ever presents one.
//!
//! An `until` in the past is accepted, not a problem: the previous
//! credentials are then simply never used. Refusing it would turn a config
//! that was fine yesterday into one that stops the service from starting
//! after a restart, which is exactly the downtime rotation is meant to avoid.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::Problems;
use super::raw::{RawInstant, RawPrevious};
use super::secret::SecretSource;
use crate::envelope::Platform;

/// Checked `previous` credentials of one bot.
#[derive(Debug)]
pub struct PreviousCredentials {
    pub secret: Option<SecretString>,
    pub verification_token: Option<SecretString>,
    pub encrypt_key: Option<SecretString>,
    /// Unix milliseconds; webhooks received from then on must use the current credentials.
    pub until_ms: i64,
}

/// Which credentials of a platform can have a previous value.
fn rotatable(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::Qq | Platform::Onebot => &["secret"],
        Platform::Lark => &["verification_token", "encrypt_key"],
    }
}

/// Checks `{path}.previous` against the bot's resolved current credentials,
/// given as (key, value) for each rotatable key of any platform.
pub(super) fn check_previous(
    raw: &RawPrevious,
    platform: Platform,
    current: &[(&str, Option<&SecretString>)],
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<PreviousCredentials> {
    let path = format!("{path}.previous");
    let before = problems.len();
    let until_ms = check_until(raw.until.as_ref(), &path, problems);
    let allowed = rotatable(platform);
    let mut resolve = |key: &str, src: Option<&SecretSource>| -> Option<SecretString> {
        let src = src?;
        if !allowed.contains(&key) {
            let takes = allowed.join(", ");
            let message = format!("not a credential {} bots can rotate (they take {takes})", platform.as_str());
            problems.push(format!("{path}.{key}"), message);
            return None;
        }
        let now = current.iter().find(|(k, _)| *k == key).and_then(|(_, v)| *v);
        let Some(now) = now else {
            problems.push(format!("{path}.{key}"), format!("the bot has no current {key} to rotate from"));
            return None;
        };
        let old = src.resolve(env, base_dir).map_err(|e| problems.push(format!("{path}.{key}"), e.to_string())).ok()?;
        if old.expose_secret() == now.expose_secret() {
            let message = format!("is the same as the current {key}: set the new value as {key} and the old one here");
            problems.push(format!("{path}.{key}"), message);
            return None;
        }
        Some(old)
    };
    let secret = resolve("secret", raw.secret.as_ref());
    let verification_token = resolve("verification_token", raw.verification_token.as_ref());
    let encrypt_key = resolve("encrypt_key", raw.encrypt_key.as_ref());
    let named = raw.secret.is_some() || raw.verification_token.is_some() || raw.encrypt_key.is_some();
    if !named {
        problems.push(path, format!("names no credential; add {} or remove it", allowed.join(" or ")));
    }
    if problems.len() > before {
        return None;
    }
    Some(PreviousCredentials { secret, verification_token, encrypt_key, until_ms: until_ms? })
}

fn check_until(raw: Option<&RawInstant>, path: &str, problems: &mut Problems) -> Option<i64> {
    let key = format!("{path}.until");
    let Some(raw) = raw else {
        problems.push(
            key,
            "required: when the previous credentials stop being accepted, e.g. \"2026-12-01T00:00:00Z\"".into(),
        );
        return None;
    };
    let text = match raw {
        RawInstant::Text(s) => s.clone(),
        RawInstant::Toml(t) => t.to_string(),
    };
    let ms = crate::rfc3339::parse_unix_ms(&text);
    if ms.is_none() {
        problems.push(key, format!("{text:?} is not an RFC 3339 date-time with an offset, like 2026-12-01T00:00:00Z"));
    }
    ms
}

#[cfg(test)]
mod tests;
