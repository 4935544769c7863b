use std::path::Path;

use secrecy::ExposeSecret;

use super::*;

const QQ_BOT: &str = r#"
[[bot]]
id = "qq-main"
platform = "qq"
app_id = "102000000"
secret = { env = "QQ_MAIN_SECRET" }
api_base = "https://api.sgroup.qq.com"
token_url = "https://bots.qq.com/app/getAppAccessToken"
"#;

fn env_with_secret(k: &str) -> Option<String> {
    (k == "QQ_MAIN_SECRET").then(|| "naOC0ocQE3shWLAfffVLB1rhYPG7".to_owned())
}

fn load(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Problems> {
    Config::from_toml(text, Service::Ingest, env, Path::new("."))
}

fn paths(p: &Problems) -> Vec<&str> {
    p.0.iter().map(|p| p.path.as_str()).collect()
}

#[test]
fn the_design_example_loads_with_documented_defaults() {
    let c = load(QQ_BOT, &env_with_secret).unwrap();
    assert_eq!(c.ingest.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(c.ingest.admin_listen.to_string(), "127.0.0.1:9090");
    assert_eq!(c.ingest.body_limit_bytes, 65536);
    assert_eq!(c.dedupe_ttl, Duration::from_secs(86400));
    assert_eq!(c.bots[0].id.as_str(), "qq-main");
    let PlatformBot::Qq(qq) = &c.bots[0].platform else { panic!("a QQ bot: {:?}", c.bots[0].platform) };
    assert_eq!(qq.secret.expose_secret(), "naOC0ocQE3shWLAfffVLB1rhYPG7");
}

#[test]
fn the_shipped_example_config_is_valid() {
    let text = include_str!("../../../../deploy/botq.example.toml");
    let env = |k: &str| (!k.starts_with("BOTQ_")).then(|| format!("example-secret-for-{k}"));
    let c = load(text, &env).unwrap_or_else(|p| panic!("{p}"));
    assert!(c.bots.len() >= 3, "the example shows every platform");
}

#[test]
fn a_missing_secret_variable_is_reported_at_its_key_path() {
    let err = load(QQ_BOT, &|_| None).unwrap_err();
    assert_eq!(err.to_string(), "bot[0].secret: environment variable QQ_MAIN_SECRET is not set");
}

#[test]
fn unknown_keys_are_errors_with_their_path() {
    let err = load(&format!("{QQ_BOT}\n[ingest]\nbody_limit = 5\n"), &env_with_secret).unwrap_err();
    assert_eq!(paths(&err), ["ingest.body_limit"]);
    let err = load(&QQ_BOT.replace("token_url", "tokn_url"), &env_with_secret).unwrap_err();
    assert_eq!(paths(&err), ["bot[0].tokn_url"]);
}

#[test]
fn keys_of_another_platform_and_missing_required_keys_are_reported_together() {
    let text = QQ_BOT.replace("app_id = \"102000000\"", "encrypt_key = \"k\"");
    let err = load(&text, &env_with_secret).unwrap_err();
    assert_eq!(paths(&err), ["bot[0].app_id", "bot[0].encrypt_key"]);
}

#[test]
fn wrong_types_name_the_key() {
    let err = load(&format!("queues = \"two\"\n{QQ_BOT}"), &env_with_secret).unwrap_err();
    assert_eq!(paths(&err), ["queues"]);
}

#[test]
fn the_clock_skew_is_bounded_and_reported_at_its_key_path() {
    let c = load(QQ_BOT, &env_with_secret).unwrap();
    assert_eq!(c.bots[0].clock_skew, Duration::from_secs(300));
    let err = load(&format!("{QQ_BOT}clock_skew_secs = 7200\n"), &env_with_secret).unwrap_err();
    assert_eq!(paths(&err), ["bot[0].clock_skew_secs"]);
}

#[test]
fn bots_whose_webhooks_can_be_replayed_or_forged_are_warned_about() {
    let text = r#"
[[bot]]
id = "lark-plain"
platform = "lark"
app_id = "cli_a"
app_secret = "s"
verification_token = "t"

[[bot]]
id = "lark-encrypted"
platform = "lark"
app_id = "cli_b"
app_secret = "s"
verification_token = "t"
encrypt_key = "k"

[[bot]]
id = "onebot-bare"
platform = "onebot"
api_base = "http://127.0.0.1:5700"

[[bot]]
id = "qq-unchecked"
platform = "qq"
app_id = "1"
secret = "naOC0ocQE3shWLAfffVLB1rhYPG7"
timestamp_window_secs = 0
"#;
    let c = load(text, &|_| None).unwrap_or_else(|p| panic!("{p}"));
    let got: Vec<String> =
        c.warnings().iter().map(|w| format!("{}: {}", w.path, w.message.split(':').next().unwrap_or(""))).collect();
    assert_eq!(got, ["bot[0]: no encrypt_key", "bot[2]: no secret", "bot[3]: timestamp_window_secs = 0"]);
    assert!(load(QQ_BOT, &env_with_secret).unwrap().warnings().is_empty());
}

#[test]
fn a_timestamp_window_longer_than_the_dedupe_ttl_is_refused() {
    let text = format!("[dedupe]\nttl_secs = 60\n{QQ_BOT}");
    let err = load(&text, &env_with_secret).unwrap_err();
    assert_eq!(paths(&err), ["bot[0].timestamp_window_secs"]);
}

#[test]
fn environment_overrides_deployment_values() {
    let env = |k: &str| match k {
        "BOTQ_REDIS_URL" => Some("redis://:pw@10.0.0.1:6380/2".to_owned()),
        "BOTQ_LISTEN" => Some("127.0.0.1:18080".to_owned()),
        "BOTQ_ADMIN_LISTEN" => Some("127.0.0.1:19090".to_owned()),
        _ => env_with_secret(k),
    };
    let c = load(QQ_BOT, &env).unwrap();
    assert_eq!(c.queue.redis_url.expose_secret(), "redis://:pw@10.0.0.1:6380/2");
    assert_eq!(c.queue.redis_url_redacted(), "redis://:***@10.0.0.1:6380/2");
    assert_eq!(c.ingest.listen.to_string(), "127.0.0.1:18080");
    assert_eq!(c.ingest.admin_listen.to_string(), "127.0.0.1:19090");
}

#[test]
fn debug_output_never_contains_secrets() {
    let c = load(QQ_BOT, &env_with_secret).unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("naOC0ocQE3sh"), "{dbg}");
}

#[test]
fn bad_bot_ids_and_duplicates_are_reported() {
    let text = format!("{}{}", QQ_BOT.replace("qq-main", "QQ_Main"), QQ_BOT.replace("qq-main", "QQ_Main"));
    let err = load(&text, &env_with_secret).unwrap_err();
    assert!(paths(&err).contains(&"bot[0].id"), "{err}");
    assert!(paths(&err).contains(&"bot[1].id"), "{err}");
}

#[test]
fn a_config_without_bots_is_refused() {
    let err = load("", &|_| None).unwrap_err();
    assert_eq!(err.to_string(), "bot: at least one [[bot]] table is required");
}

#[test]
fn skills_and_routing_load_with_their_policies() {
    let text = format!(
        r#"
[[skill]]
name = "agent"
url = "http://127.0.0.1:7000/botq"
timeout_ms = 20000
slow_ack_ms = 3000
cooldown_secs = 60
headers = {{ Authorization = {{ env = "AGENT_TOKEN" }} }}

[[skill]]
name = "ticket"
url = "https://tickets.example/botq"
writes = true
{QQ_BOT}
default_skill = "agent"
commands = {{ ticket = "ticket" }}
[bot.access]
write_users = ["u1"]
deny_users = ["spammer"]
[bot.guard]
chat_replies_per_min = 10
[[bot.group]]
id = "g1"
disabled_skills = ["ticket"]
default_skill = ""
"#
    );
    let env = |k: &str| match k {
        "AGENT_TOKEN" => Some("Bearer t".to_owned()),
        other => env_with_secret(other),
    };
    let c = load(&text, &env).unwrap();
    let names: Vec<_> = c.skills.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["agent", "echo", "help", "ping", "ticket"], "built-ins are always there");
    let agent = c.skill("agent").unwrap();
    assert_eq!(agent.timeout, Duration::from_secs(20));
    assert_eq!(agent.slow_ack.as_ref().map(|a| a.after), Some(Duration::from_secs(3)));
    assert_eq!(agent.cooldown, Some(Duration::from_secs(60)));
    assert!(format!("{agent:?}").contains("Authorization") && !format!("{agent:?}").contains("Bearer t"));
    assert!(c.skill("ticket").unwrap().writes);
    let r = &c.bots[0].routing;
    assert_eq!(r.commands.get("ticket").map(String::as_str), Some("ticket"));
    assert_eq!(r.default_skill_in(None), Some("agent"));
    assert_eq!(r.default_skill_in(Some("g1")), None);
    assert!(!r.skill_enabled("ticket", Some("g1")));
    assert_eq!(r.guard.chat_replies_per_min, Some(10));
    assert!(r.access.may_write("u1", None) && !r.access.may_write("u2", Some("g1")));
}

