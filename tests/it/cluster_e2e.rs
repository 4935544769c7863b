//! botq on a real 3-master Redis Cluster started on loopback:
//! events flow ingest → worker → fakeplatform over 4 queues spread
//! across the masters with no loss and no duplicate, a dead letter is
//! replayed with botqctl and handled once, and `botqctl status` reads every
//! queue; the key scan reaches the storm counters and cooldowns on every
//! master, and the console's Chats page lists them.

use std::sync::Arc;
use std::time::Duration;

use botq_core::config::Config;
use botq_core::ids::BotId;
use botq_core::redis_conn::connect_lazy;
use botq_e2e::{Fake, eventually, post};
use botq_fakeplatform::{Options, ScriptStep};
use botq_testkit::fixtures::{
    LARK_TOKEN, NO_INGEST_RATE_LIMIT, NO_REPLY_LIMIT, QQ_MAIN_BOT, lark_main_bot_replying_to,
};
use botq_testkit::ingest::IngestHandle;
use botq_testkit::redis::RedisCluster;
use botq_testkit::sign;
use botq_testkit::worker::{WorkerHandle, config};
use botq_worker::BotHandler;
use clap::Parser;
use redis::Commands;

use crate::console::support::{Opts, Web};

const QUEUES: u16 = 4;

fn toml(fake: u16) -> String {
    let lark = lark_main_bot_replying_to(fake);
    format!(
        r#"
redis_cluster = true
queues = {QUEUES}
[worker]
handler_timeout_secs = 5
lease_secs = 10
promote_interval_ms = 10
reclaim_interval_ms = 100
read_block_ms = 100
reply_timeout_secs = 2
max_attempts = 2
[worker.backoff]
initial_ms = 50
max_ms = 200
jitter = 0.0
{NO_INGEST_RATE_LIMIT}{lark}{NO_REPLY_LIMIT}"#
    )
}

fn lark(event: &str, chat: &str, text: &str) -> sign::Webhook {
    let body = sign::lark_message_body(LARK_TOKEN, event, &format!("om_{event}"), chat, "group", "ou_1", text);
    sign::lark(None, botq_core::now_ms() / 1000, &body)
}

fn ctl(config: &std::path::Path, args: &[&str]) -> String {
    let mut argv = vec!["botqctl", "--config", config.to_str().unwrap()];
    argv.extend_from_slice(args);
    let cli = botq_ctl::Cli::try_parse_from(argv).unwrap();
    let mut out = Vec::new();
    let rt = tokio::runtime::Handle::current();
    let ok = tokio::task::block_in_place(|| rt.block_on(botq_ctl::run(cli, &mut out))).unwrap();
    assert!(ok, "botqctl {args:?} failed: {}", String::from_utf8_lossy(&out));
    String::from_utf8(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_flow_through_a_three_master_cluster_without_loss() {
    let cluster = RedisCluster::start(3);
    let mut text = String::new();
    let (cfg, platform) = Fake::start(Options::default(), |port| {
        text = toml(port);
        config(&text, &cluster.url())
    })
    .await;
    let fake = &platform.state;
    let ingest = IngestHandle::start(&cfg).await;
    let worker = WorkerHandle::start(&cfg, Arc::new(BotHandler::new(&cfg.app()).unwrap())).await;
    let http = reqwest::Client::new();

    // The queue streams live on different masters.
    let mut c = cluster.conn();
    let keys = botq_core::keys::Keys::new("botq", QUEUES);
    let slots: std::collections::HashSet<u16> = keys
        .all_queues()
        .map(|k| redis::cmd("CLUSTER").arg("KEYSLOT").arg(k.stream()).query::<u16>(&mut c).unwrap() / (16_384 / 3))
        .collect();
    assert!(slots.len() > 1, "the queues spread over the masters");

    // One event fails for good on its first try: a 400 from the platform.
    fake.push_script([ScriptStep { status: Some(400), ..ScriptStep::default() }]);
    let n = 120;
    for i in 0..n {
        let hook = lark(&format!("c{i}"), &format!("oc_chat_{}", i % 24), &format!("/echo message {i}"));
        assert_eq!(post(&http, &ingest.webhook_url("lark-main"), &hook).await.0, 200);
        if i % 10 == 0 {
            // A platform retry of an event already accepted.
            assert_eq!(post(&http, &ingest.webhook_url("lark-main"), &hook).await.0, 200);
        }
    }
    let delivered = fake.wait_for_deliveries(n - 1, Duration::from_secs(30)).await;
    assert!(delivered.is_some(), "{} of {} delivered", fake.deliveries().len(), n - 1);
    let dlq = |c: &mut redis::cluster::ClusterConnection| -> usize {
        keys.all_queues().map(|k| c.xlen::<_, usize>(k.dlq()).unwrap()).sum()
    };
    assert!(eventually(Duration::from_secs(10), || dlq(&mut c) == 1).await, "the 400 is dead-lettered");

    let path = botq_testkit::process::write_config(
        &text.replace("redis_cluster = true", &format!("redis_cluster = true\nredis_url = \"{}\"", cluster.url())),
    );
    let status = ctl(&path, &["status", "--json"]);
    assert!(status.contains("\"dlq\":1") || status.contains("\"dlq\": 1"), "{status}");
    ctl(&path, &["dlq", "replay", "--all"]);
    let all = fake.wait_for_deliveries(n, Duration::from_secs(15)).await.expect("the replayed event is answered");
    let n = usize::try_from(n).unwrap();
    assert_eq!(all.len(), n);
    assert_eq!(dlq(&mut c), 0);

    let mut texts: Vec<_> = all.iter().map(|d| d.text.clone()).collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), n, "every event answered exactly once");
    assert!(
        eventually(Duration::from_secs(10), || keys.all_queues().all(|k| c.xlen::<_, usize>(k.stream()).unwrap() == 0))
            .await,
        "every stream drained"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.deliveries().len(), n, "no late duplicates");
    worker.shutdown().await.unwrap();
    ingest.shutdown().await;
}

