//! The dead-letter list pages through full DLQs without reading them whole:
//! newest first across queues, every letter once, filters that match little
//! searching on past the per-page budget, and the time filters.

use botq_ctl::dlq::newest::SCAN_BUDGET;

use super::support::*;

/// The letter links of a list page, in order, as `QUEUE/ID`.
fn listed(p: &Page) -> Vec<String> {
    p.body
        .match_indices(r#"href="/dead-letters/"#)
        .filter_map(|(at, m)| {
            let rest = &p.body[at + m.len()..];
            let link = &rest[..rest.find('"')?];
            link.contains('-').then(|| link.to_owned())
        })
        .collect()
}

/// The "older →" link of a list page, when it has one.
fn older(p: &Page) -> Option<String> {
    let at = p.body.find("\">older →")?;
    let start = p.body[..at].rfind("href=\"")? + "href=\"".len();
    Some(unescape(&p.body[start..at]))
}

/// Follows "older →" from `first` to the end; every letter listed, in order.
async fn walk(w: &mut Web, first: &str) -> (Vec<String>, Vec<Page>) {
    let (mut all, mut pages, mut next) = (Vec::new(), Vec::new(), Some(first.to_owned()));
    while let Some(path) = next {
        let p = w.get(&path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        all.extend(listed(&p));
        next = older(&p);
        pages.push(p);
        assert!(pages.len() < 1000, "the walk ends");
    }
    (all, pages)
}

#[tokio::test]
async fn the_list_walks_every_queue_newest_first_each_letter_once() {
    let mut s = Store::start_with("queues = 3").await;
    let now = botq_core::now_ms();
    // Interleaved across queues, and at the same ms in each queue, so the
    // order needs its tie-break by queue.
    for round in 0..3 {
        for q in 0..3 {
            s.bury(q, "qq-main", 20, "permanent: no", now - 1000 + round).await;
        }
    }
    let mut expect: Vec<(u64, u64, u16)> = s
        .letters()
        .await
        .iter()
        .map(|d| {
            let (ms, seq) = d.id.split_once('-').unwrap();
            (ms.parse().unwrap(), seq.parse().unwrap(), d.queue)
        })
        .collect();
    expect.sort_unstable_by(|a, b| b.cmp(a));
    let expect: Vec<String> = expect.iter().map(|(ms, seq, q)| format!("{q}/{ms}-{seq}")).collect();
    assert_eq!(expect.len(), 180);

    let mut w = Web::start(&s, Opts::default()).await;
    let (all, pages) = walk(&mut w, "/dead-letters").await;
    assert_eq!(all, expect, "newest first, each letter once, across the queues");
    assert_eq!(pages.len(), 4, "50 a page");
    assert!(pages[0].text().contains("180 dead letters"), "{}", pages[0].text());
    assert!(pages[0].text().contains("Replay all 180…"), "the exact count of an unfiltered list");
    assert!(pages[1].text().contains("← newest"), "a later page leads back to the newest");

    // A queue filter reads that queue alone, and counts it exactly.
    let (q1, pages) = walk(&mut w, "/dead-letters?queue=1").await;
    assert_eq!(q1, expect.iter().filter(|r| r.starts_with("1/")).cloned().collect::<Vec<_>>());
    assert!(pages[0].text().contains("60 dead letters match"), "{}", pages[0].text());
}

#[tokio::test]
async fn a_filter_that_matches_little_searches_on_past_its_budget() {
    let mut s = Store::start().await;
    let now = botq_core::now_ms();
    let needle = s.bury(0, "needle", 1, "permanent: the needle", now - 60_000).await;
    s.bury(0, "hay", SCAN_BUDGET + 100, "permanent: hay", now).await;
    let mut w = Web::start(&s, Opts::default()).await;

    let first = w.get("/dead-letters?bot=needle").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(listed(&first).is_empty(), "the budget ran out among the hay");
    assert!(first.text().contains(&format!("Stopped after reading {SCAN_BUDGET} dead letters")), "{}", first.text());
    assert!(first.text().contains("Replay all matching…"), "no count is claimed for a partial search");
    let (found, _) = walk(&mut w, "/dead-letters?bot=needle").await;
    assert_eq!(found, [format!("0/{}", needle[0])], "the next page found it, and the walk ended");

    let hay = w.get("/dead-letters?bot=hay").await;
    assert_eq!(listed(&hay).len(), 50, "a full page without a full read");
    assert!(hay.text().contains("Dead letters that match, newest first"), "{}", hay.text());
    let all = w.get("/dead-letters").await;
    assert!(all.text().contains("101 dead letters"), "every letter counted, by XLEN: {}", all.text());
}

#[tokio::test]
async fn died_within_and_older_than_pick_by_when_it_died() {
    let mut s = Store::start().await;
    let now = botq_core::now_ms();
    let min = 60_000;
    let three_hours = s.bury(0, "qq-main", 3, "permanent: old", now - 180 * min).await;
    let ninety_minutes = s.bury(0, "qq-main", 3, "permanent: middle", now - 90 * min).await;
    let ten_minutes = s.bury(0, "qq-main", 3, "permanent: new", now - 10 * min).await;
    let refs = |ids: &[String]| ids.iter().rev().map(|id| format!("0/{id}")).collect::<Vec<_>>();
    let mut w = Web::start(&s, Opts::default()).await;
    for (query, expect) in [
        ("within=1h", refs(&ten_minutes)),
        ("older=2h", refs(&three_hours)),
        ("within=2h&older=1h", refs(&ninety_minutes)),
    ] {
        let (got, pages) = walk(&mut w, &format!("/dead-letters?{query}")).await;
        assert_eq!(got, expect, "{query}");
        assert!(pages[0].text().contains("3 dead letters match"), "{query}: {}", pages[0].text());
    }
}

#[tokio::test]
async fn an_action_past_the_consoles_bound_says_so_and_changes_nothing() {
    use botq_ctl::web::MAX_ACTION;
    let mut s = Store::start().await;
    let ids = s.bury(0, "hay", MAX_ACTION + 1, "permanent: hay", botq_core::now_ms()).await;
    let mut w = Web::start(&s, Opts::default()).await;
    let csrf = w.session().await;
    for action in ["/dead-letters/replay", "/dead-letters/purge"] {
        let p = w.post(action, &[("scope", "filter"), ("bot", "hay"), ("csrf", &csrf)]).await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.text().contains("at most 10 000 at a time"), "{}", p.text());
        assert!(!p.body.contains(r#"name="confirm""#), "{action}: no confirmation to send");
        // Sending that many ids by hand is refused before anything is read.
        let mut form: Vec<(&str, String)> = ids.iter().map(|id| ("id", format!("0/{id}"))).collect();
        form.extend([("scope", "ids".into()), ("confirm", ids.len().to_string()), ("csrf", csrf.clone())]);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let p = w.post(action, &form).await;
        assert_eq!(p.status, 400, "{}", p.body);
        assert!(p.text().contains("id: at most 10000"), "{}", p.text());
    }
    let left: usize = redis::cmd("XLEN").arg(s.keys.queue(0).dlq()).query_async(&mut s.conn).await.unwrap();
    assert_eq!(left, MAX_ACTION + 1, "nothing was changed");
}

/// A replay or purge by filter starts its reads at the filter's queues and
/// time bounds (and still matches exactly), and stops at its limit: the
/// console asks one past what it may act on, so a full DLQ is not read
/// whole to be refused.
#[tokio::test]
async fn an_action_by_filter_matches_its_queues_and_time_and_stops_at_its_limit() {
    use botq_ctl::dlq::{Filter, Selection, select_letters};

    let mut s = Store::start_with("queues = 3\n").await;
    let now = botq_core::now_ms();
    let day = 24 * 3_600_000;
    for q in 0..3 {
        s.bury(q, "old", 5, "permanent: old", now - 2 * day).await;
        s.bury(q, "new", 4, "permanent: new", now).await;
    }
    let select = |filter: Filter, limit| {
        let (mut conn, keys) = (s.conn.clone(), s.keys.clone());
        async move { select_letters(&mut conn, &keys, &Selection::Filter(filter), limit).await.unwrap() }
    };
    let recent = select(Filter { since_ms: Some(now - day), ..Filter::default() }, None).await;
    assert_eq!(recent.len(), 12, "the letters of the last day in every queue");
    assert!(recent.iter().all(|d| d.reason == "permanent: new"));
    let older = select(Filter { before_ms: Some(now - day), ..Filter::default() }, None).await;
    assert_eq!(older.len(), 15);
    assert!(older.iter().all(|d| d.reason == "permanent: old"));
    let one_queue = select(Filter { queue: Some(1), ..Filter::default() }, None).await;
    assert!(one_queue.len() == 9 && one_queue.iter().all(|d| d.queue == 1));
    let bounded = select(Filter { reason_contains: Some("permanent".into()), ..Filter::default() }, Some(7)).await;
    assert_eq!(bounded.len(), 7, "it stops at its limit");
}