#[test]
fn skill_problems_are_reported_with_their_key_paths() {
    let text = format!(
        r#"
[worker]
handler_timeout_secs = 10
[[skill]]
name = "Agent!"
url = "ftp://x"
timeout_ms = 10000
max_replies = 9
[[skill]]
name = "b"
kind = "builtin"
builtin = "dance"
{QQ_BOT}
default_skill = "missing"
commands = {{ go = "nowhere" }}
group_mode = "sometimes"
"#
    );
    let p = load(&text, &env_with_secret).unwrap_err();
    let found = paths(&p);
    for want in [
        "skill[0].name",
        "skill[0].url",
        "skill[0].timeout_ms",
        "skill[0].max_replies",
        "skill[1].builtin",
        "bot[0].group_mode",
    ] {
        assert!(found.contains(&want), "{want} missing from {found:?}");
    }
    let refs =
        load(&format!("{QQ_BOT}\ndefault_skill = \"missing\"\ncommands = {{ go = \"nowhere\" }}\n"), &env_with_secret)
            .unwrap_err();
    assert_eq!(paths(&refs), ["bot[0].commands.go", "bot[0].default_skill"]);
}

#[test]
fn every_bot_can_reply_qq_and_lark_by_their_public_apis_and_onebot_only_with_its_own() {
    let c = load(QQ_BOT, &env_with_secret).unwrap();
    let PlatformBot::Qq(qq) = &c.bots[0].platform else { panic!("a QQ bot") };
    assert_eq!(
        (qq.api_base.as_str(), qq.token_url.as_str()),
        ("https://api.sgroup.qq.com", "https://bots.qq.com/app/getAppAccessToken")
    );
    let p = load("[[bot]]\nid = \"ob\"\nplatform = \"onebot\"\napp_id = \"1\"\n", &|_| None).unwrap_err();
    assert_eq!(paths(&p), ["bot[0].api_base"], "a OneBot bot without its API could never answer");
}

