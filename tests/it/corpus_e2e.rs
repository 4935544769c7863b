//! The published payload corpus (`tests/corpus/{qq,lark,onebot}`) through the
//! real path: real redis-server, ingest, the worker with the bot handler, an
//! `http` skill on `botq_testkit::upstream` and botq-fakeplatform, all over
//! loopback. The unit tests of the adapters read these payloads one function
//! at a time; this test checks what the platform and the user see: the
//! acknowledgement each delivery gets, and that every message the corpus
//! index marks as addressed to the bot (with text) is answered exactly once
//! with what the user typed, and nothing else is answered at all.
//!
//! What each payload must get (from `index.toml`, keys in each folder's README):
//! - the platform's acknowledgement: QQ op 13 → 200 with the handshake body
//!   `{"plain_token","signature"}` (the signature checked, and for the docs'
//!   sample equal to the one the docs publish), QQ op 0 → 200 `{"op":12,"d":0}`;
//!   Lark → 200 with `{"challenge":…}` for `url_verification`, else
//!   `{"msg":"success"}`; OneBot → 204. A verified payload botq does not
//!   handle is acknowledged all the same: otherwise the platform retries it.
//! - an answer when the index says addressed (QQ `addressed = true`, Lark
//!   `"yes"`, or `"unknown"` with the bot's `bot_open_id` set to the one
//!   mention's `open_id`, OneBot `"yes"`) and `text_as_typed` is not empty:
//!   exactly one delivery `agent: <args>`, and exactly one skill request with
//!   `event.text == text_as_typed`. The bots' `default_skill` is the upstream
//!   `agent`, and each command the corpus uses is mapped to it, so `args` is
//!   the whole text, or for a `/command` the text after the command.
//! - `event.mentions_bot` as the index says where it says true or false, in
//!   groups and channels. In a private chat botq reports `true` whatever the
//!   markup (the adapters treat a private message as addressed the way a
//!   mention is), while the index's `false` there means "no @ markup"; so a
//!   private chat is asserted `true`.
//!
//! These rules make a published payload a live delivery; the harness changes
//! nothing else:
//! - Every payload goes to a bot of its own (`qq-05`, `lark-07`, `ob-12`), so
//!   each delivery and skill request is attributed to exactly one payload.
//!   Each bot has the payload's credentials: QQ bots share the fixtures'
//!   secret (distinct app ids), except the docs' op 13 sample, which gets the
//!   docs' appid and secret; a Lark bot's `verification_token` is the token
//!   the payload carries (`header.token` or the root `token`), with the
//!   published `encrypt_key` for the encrypted ones; a OneBot bot's `app_id`
//!   is the payload's `self_id`, without a secret.
//! - The harness signs each delivery itself, now: QQ with
//!   `botq_testkit::sign::qq`; an encrypted Lark body (kept byte for byte)
//!   with `X-Lark-Request-*` headers made now, and the legacy card callback,
//!   which carries no verification token, with `sign::lark_card` and its
//!   bot's token; OneBot with `X-Self-ID`.
//! - A live delivery is recent, so the payload's own time is moved to now:
//!   QQ `d.timestamp` (RFC 3339, or Unix seconds where the capture has a
//!   number) and OneBot `time` (Unix seconds). Only those bytes are replaced
//!   in the published text; escapes, key order and spacing stay as published.
//! - QQ files published as `d` only (`frame = "d-only"`) are wrapped as
//!   `{"op":0,"id":"<EVENT>:<file stem>","d":<payload>,"t":"<EVENT>"}`, the
//!   only construction the harness makes.
//! - Masked or self-contradictory payloads (NoneBot's `self_id` 0, masked Lark
//!   ids and tokens) are sent and checked like the others; where the index's
//!   expectation cannot hold for a reason outside botq, only that expectation
//!   is replaced, in [`DEVIATIONS`], with the reason.
//!
//! Each deviation is asserted as botq behaves, so a change in how such a
//! payload is handled shows up here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use botq_e2e::{REPLY_WORKER, Stack};
use botq_fakeplatform::Delivery;
use botq_testkit::fixtures::{QQ_SECRET, agent_skill_at};
use botq_testkit::sign::{self, Webhook};
use serde_json::{Value, json};

#[path = "corpus_e2e/lark.rs"]
mod lark;
#[path = "corpus_e2e/onebot.rs"]
mod onebot;
#[path = "corpus_e2e/qq.rs"]
mod qq;

