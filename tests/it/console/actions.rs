//! Replay and purge: two POSTs, a confirmation that says how many, nothing
//! changed when the confirmed letters changed meanwhile, nothing at all when
//! the console is read-only.

use super::support::*;

#[tokio::test]
async fn replaying_one_letter_asks_first_then_puts_the_event_back_in_its_queue() {
    let mut s = Store::start().await;
    let dead = s.kill("qq-main", "chat-1", "ev-replay", "/ping", "handler timed out").await;
    let other = s.kill("qq-main", "chat-1", "ev-stays", "/ping", "<script>alert(1)</script> timed out").await;
    assert_eq!(s.stream_len(dead.queue).await, 0);
    let mut w = Web::start(&s, Opts::default()).await;
    let list = w.get("/dead-letters").await;
    assert!(!list.body.contains("<script>alert"), "what a letter says is escaped");
    assert!(list.body.contains("&lt;script&gt;alert(1)&lt;/script&gt; timed out"));
    let csrf = list.csrf();
    let id = letter_ref(&dead);

    let ask = w.post("/dead-letters/replay", &[("csrf", &csrf), ("scope", "ids"), ("id", &id)]).await;
    assert_eq!(ask.status, 200, "{}", ask.body);
    ask.assert_secure("confirmation");
    let t = ask.text();
    assert!(t.contains("Replay 1 dead letter?"), "{t}");
    assert!(t.contains("ev-replay") && !t.contains("ev-stays"), "{t}");
    let form = ask.form("/dead-letters/replay");
    assert!(form.contains(&("confirm".into(), "1".into())), "{form:?}");
    assert!(form.contains(&("id".into(), id.clone())), "{form:?}");
    assert_eq!(s.dead_events().await, ["ev-replay", "ev-stays"], "asking changes nothing");
    assert_eq!(s.stream_len(dead.queue).await, 0);

    let done = w.submit(&ask, "/dead-letters/replay", &[]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let t = done.text();
    assert!(t.contains("Replayed 1 dead letter (0 already gone)"), "{t}");
    assert_eq!(s.dead_events().await, ["ev-stays"], "only the confirmed letter left the DLQ");
    assert_eq!(s.stream_events(dead.queue).await, ["ev-replay"], "the event is back in its queue");
    assert_eq!(s.letters().await[0].id, other.id);
    let row = done.row(&id);
    assert_eq!(row[1], "ev-replay");
    assert!(row[2].contains('-'), "the new stream id: {row:?}");

    let again = w.get(&format!("/dead-letters/{id}")).await;
    assert_eq!(again.status, 404, "the letter's page is gone with it");
}

#[tokio::test]
async fn purging_by_filter_counts_what_matches_and_deletes_only_that() {
    let mut s = Store::start().await;
    s.kill("bot-a", "chat-1", "ev-a1", "/ping", "permanent: no").await;
    s.kill("bot-b", "chat-1", "ev-b1", "/ping", "permanent: no").await;
    s.kill("bot-a", "chat-2", "ev-a2", "/ping", "permanent: no").await;
    let mut w = Web::start(&s, Opts::default()).await;

    let list = w.get("/dead-letters?bot=bot-a").await;
    let t = list.text();
    assert!(t.contains("2 dead letters match"), "{t}");
    assert!(t.contains("Purge the 2 matching…"), "{t}");
    assert!(t.contains("ev-a1") && t.contains("ev-a2") && !t.contains("ev-b1"), "{t}");
    let by_filter = list.form("/dead-letters/replay");
    assert!(by_filter.contains(&("bot".into(), "bot-a".into())), "the filter rides along: {by_filter:?}");

    // The "Purge all matching" button: the filter form, sent to the purge action.
    let form: Vec<(&str, &str)> = by_filter.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let ask = w.post("/dead-letters/purge", &form).await;
    assert_eq!(ask.status, 200, "{}", ask.body);
    let t = ask.text();
    assert!(t.contains("Purge 2 dead letters?") && t.contains("cannot be undone"), "{t}");
    assert!(t.contains("ev-a1") && t.contains("ev-a2") && !t.contains("ev-b1"), "{t}");
    assert!(ask.form("/dead-letters/purge").contains(&("confirm".into(), "2".into())));
    assert_eq!(s.letters().await.len(), 3, "asking changes nothing");

    // A letter of bot A that dies after the confirmation is not swept along.
    s.kill("bot-a", "chat-3", "ev-a3", "/ping", "permanent: no").await;
    let done = w.submit(&ask, "/dead-letters/purge", &[]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.text().contains("Purged 2 dead letters."), "{}", done.text());
    assert_eq!(s.dead_events().await, ["ev-b1", "ev-a3"], "B's letter and the late one remain");
}

#[tokio::test]
async fn a_confirmation_whose_letter_went_meanwhile_is_refused_whole() {
    let mut s = Store::start().await;
    let gone = s.kill("qq-main", "chat-1", "ev-gone", "/ping", "permanent: no").await;
    let kept = s.kill("qq-main", "chat-2", "ev-kept", "/ping", "permanent: no").await;
    let mut w = Web::start(&s, Opts::default()).await;
    let csrf = w.session().await;
    let (g, k) = (letter_ref(&gone), letter_ref(&kept));
    let ask = w.post("/dead-letters/replay", &[("csrf", &csrf), ("scope", "ids"), ("id", &g), ("id", &k)]).await;
    assert!(ask.text().contains("Replay 2 dead letters?"), "{}", ask.text());

    // Someone else (another operator, `botqctl dlq purge`) purges one of them.
    let n = queue::purge(&mut s.conn, &s.keys.queue(gone.queue), std::slice::from_ref(&gone.id)).await.unwrap();
    assert_eq!(n, 1);

    let done = w.submit(&ask, "/dead-letters/replay", &[]).await;
    assert_eq!(done.status, 409, "{}", done.body);
    let t = done.text();
    assert!(t.contains(&g) && t.contains("nothing was changed"), "{t}");
    assert_eq!(s.dead_events().await, ["ev-kept"], "the other letter was not replayed");
    assert_eq!(s.stream_len(kept.queue).await, 0, "nothing went back into the queue");

    let purge = w
        .post("/dead-letters/purge", &[("csrf", &csrf), ("scope", "ids"), ("confirm", "2"), ("id", &g), ("id", &k)])
        .await;
    assert_eq!(purge.status, 409, "a purge too: {}", purge.body);
    assert_eq!(s.dead_events().await, ["ev-kept"], "the other letter was not purged");
}

#[tokio::test]
async fn a_read_only_console_offers_no_action_and_refuses_one() {
    let mut s = Store::start().await;
    let dead = s.kill("qq-main", "chat-1", "ev-ro", "/ping", "permanent: no").await;
    let mut w = Web::start(&s, Opts { read_only: true, ..Opts::default() }).await;
    let list = w.get("/dead-letters").await;
    assert_eq!(list.status, 200);
    let t = list.text();
    assert!(t.contains("read-only") && t.contains("ev-ro"), "{t}");
    assert!(!t.contains("Replay") && !t.contains("Purge"), "no action buttons: {t}");
    assert!(!list.body.contains(r#"type="checkbox""#), "nothing to select");
    let page = w.get(&format!("/dead-letters/{}", letter_ref(&dead))).await;
    assert!(!page.text().contains("Replay") && !page.text().contains("Purge"), "{}", page.text());

    let csrf = list.csrf();
    let id = letter_ref(&dead);
    for action in ["/dead-letters/replay", "/dead-letters/purge"] {
        let ask = w.post(action, &[("csrf", &csrf), ("scope", "ids"), ("id", &id)]).await;
        assert_eq!(ask.status, 403, "{action}: {}", ask.body);
        assert!(ask.text().contains("read-only"), "{}", ask.text());
        let done = w.post(action, &[("csrf", &csrf), ("scope", "ids"), ("confirm", "1"), ("id", &id)]).await;
        assert_eq!(done.status, 403, "{action}");
    }
    assert_eq!(s.dead_events().await, ["ev-ro"], "the letter is still there");
    assert_eq!(s.stream_len(dead.queue).await, 0);
}