#[test]
fn answerable_events_must_be_the_platforms_and_name_a_skill() {
    let ok = load(&format!("{QQ_BOT}\nevents = {{ GROUP_ADD_ROBOT = \"ping\" }}\n"), &env_with_secret).unwrap();
    assert_eq!(ok.bots[0].routing.events.get("GROUP_ADD_ROBOT").map(String::as_str), Some("ping"));
    let bad = load(&format!("{QQ_BOT}\nevents = {{ MESSAGE_DELETE = \"ping\" }}\n"), &env_with_secret).unwrap_err();
    assert_eq!(paths(&bad), ["bot[0].events.MESSAGE_DELETE"], "not an answerable event");
    let refs = load(&format!("{QQ_BOT}\nevents = {{ FRIEND_ADD = \"welcome\" }}\n"), &env_with_secret).unwrap_err();
    assert_eq!(paths(&refs), ["bot[0].events.FRIEND_ADD"], "no such skill");
}

#[test]
fn lanes_fair_share_and_windows_load_and_their_problems_have_key_paths() {
    let text = format!(
        "[[lane]]\nname = \"noisy\"\nqueues = 2\n[fair_share]\nmax_queued_per_chat = 2\n[[skill]]\nname = \"sum\"\nurl = \"http://127.0.0.1:1/\"\n{QQ_BOT}\nlane = \"noisy\"\n[bot.context]\nmessages = 5\nsummarize_with = \"sum\"\n[[bot.group]]\nid = \"g\"\nlane = \"default\"\n"
    );
    let c = load(&text, &env_with_secret).unwrap();
    assert_eq!(c.queue.lanes, [("noisy".to_owned(), 2)]);
    assert_eq!(c.fair_share.max_queued_per_chat, Some(2));
    let keys = c.queue.keys();
    assert_eq!(keys.queue_count(), 3);
    let bot = &c.bots[0];
    assert_eq!(c.queue_of(&keys, bot, "other"), keys.queue_of(1, &bot.id, "other"));
    assert_eq!(c.queue_of(&keys, bot, "g"), 0, "the group's override wins");
    assert_eq!(c.queue.served_queues(&["noisy".into()]).unwrap(), [1, 2]);
    assert_eq!(c.queue.served_queues(&["nope".into()]), Err(super::UnknownLane("nope".into())));
    assert_eq!(bot.routing.context.as_ref().map(|w| w.messages), Some(5));

    let bad = format!(
        "[[lane]]\nname = \"default\"\n[worker]\nlanes = [\"ghost\"]\n[fair_share]\ncounter_ttl_secs = 0\n{QQ_BOT}\nlane = \"nowhere\"\n[bot.context]\nmessages = 3\nsummarize_with = \"ping\"\n"
    );
    let p = load(&bad, &env_with_secret).unwrap_err();
    let found = paths(&p);
    for want in
        ["lane[0].name", "worker.lanes", "fair_share.counter_ttl_secs", "bot[0].lane", "bot[0].context.summarize_with"]
    {
        assert!(found.contains(&want), "{want} missing from {found:?}");
    }
}