/// Storm counters and cooldowns as the worker writes them (with the same
/// key builders, in the chat's home queue), spread over every master: the
/// cluster-wide scan finds each once and says when its budget cut it short,
/// and the console served over the cluster lists them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chats_page_lists_storm_guards_and_cooldowns_of_every_master() {
    let cluster = RedisCluster::start(3);
    let config = botq_testkit::process::write_config(&format!(
        "redis_cluster = true\nredis_url = \"{}\"\nqueues = {QUEUES}\n{QQ_MAIN_BOT}",
        cluster.url()
    ));
    let settings = Config::load_queue_settings(&config).unwrap();
    let keys = settings.keys();
    let bot = BotId::parse("qq-main").unwrap();
    let minute = botq_core::now_ms() / 60_000;
    let mut c = cluster.conn();
    let set = |c: &mut redis::cluster::ClusterConnection, key: &str, value: usize, ttl_ms: u64| {
        redis::cmd("SET").arg(key).arg(value).arg("PX").arg(ttl_ms).query::<()>(c).unwrap();
    };
    let (mut storms, mut cooldowns) = (Vec::new(), Vec::new());
    for i in 0..12 {
        let chat = format!("storm-{i:02}");
        // This minute's counter and the next one's: the page reads the minute it is served in.
        for m in [minute, minute + 1] {
            let key = keys.chat_home(&bot, &chat).storm(&bot, &chat, m);
            set(&mut c, &key, i + 1, 120_000);
            storms.push(key);
        }
        let chat = format!("cool-{i:02}");
        let key = keys.chat_home(&bot, &chat).cooldown(&bot, "agent", &chat);
        set(&mut c, &key, 1, 600_000);
        cooldowns.push(key);
    }
    for (n, node) in cluster.nodes.iter().enumerate() {
        let held: u64 = redis::cmd("DBSIZE").query(&mut node.conn()).unwrap();
        assert!(held > 0, "master {n} holds some of the keys");
    }

    let mut redis = connect_lazy(&settings.redis_target(), Duration::from_secs(2)).unwrap();
    storms.sort();
    cooldowns.sort();
    assert_eq!(redis.scan_match("botq:*:storm:*", 100_000).await.unwrap(), (storms, false));
    assert_eq!(redis.scan_match("botq:*:cd:*", 100_000).await.unwrap(), (cooldowns, false));
    // One SCAN call spends the budget on the first master: the others are left, and it says so.
    let (some, cut) = redis.scan_match("botq:*", 1).await.unwrap();
    assert!(cut && some.len() < 36, "{} keys, cut {cut}", some.len());

    let mut web = Web::serve(&config, Opts::default()).await;
    let page = web.get("/chats").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let t = page.text();
    assert!(!t.contains("Not shown") && !t.contains("stopped at its bound"), "{t}");
    for i in 0..12 {
        let replies = (i + 1).to_string();
        let row = page.row(&format!("<code>storm-{i:02}</code>"));
        assert_eq!(&row[..4], ["qq-main", &format!("storm-{i:02}"), &replies, "30"], "{row:?}");
        let row = page.row(&format!("<code>cool-{i:02}</code>"));
        assert_eq!(&row[..3], ["qq-main", "agent", &format!("cool-{i:02}")], "{row:?}");
    }
}