/// What the upstream `agent` puts before the arguments it was given.
const AGENT: &str = "agent: ";
/// The commands the corpus's messages use, each mapped to the agent (every
/// other one would be an unknown command).
const COMMANDS: &[&str] = &["say", "夸夸我", "关注"];
/// Settings every corpus bot shares: the agent answers what is not a
/// command, and reply throttles are off so the run is not paced. The group
/// mode stays the default (a mention or the command prefix), which is the
/// indexes' rule for "addressed".
const BOT_KEYS: &str = r#"default_skill = "agent"
commands = { say = "agent", "夸夸我" = "agent", "关注" = "agent" }
reply_limit = { chat_per_sec = 0.0, bot_per_sec = 0.0 }
"#;

/// The docs' op 13 sample is signed with this appid and secret, and the docs
/// publish the answer's signature.
const QQ_DOCS_APP_ID: &str = "11111111";
const QQ_DOCS_SECRET: &str = "DG5g3B4j9X2KOErG";
const QQ_DOCS_SIGNATURE: &str = "87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d0\
                                 1bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706";

/// The verification token of a bot whose payload carries none: the legacy
/// card callback (Lark signs it with the app's token instead) and a capture
/// whose token is empty.
const LARK_TOKEN_NOT_IN_PAYLOAD: &str = "token-the-payload-does-not-carry";

// ---------------------------------------------------------------------------
// Deviations

/// A payload for which the index's expectation is replaced (see the module doc).
struct Deviation {
    platform: &'static str,
    file: &'static str,
    /// The acknowledgement botq gives instead: refused with this status and code.
    refused: Option<(u16, &'static str)>,
    /// What is delivered instead of the agent's answer (`None`: nothing), the skill not being called.
    answer: Option<Option<&'static str>>,
    why: &'static str,
}

const DEVIATIONS: &[Deviation] = &[
    Deviation {
        platform: "lark",
        file: "02-receive-group-post-at-bot-with-image.json",
        refused: Some((403, "invalid_token")),
        answer: None,
        why: "outside botq: `header.token` is \"\" (the capture came over the long connection), so no \
              webhook bot can verify it; the index's answer cannot hold either",
    },
    Deviation {
        platform: "lark",
        file: "03-receive-group-text-at-bot.json",
        refused: Some((400, "invalid_id")),
        answer: None,
        why: "masking: the event id `746*****d335b08` carries the adapter authors' `*` masking, outside \
              Lark's id alphabet (platform/ids.rs); the index's answer cannot hold either",
    },
    Deviation {
        platform: "lark",
        file: "04-receive-group-text-no-mention.json",
        refused: Some((400, "invalid_id")),
        answer: None,
        why: "masking: the ids (`0a67****6a9953c`, `oc_b5fc2808***5970`…) carry `*` masking, outside \
              Lark's id alphabet",
    },
];

fn deviation(platform: &str, file: &str) -> Option<&'static Deviation> {
    DEVIATIONS.iter().find(|d| d.platform == platform && d.file == file)
}

// ---------------------------------------------------------------------------
// Cases

/// One payload ready to send, with what it must get.
struct Case {
    file: String,
    bot: String,
    /// The `[[bot]]` table, `{fake}` standing for the fake platform's port.
    bot_table: String,
    webhook: Webhook,
    ack: Ack,
    answer: Answer,
    /// Why the index's expectation was replaced, if it was.
    deviation: Option<&'static str>,
}

