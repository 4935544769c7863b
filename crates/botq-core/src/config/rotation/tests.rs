//! `previous = { … }` through the whole loader: keys, paths, resolution, adapters.

use std::path::Path;

use secrecy::ExposeSecret;

use crate::config::{Config, Problems, Service};

const UNTIL: &str = "2026-12-01T00:00:00Z";
const UNTIL_MS: i64 = 1_796_083_200_000;

fn qq(previous: &str) -> String {
    format!(
        r#"
[[bot]]
id = "qq-main"
platform = "qq"
app_id = "102000000"
secret = "new-qq-secret"
{previous}
"#
    )
}

fn lark(encrypt_key: bool, previous: &str) -> String {
    let key = if encrypt_key { r#"encrypt_key = "new-key""# } else { "" };
    format!(
        r#"
[[bot]]
id = "lark-main"
platform = "lark"
app_id = "cli_a"
app_secret = "s"
verification_token = "new-token"
{key}
{previous}
"#
    )
}

fn onebot(secret: bool, previous: &str) -> String {
    let secret = if secret { r#"secret = "new-hmac""# } else { "" };
    format!(
        r#"
[[bot]]
id = "onebot-main"
platform = "onebot"
api_base = "http://127.0.0.1:5700"
{secret}
{previous}
"#
    )
}

fn env(k: &str) -> Option<String> {
    (k == "OLD_SECRET").then(|| "old-from-env".to_owned())
}

fn load(text: &str) -> Result<Config, Problems> {
    Config::from_toml(text, Service::Ingest, &env, Path::new("."))
}

/// (path, message) of every problem.
fn problems(text: &str) -> Vec<(String, String)> {
    load(text).unwrap_err().0.into_iter().map(|p| (p.path, p.message)).collect()
}

fn paths(text: &str) -> Vec<String> {
    problems(text).into_iter().map(|(path, _)| path).collect()
}

#[test]
fn previous_credentials_of_every_platform_load_with_their_deadline() {
    let c = load(&qq(&format!(r#"previous = {{ secret = {{ env = "OLD_SECRET" }}, until = "{UNTIL}" }}"#))).unwrap();
    let p = c.bots[0].previous.as_ref().unwrap();
    assert_eq!(p.secret.as_ref().unwrap().expose_secret(), "old-from-env");
    assert_eq!(p.until_ms, UNTIL_MS);
    assert!(c.bots[0].adapter().is_ok());

    let both =
        format!(r#"previous = {{ verification_token = "old-token", encrypt_key = "old-key", until = "{UNTIL}" }}"#);
    let c = load(&lark(true, &both)).unwrap();
    let p = c.bots[0].previous.as_ref().unwrap();
    assert_eq!(p.verification_token.as_ref().unwrap().expose_secret(), "old-token");
    assert_eq!(p.encrypt_key.as_ref().unwrap().expose_secret(), "old-key");
    assert!(p.secret.is_none());
    assert!(c.bots[0].adapter().is_ok());

    let c = load(&onebot(true, &format!(r#"previous = {{ secret = "old-hmac", until = "{UNTIL}" }}"#))).unwrap();
    assert_eq!(c.bots[0].previous.as_ref().unwrap().secret.as_ref().unwrap().expose_secret(), "old-hmac");
    assert!(c.bots[0].adapter().is_ok());
}

#[test]
fn until_may_be_a_bare_toml_date_time_or_carry_an_offset() {
    let c = load(&qq(r#"previous = { secret = "old", until = 2026-12-01T08:00:00+08:00 }"#)).unwrap();
    assert_eq!(c.bots[0].previous.as_ref().unwrap().until_ms, UNTIL_MS);
    let c = load(&qq(r#"previous = { secret = "old", until = "2026-12-01T00:00:00.000Z" }"#)).unwrap();
    assert_eq!(c.bots[0].previous.as_ref().unwrap().until_ms, UNTIL_MS);
}

#[test]
fn an_until_in_the_past_is_accepted_so_an_old_config_still_starts() {
    let c = load(&qq(r#"previous = { secret = "old", until = "2020-01-01T00:00:00Z" }"#)).unwrap();
    assert_eq!(c.bots[0].previous.as_ref().unwrap().until_ms, 1_577_836_800_000);
}

#[test]
fn a_missing_or_malformed_until_is_reported_at_its_key_path() {
    assert_eq!(paths(&qq(r#"previous = { secret = "old" }"#)), ["bot[0].previous.until"]);
    for until in [r#""2026-12-01""#, r#""tomorrow""#, "2026-12-01T00:00:00", "2026-12-01", r#""""#] {
        let got = problems(&qq(&format!(r#"previous = {{ secret = "old", until = {until} }}"#)));
        assert_eq!(got.len(), 1, "{until}: {got:?}");
        assert_eq!(got[0].0, "bot[0].previous.until", "{until}");
        assert!(got[0].1.contains("RFC 3339"), "{until}: {}", got[0].1);
    }
}

#[test]
fn only_the_platforms_webhook_credentials_can_have_a_previous_value() {
    let got =
        paths(&qq(&format!(r#"previous = {{ verification_token = "t", encrypt_key = "k", until = "{UNTIL}" }}"#)));
    assert_eq!(got, ["bot[0].previous.verification_token", "bot[0].previous.encrypt_key"]);
    let got = paths(&lark(true, &format!(r#"previous = {{ secret = "old", until = "{UNTIL}" }}"#)));
    assert_eq!(got, ["bot[0].previous.secret"]);
    let got = paths(&onebot(true, &format!(r#"previous = {{ encrypt_key = "old", until = "{UNTIL}" }}"#)));
    assert_eq!(got, ["bot[0].previous.encrypt_key"]);
}

#[test]
fn outbound_credentials_are_unknown_keys_of_previous() {
    let got = problems(&lark(true, &format!(r#"previous = {{ app_secret = "old", until = "{UNTIL}" }}"#)));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].0.starts_with("bot[0].previous"), "{got:?}");
    assert!(got[0].1.contains("app_secret"), "{got:?}");
}

#[test]
fn a_previous_credential_needs_a_current_one_to_rotate_from() {
    let got = problems(&onebot(false, &format!(r#"previous = {{ secret = "old", until = "{UNTIL}" }}"#)));
    assert_eq!(got, [("bot[0].previous.secret".to_owned(), "the bot has no current secret to rotate from".to_owned())]);
    let got = paths(&lark(false, &format!(r#"previous = {{ encrypt_key = "old", until = "{UNTIL}" }}"#)));
    assert_eq!(got, ["bot[0].previous.encrypt_key"]);
}

#[test]
fn a_previous_value_equal_to_the_current_one_is_a_problem_that_does_not_print_it() {
    let got = problems(&qq(&format!(r#"previous = {{ secret = "new-qq-secret", until = "{UNTIL}" }}"#)));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "bot[0].previous.secret");
    assert!(got[0].1.contains("same as the current secret"), "{}", got[0].1);
    assert!(!got[0].1.contains("new-qq-secret"), "{}", got[0].1);
    let same_token = format!(r#"previous = {{ verification_token = "new-token", until = "{UNTIL}" }}"#);
    assert_eq!(paths(&lark(true, &same_token)), ["bot[0].previous.verification_token"]);
}

#[test]
fn a_previous_table_must_name_a_credential() {
    let got = problems(&lark(true, &format!(r#"previous = {{ until = "{UNTIL}" }}"#)));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "bot[0].previous");
    assert!(got[0].1.contains("verification_token or encrypt_key"), "{}", got[0].1);
}

#[test]
fn unresolvable_previous_secrets_are_reported_at_their_key_path() {
    let got = problems(&qq(&format!(r#"previous = {{ secret = {{ env = "NOPE" }}, until = "{UNTIL}" }}"#)));
    assert_eq!(got, [("bot[0].previous.secret".to_owned(), "environment variable NOPE is not set".to_owned())]);
    assert_eq!(paths(&qq(&format!(r#"previous = {{ secret = "", until = "{UNTIL}" }}"#))), ["bot[0].previous.secret"]);
}

#[test]
fn debug_output_of_a_bot_with_previous_credentials_hides_them() {
    let c = load(&lark(
        true,
        &format!(r#"previous = {{ verification_token = "old-token", encrypt_key = "old-key", until = "{UNTIL}" }}"#),
    ))
    .unwrap();
    let shown = format!("{:?} {:?}", c.bots[0], c.bots[0].adapter().unwrap());
    for secret in ["old-token", "old-key", "new-token", "new-key"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("2026-12-01T00:00:00.000Z"), "the adapter shows the deadline: {shown}");
}
