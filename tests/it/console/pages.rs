//! Every page answers with its data behind the security headers, and
//! message text shows only when the console was started to show it.

use super::support::*;

#[tokio::test]
async fn every_page_shows_its_data_behind_the_security_headers() {
    let mut s = Store::start().await;
    let dead = s.kill("qq-main", "chat-1", "ev-dead", "/ping please", "chat does not exist").await;
    for ev in ["ev-wait-1", "ev-wait-2"] {
        assert!(s.enq.push(envelope("qq-main", "chat-2", ev, "/ping")).await);
    }
    // The audit log, oldest first: two attempts of the dead event, then others.
    s.audit("qq-main", "ev-dead", "agent", SkillAccess::Write, Outcome::Retry, "upstream_timeout").await;
    s.audit("qq-main", "ev-dead", "agent", SkillAccess::Write, Outcome::Failed, "upstream_500").await;
    s.audit("bot-b", "ev-other", "search", SkillAccess::Read, Outcome::Ok, "cache_miss").await;
    s.audit("qq-main", "ev-later", "lookup", SkillAccess::Read, Outcome::Failed, "lookup_broke").await;
    // The fleet: a live ingest, the live worker that gave up, an ingest that left.
    let ingest = replica("ingest-a-1", Role::Ingest, "9.9.8-console", "beefcafe99");
    let mut worker = replica(WORKER, Role::Worker, "9.9.9-console", "c0ffee1234");
    worker.image_digest = Some("sha256:0123456789abcdef0123456789abcdef".into());
    worker.lanes = vec!["default".into()];
    let left = replica("ingest-b-1", Role::Ingest, "9.9.7-console", "0ldc0de77");
    for r in [&ingest, &worker, &left] {
        fleet::beat(&mut s.conn, &s.keys, r).await.unwrap();
    }
    let left = Replica { stopped_at_ms: Some(botq_core::now_ms()), ..left };
    fleet::leave(&mut s.conn, &s.keys, &left).await.unwrap();
    // A chat over its fair share, three events waiting in its own backlog.
    let bot = BotId::parse("qq-main").unwrap();
    let home = s.keys.chat_home(&bot, "chat-noisy");
    let _: () = redis::cmd("ZADD")
        .arg(home.backlogged())
        .arg(botq_core::now_ms())
        .arg(botq_core::keys::backlog_member(&bot, "chat-noisy"))
        .query_async(&mut s.conn)
        .await
        .unwrap();
    for ev in ["ev-b1", "ev-b2", "ev-b3"] {
        let _: () = redis::cmd("RPUSH")
            .arg(home.backlog(&bot, "chat-noisy"))
            .arg(envelope("qq-main", "chat-noisy", ev, "spam").encode())
            .query_async(&mut s.conn)
            .await
            .unwrap();
    }
    // A history step: three fast acks, one reply in 700 ms.
    let c = Counters::default();
    for _ in 0..3 {
        c.ingested();
        c.acked(Duration::from_millis(3));
    }
    c.replied(Duration::from_millis(700));
    history::flush(&mut s.conn, &s.keys, &c, botq_core::now_ms(), HOUR).await.unwrap();

    let mut w = Web::start(&s, Opts::default()).await;
    let detail = format!("/dead-letters/{}", letter_ref(&dead));
    for path in ["/", "/fleet", "/dead-letters", detail.as_str(), "/audit", "/chats", "/config"] {
        let p = w.get(path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        p.assert_secure(path);
        assert!(p.header("content-type").starts_with("text/html"), "{path}");
        assert!(!p.body.contains(QQ_SECRET), "{path} shows the bot's secret");
    }

    let overview = w.get("/").await;
    let row = overview.row("botq:{q0}:stream");
    // Lane, queue, stream, depth, lag, pending, delayed, backlogged chats, dead letters, consumers.
    assert_eq!(row[0], "default");
    assert_eq!((row[3].as_str(), row[7].as_str(), row[8].as_str()), ("2", "1", "1"), "{row:?}");
    let t = overview.text();
    assert!(t.contains("1 ingest · 1 worker"), "{t}");
    assert!(t.contains("Dead letters 1"), "{t}");
    assert!(t.contains("100.00 % of 3 acks within 100 ms"), "the history's acks: {t}");
    assert!(t.contains("p95 ≤ 1 s over 1 replies"), "the history's replies: {t}");

    let fleet_page = w.get("/fleet").await;
    let t = fleet_page.text();
    assert!(t.contains("2 alive of 3 seen"), "{t}");
    let row = fleet_page.row(r#"id="replica-worker-a-1""#);
    assert_eq!(&row[..3], ["alive", WORKER, "worker"], "{row:?}");
    assert_eq!(&row[4..7], ["9.9.9-console", "c0ffee1234", "sha256:0123456789ab…"], "{row:?}");
    assert_eq!(row[10], "default", "{row:?}");
    let row = fleet_page.row(r#"id="replica-ingest-a-1""#);
    assert_eq!((row[0].as_str(), row[4].as_str(), row[5].as_str()), ("alive", "9.9.8-console", "beefcafe99"));
    let row = fleet_page.row(r#"id="replica-ingest-b-1""#);
    assert_eq!((row[0].as_str(), row[4].as_str(), row[5].as_str()), ("stopped", "9.9.7-console", "0ldc0de77"));
    assert!(row[8].contains("stopped"), "{row:?}");

    let list = w.get("/dead-letters").await;
    assert!(list.text().contains("1 dead letter"), "{}", list.text());
    let row = list.row(&format!(r#"href="{detail}""#));
    // (checkbox), letter, died, reason, attempts, bot, lane / queue, event, chat.
    assert_eq!(row[1], letter_ref(&dead));
    assert_eq!(&row[3..], ["chat does not exist", "2", "qq-main", "default / 0", "ev-dead", "chat-1"], "{row:?}");

    let page = w.get(&detail).await;
    let t = page.text();
    assert!(t.contains("Why it died chat does not exist"), "{t}");
    assert!(t.contains("Failed attempts 2"), "{t}");
    assert!(t.contains(&format!("Gave up {WORKER}")), "{t}");
    assert!(!t.contains("no longer in the fleet record"), "{t}");
    let row = page.row(r#"id="replica-worker-a-1""#);
    assert_eq!((row[0].as_str(), row[4].as_str()), ("alive", "9.9.9-console"), "the replica that gave up: {row:?}");
    let row = page.row("upstream_timeout");
    assert_eq!(&row[1..6], ["1", "worker-a-1", "agent", "retry", "upstream_timeout"], "with its replica: {row:?}");
    assert_eq!(&page.row("upstream_500")[4..6], ["failed", "upstream_500"]);
    assert!(!t.contains("cache_miss") && !t.contains("lookup_broke"), "only this event's attempts: {t}");
    assert!(t.contains(r#""event_id": "ev-dead""#), "the envelope: {t}");

    let order = |p: &Page, reasons: &[&str]| {
        let t = p.text();
        let at: Vec<Option<usize>> = reasons.iter().map(|r| t.find(r)).collect();
        assert!(at.iter().all(Option::is_some), "{reasons:?} in {t}");
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{reasons:?} in this order: {t}");
    };
    let all = ["lookup_broke", "cache_miss", "upstream_500", "upstream_timeout"];
    order(&w.get("/audit").await, &all);
    for (query, shown) in [
        ("outcome=failed", &["lookup_broke", "upstream_500"][..]),
        ("access=write", &["upstream_500", "upstream_timeout"]),
        ("bot=bot-b", &["cache_miss"]),
        ("bot=qq-main&access=read", &["lookup_broke"]),
        ("event=ev-dead", &["upstream_500", "upstream_timeout"]),
    ] {
        let p = w.get(&format!("/audit?{query}")).await;
        assert_eq!(p.status, 200, "{query}");
        order(&p, shown);
        for hidden in all.iter().filter(|r| !shown.contains(r)) {
            assert!(!p.text().contains(hidden), "{query} leaves out {hidden}: {}", p.text());
        }
    }
    let row = w.get("/audit").await.row("cache_miss");
    assert!(row.contains(&"worker-a-1".to_owned()), "the replica that ran it: {row:?}");
    let none = w.get("/audit?outcome=denied").await;
    assert!(none.text().contains("No audit entries match"), "{}", none.text());

    let chats = w.get("/chats").await;
    let row = chats.row("chat-noisy");
    assert_eq!(&row[..4], ["qq-main", "chat-noisy", "default / 0", "3"], "{row:?}");
    assert!(chats.text().contains("No skill is cooling down"));

    let config = w.get("/config").await;
    let t = config.text();
    assert!(t.contains("valid 1 bots"), "{t}");
    assert!(t.contains(r#"secret = "***""#), "the literal secret as ***: {t}");
    assert!(t.contains(r#"id = "qq-main""#), "{t}");
    assert!(!config.body.contains(QQ_SECRET), "never the secret");
    assert!(!t.contains(":***@"), "a password-less URL has nothing to hide: {t}");
}

#[tokio::test]
async fn message_text_shows_only_when_the_console_was_started_to_show_it() {
    let mut s = Store::start().await;
    let dead = s.kill("qq-main", "chat-1", "ev-text", "my card number is 4111 1111", "permanent: no").await;
    let e = Entry {
        event_id: "ev-text".into(),
        text: Some("typed by user 9f3e".into()),
        answer: Some("answered 7c1d".into()),
        ..Entry::sample()
    };
    audit::append(&mut s.conn, &s.keys.audit(), 1000, &e).await.unwrap();
    let path = format!("/dead-letters/{}", letter_ref(&dead));
    let mut hidden = Web::start(&s, Opts::default()).await;
    let mut shown = Web::start(&s, Opts { show_text: true, ..Opts::default() }).await;

    for p in [hidden.get(&path).await, hidden.get("/audit").await, hidden.get("/dead-letters").await] {
        assert_eq!(p.status, 200);
        let t = p.text();
        assert!(!t.contains("4111") && !t.contains("9f3e") && !t.contains("7c1d"), "text hidden: {t}");
    }
    let page = hidden.get(&path).await;
    assert!(page.text().contains("hidden: start the console with --show-text"), "{}", page.text());
    assert!(page.text().contains(r#""event_id": "ev-text""#), "the rest of the envelope is there");

    let page = shown.get(&path).await;
    let t = page.text();
    assert!(t.contains(r#""text": "my card number is 4111 1111""#), "{t}");
    assert!(t.contains("typed by user 9f3e"), "the attempt's text: {t}");
    let audit_page = shown.get("/audit").await;
    assert!(audit_page.text().contains("typed by user 9f3e") && audit_page.text().contains("answered 7c1d"));
}