/// The acknowledgement expected.
#[derive(Debug)]
enum Ack {
    /// This status with this JSON body.
    Json(u16, Value),
    /// This status with an empty body.
    Empty(u16),
    /// Refused: this status and error code.
    Refused(u16, &'static str),
}

/// What the payload must cause.
#[derive(Debug)]
enum Answer {
    Nothing,
    /// Exactly this delivery, without a skill request.
    Builtin(String),
    /// One skill request as described, and its answer delivered once.
    Agent(SkillCall),
}

#[derive(Debug)]
struct SkillCall {
    text: String,
    command: Option<String>,
    args: String,
    mentions_bot: Option<bool>,
}

impl SkillCall {
    /// What the router makes of `text` (`route.rs`): a `/command` runs its
    /// skill with the rest, anything else the default skill with all of it.
    fn of(text: &str, mentions_bot: Option<bool>) -> Self {
        let (command, args) = match text.strip_prefix('/') {
            Some(cmd) => {
                let (name, rest) = cmd.split_once(char::is_whitespace).unwrap_or((cmd, ""));
                (Some(name.to_owned()), rest.trim().to_owned())
            }
            None => (None, text.to_owned()),
        };
        Self { text: text.to_owned(), command, args, mentions_bot }
    }
}

impl Case {
    /// Replaces the index's expectations where [`DEVIATIONS`] says so.
    fn deviate(mut self, platform: &str) -> Self {
        if let Some(d) = deviation(platform, &self.file) {
            if let Some((status, code)) = d.refused {
                self.ack = Ack::Refused(status, code);
                self.answer = Answer::Nothing;
            }
            if let Some(answer) = d.answer {
                self.answer = answer.map_or(Answer::Nothing, |t| Answer::Builtin(t.to_owned()));
            }
            self.deviation = Some(d.why);
        }
        if let Answer::Agent(SkillCall { command: Some(name), .. }) = &self.answer {
            assert!(COMMANDS.contains(&name.as_str()), "harness: {}: map /{name} in COMMANDS and BOT_KEYS", self.file);
        }
        self
    }
}

fn corpus(platform: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(platform)
}

/// The `[[payload]]` tables of a folder's index, checked to cover every payload file.
fn index(platform: &str) -> Vec<Value> {
    let dir = corpus(platform);
    let text = std::fs::read_to_string(dir.join("index.toml")).expect("read index.toml");
    let parsed: Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{platform}/index.toml: {e}"));
    let entries =
        parsed["payload"].as_array().cloned().unwrap_or_else(|| panic!("{platform}/index.toml: no [[payload]]"));
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("read the corpus folder")
        .map(|e| e.expect("folder entry").file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort();
    let mut indexed: Vec<String> = entries.iter().map(|e| str_of(e, "file").to_owned()).collect();
    indexed.sort();
    assert_eq!(indexed, files, "{platform}/index.toml must describe every payload file, once");
    entries
}

fn str_of<'a>(entry: &'a Value, key: &str) -> &'a str {
    entry[key].as_str().unwrap_or_else(|| panic!("index entry {}: {key} is not a string", entry["file"]))
}

fn payload(platform: &str, file: &str) -> String {
    std::fs::read_to_string(corpus(platform).join(file)).unwrap_or_else(|e| panic!("read {platform}/{file}: {e}"))
}

/// `NN` of `NN-name.json`.
fn number(file: &str) -> &str {
    file.split('-').next().expect("a file name")
}

/// `raw` with the value of its one `"key": <current>` pair replaced by `new`
/// (JSON text): the bytes around it stay as published.
fn replace_value(raw: &str, key: &str, current: &Value, new: &str) -> String {
    let quoted = format!("\"{key}\"");
    let current = current.to_string();
    let mut spans = Vec::new();
    for (at, _) in raw.match_indices(&quoted) {
        let after = raw[at + quoted.len()..].trim_start();
        let Some(value) = after.strip_prefix(':').map(str::trim_start) else { continue };
        let ends = value.strip_prefix(current.as_str()).is_some_and(|rest| {
            rest.starts_with(|c: char| c == ',' || c == '}' || c == ']' || c.is_whitespace()) || rest.is_empty()
        });
        if ends {
            let start = raw.len() - value.len();
            spans.push(start..start + current.len());
        }
    }
    assert_eq!(spans.len(), 1, "harness: {key} = {current} must occur once in the payload text");
    let span = spans.remove(0);
    format!("{}{new}{}", &raw[..span.start], &raw[span.end..])
}

fn now_secs() -> i64 {
    botq_core::now_ms() / 1000
}

// ---------------------------------------------------------------------------
// The stack and the run

fn toml(fake: u16, upstream: &str, bots: &str) -> String {
    format!("{REPLY_WORKER}{}\n{}", agent_skill_at(upstream), bots.replace("{fake}", &fake.to_string()))
}

/// The stack with every case's bot, the upstream answering as the agent, and a worker.
async fn stack(cases: &[Case]) -> Stack {
    let bots: Vec<&str> = cases.iter().map(|c| c.bot_table.as_str()).collect();
    let bots = bots.join("\n");
    let s = Stack::builder().upstream(AGENT).with_worker();
    s.start(|at| toml(at.fake_port, at.upstream_url(), &bots)).await
}