#[test]
fn history_retention_defaults_to_an_hour_and_is_bounded_by_a_day() {
    assert_eq!(load(QQ_BOT, &env_with_secret).unwrap().history.retention, Duration::from_secs(3600));
    let with = |secs: u64| load(&format!("[history]\nretention_secs = {secs}\n{QQ_BOT}"), &env_with_secret);
    assert_eq!(with(86_400).unwrap().history.retention, Duration::from_secs(86_400));
    for bad in [599, 86_401] {
        let err = with(bad).unwrap_err();
        assert_eq!(err.to_string(), "history.retention_secs: must be from 600 (ten minutes) to 86400 (one day)");
    }
}

#[test]
fn effective_settings_fill_defaults_and_hide_every_secret() {
    let text = r#"
redis_url = "redis://admin:hunter2-password@redis.internal:6379/0"

[[bot]]
id = "qq-main"
platform = "qq"
app_id = "102000000"
secret = "literal-qq-secret-value"

[[bot]]
id = "lark-main"
platform = "lark"
app_id = "cli_x"
app_secret = { env = "LARK_SECRET" }
verification_token = { file = "lark.token" }
"#;
    let env = |k: &str| (k == "BOTQ_LOG").then(|| "debug".to_owned());
    let t = effective_toml(text, &env).unwrap();
    assert!(!t.contains("literal-qq-secret-value") && !t.contains("hunter2-password"), "{t}");
    assert!(t.contains(r#"secret = "***""#), "{t}");
    assert!(t.contains("LARK_SECRET") && t.contains("lark.token"), "a variable or file name is not the secret: {t}");
    assert!(t.contains("concurrency = 64"), "defaults are filled in: {t}");
    assert!(t.contains(r#"level = "debug""#), "environment overrides apply: {t}");
    assert!(effective_toml("queues = \"many\"", &|_| None).is_err());
}

#[test]
fn queues_is_also_read_under_its_former_name_shards() {
    for key in ["queues", "shards"] {
        let c = load(&format!("{key} = 3\n[[lane]]\nname = \"vip\"\n{key} = 2\n{QQ_BOT}"), &env_with_secret)
            .unwrap_or_else(|p| panic!("{key}: {p}"));
        assert_eq!(c.queue.queues, 3, "{key}");
        assert_eq!(c.queue.keys().queue_count(), 5, "{key}: 3 default + 2 vip");
    }
    let both = load(&format!("queues = 3\nshards = 3\n{QQ_BOT}"), &env_with_secret);
    assert!(both.is_err(), "one name at a time");
}