impl Ack {
    fn check(&self, status: u16, body: &str) -> Result<(), String> {
        let json = || serde_json::from_str::<Value>(body).ok();
        let ok = match self {
            Self::Json(want, want_body) => status == *want && json().as_ref() == Some(want_body),
            Self::Empty(want) => status == *want && body.is_empty(),
            Self::Refused(want, code) => status == *want && json().is_some_and(|b| b["code"] == *code),
        };
        if ok { Ok(()) } else { Err(format!("acknowledged {status} {body:?}, expected {self:?}")) }
    }
}

/// Sends every case, then checks each one's acknowledgement, deliveries and
/// skill requests; reports every mismatch at once.
/// Runs every payload of `platform`'s index, each made a delivery by `case`.
async fn run(platform: &str, case: fn(&Value, i64) -> Case) {
    let now = now_secs();
    let cases: Vec<Case> = index(platform).iter().map(|e| case(e, now).deviate(platform)).collect();
    let s = stack(&cases).await;
    let mut problems = Vec::new();
    for c in &cases {
        let (status, _, body) = s.post(&c.bot, &c.webhook).await;
        if let Err(p) = c.ack.check(status, &body) {
            problems.push(format!("{}: {p}", c.file));
        }
    }
    let answered = cases.iter().filter(|c| !matches!(c.answer, Answer::Nothing)).count();
    let want = u64::try_from(answered).expect("a count");
    // Everything due, then a moment for anything that should not come.
    let _ = s.fake.wait_for_deliveries(want, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let deliveries = s.fake.deliveries();
    let requests: Vec<Value> = s.upstream().received().into_iter().map(|r| r.body).collect();
    for c in &cases {
        if let Err(p) = check_answer(c, &deliveries, &requests) {
            problems.push(format!("{}: {p}", c.file));
        }
    }
    for d in deliveries.iter().filter(|d| !cases.iter().any(|c| c.bot == d.bot)) {
        problems.push(format!("a delivery for a bot of no payload: {d:?}"));
    }
    for (file, why) in cases.iter().filter_map(|c| Some((&c.file, c.deviation?))) {
        eprintln!("{platform}/{file}: deviation: {why}");
    }
    s.stop().await;
    assert!(
        problems.is_empty(),
        "{} of {} {platform} payloads are not handled as the index says:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}

fn check_answer(c: &Case, deliveries: &[Delivery], requests: &[Value]) -> Result<(), String> {
    let got: Vec<&str> = deliveries.iter().filter(|d| d.bot == c.bot).map(|d| d.text.as_str()).collect();
    let calls: Vec<&Value> = requests.iter().filter(|r| r["event"]["bot"] == c.bot.as_str()).collect();
    let (want, call) = match &c.answer {
        Answer::Nothing => (None, None),
        Answer::Builtin(text) => (Some(text.clone()), None),
        Answer::Agent(call) => (Some(format!("{AGENT}{}", call.args)), Some(call)),
    };
    if got != want.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(format!("delivered {got:?}, expected {want:?}"));
    }
    let Some(call) = call else {
        return if calls.is_empty() {
            Ok(())
        } else {
            Err(format!("the skill was asked though no skill runs: {calls:?}"))
        };
    };
    let [req] = calls.as_slice() else {
        return Err(format!("{} skill requests, expected one: {calls:?}", calls.len()));
    };
    let event = &req["event"];
    let seen = (
        event["text"].as_str(),
        req["command"].as_str(),
        req["args"].as_str(),
        call.mentions_bot.map(|_| event["mentions_bot"].as_bool()),
    );
    let expected =
        (Some(call.text.as_str()), call.command.as_deref(), Some(call.args.as_str()), call.mentions_bot.map(Some));
    if seen == expected {
        Ok(())
    } else {
        Err(format!("skill request (text, command, args, mentions_bot) = {seen:?}, expected {expected:?}"))
    }
}

#[tokio::test]
async fn every_qq_payload_is_acknowledged_and_answered_as_its_index_says() {
    run("qq", qq::case).await;
}

#[tokio::test]
async fn every_lark_payload_is_acknowledged_and_answered_as_its_index_says() {
    run("lark", lark::case).await;
}

#[tokio::test]
async fn every_onebot_payload_is_acknowledged_and_answered_as_its_index_says() {
    run("onebot", onebot::case).await;
}

#[test]
fn every_deviation_names_a_payload_of_the_corpus() {
    for d in DEVIATIONS {
        assert!(corpus(d.platform).join(d.file).is_file(), "{}/{} is not in the corpus", d.platform, d.file);
    }
}
