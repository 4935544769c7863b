//! Who may act and what is refused: the CSRF token and the origin, bad
//! input (a 400 naming the field), token mode's sign-in and sign-out, and
//! loopback mode's `Host` check.

use super::support::*;

#[tokio::test]
async fn a_post_without_its_sessions_csrf_token_or_from_another_site_changes_nothing() {
    let mut s = Store::start().await;
    let dead = s.kill("qq-main", "chat-1", "ev-csrf", "/ping", "permanent: no").await;
    let id = letter_ref(&dead);
    let mut w = Web::start(&s, Opts::default()).await;
    let csrf = w.session().await;
    let form = |csrf: Option<&str>| {
        let mut f =
            vec![("scope".to_owned(), "ids".to_owned()), ("confirm".into(), "1".into()), ("id".into(), id.clone())];
        if let Some(c) = csrf {
            f.push(("csrf".into(), c.to_owned()));
        }
        f
    };
    let url = format!("{}/dead-letters/purge", w.base);

    let p = w.send(w.http.post(&url).form(&form(None))).await;
    assert_eq!(p.status, 403, "no csrf field: {}", p.body);
    assert!(p.text().contains("CSRF token is missing or wrong"), "{}", p.text());
    p.assert_secure("403");

    let wrong = "0".repeat(64);
    let p = w.send(w.http.post(&url).form(&form(Some(&wrong)))).await;
    assert_eq!(p.status, 403, "a wrong token: {}", p.body);
    let p = w.send(w.http.post(&url).form(&form(Some("not-hex")))).await;
    assert_eq!(p.status, 403, "a malformed token");

    // Another session's token does not do either.
    let mut other = w.another_browser();
    let theirs = other.session().await;
    assert_ne!(theirs, csrf);
    let p = w.send(w.http.post(&url).form(&form(Some(&theirs)))).await;
    assert_eq!(p.status, 403, "another session's token");

    let p = w.send(w.http.post(&url).header(header::ORIGIN, "http://evil.example").form(&form(Some(&csrf)))).await;
    assert_eq!(p.status, 403, "a cross-origin POST: {}", p.body);
    assert!(p.text().contains("another site"), "{}", p.text());
    let p = w.send(w.http.post(&url).header("sec-fetch-site", "cross-site").form(&form(Some(&csrf)))).await;
    assert_eq!(p.status, 403, "cross-site by Sec-Fetch-Site");

    let p = w.http.post(&url).form(&form(Some(&csrf))).send().await.unwrap();
    assert_eq!(p.status().as_u16(), 403, "no session cookie");
    assert!(p.text().await.unwrap().contains("no session"));

    assert_eq!(s.dead_events().await, ["ev-csrf"], "nothing was purged");

    // The same POST with its own token, from its own origin, is taken.
    let origin = w.base.clone();
    let p = w.send(w.http.post(&url).header(header::ORIGIN, origin).form(&form(Some(&csrf)))).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.text().contains("Purged 1 dead letter."));
    assert!(s.letters().await.is_empty());
}

#[tokio::test]
async fn bad_input_is_a_400_that_names_the_field_and_an_unknown_page_a_404() {
    let mut s = Store::start().await;
    let dead = s.kill("qq-main", "chat-1", "ev-bad", "/ping", "permanent: no").await;
    let mut w = Web::start(&s, Opts::default()).await;
    let csrf = w.session().await;
    for (path, field) in [
        ("/dead-letters?after=abc", "after: "),
        ("/dead-letters?after=1-0", "after: "),
        ("/dead-letters?after=99/1-0", "after: "),
        ("/dead-letters?after=0/99999999999999999999-0", "after: "),
        ("/dead-letters?within=soon", "within: "),
        ("/dead-letters?older=-1h", "older: "),
        ("/dead-letters?lane=nope", "lane: "),
        ("/dead-letters?lane=a%20b", "lane: "),
        ("/dead-letters?queue=99", "queue: "),
        ("/dead-letters?queue=x", "queue: "),
        ("/dead-letters?bot=a*b", "bot: "),
        ("/dead-letters/99/1-0", "queue: "),
        ("/dead-letters/0/abc", "id: "),
        ("/dead-letters/0/99999999999999999999-0", "id: "),
        ("/audit?outcome=zzz", "outcome: "),
        ("/audit?access=admin", "access: "),
        ("/audit?before=x", "before: "),
        ("/audit?event=a%0Ab", "event: "),
        ("/audit?before=1-99999999999999999999", "before: "),
        ("/?span=7h", "span: "),
    ] {
        let p = w.get(path).await;
        assert_eq!(p.status, 400, "{path}: {}", p.body);
        p.assert_secure(path);
        assert!(p.text().contains(field), "{path} names {field}: {}", p.text());
    }
    let id = letter_ref(&dead);
    for (form, field) in [
        (vec![("scope", "ids"), ("confirm", "2"), ("id", id.as_str())], "confirm: "),
        (vec![("scope", "ids"), ("confirm", "one"), ("id", id.as_str())], "confirm: "),
        (vec![("scope", "filter"), ("confirm", "1"), ("bot", "qq-main")], "confirm: "),
        (vec![("id", id.as_str())], "scope: "),
        (vec![("scope", "everything")], "scope: "),
        (vec![("scope", "ids")], "select at least one"),
        (vec![("scope", "ids"), ("confirm", "0")], "id: "),
        (vec![("scope", "ids"), ("id", "1-0")], "id: "),
        (vec![("scope", "ids"), ("id", "nope")], "id: "),
        (vec![("scope", "ids"), ("id", "99999/1-0")], "id: "),
        (vec![("scope", "ids"), ("id", "0/99999999999999999999-0")], "id: "),
        (vec![("scope", "filter"), ("within", "soon")], "within: "),
    ] {
        for action in ["/dead-letters/replay", "/dead-letters/purge"] {
            let mut f = form.clone();
            f.push(("csrf", &csrf));
            let p = w.post(action, &f).await;
            assert_eq!(p.status, 400, "{action} {form:?}: {}", p.body);
            assert!(p.text().contains(field), "{action} {form:?} names {field}: {}", p.text());
        }
    }
    assert_eq!(s.dead_events().await, ["ev-bad"], "no bad form changed anything");

    // A cursor past the last letter (a bookmark after a purge) is an empty
    // page that leads back to the newest.
    let past = w.get("/dead-letters?after=0/1-0").await;
    assert_eq!(past.status, 200, "{}", past.body);
    assert!(past.text().contains("← newest"), "{}", past.text());
    assert!(!past.text().contains(&dead.id), "nothing is older than 1-0");

    for path in ["/nope", "/dead-letters/0/1-0", "/assets/nope.css"] {
        let p = w.get(path).await;
        assert_eq!(p.status, 404, "{path}: {}", p.body);
        p.assert_secure(path);
    }
    let css = w.get("/assets/console.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
}

#[tokio::test]
async fn token_mode_signs_in_with_the_token_and_out_for_good() {
    let s = Store::start().await;
    let mut w = Web::start(&s, Opts { token: true, ..Opts::default() }).await;

    let p = w.get("/").await;
    assert_eq!(p.status, 303);
    assert_eq!(p.header("location"), "/login?next=%2F");
    assert!(w.cookie.is_none(), "no session before signing in");
    let p = w.get("/dead-letters?bot=qq-main").await;
    assert_eq!(p.header("location"), "/login?next=%2Fdead-letters%3Fbot%3Dqq-main");
    let p = w.post("/dead-letters/purge", &[("scope", "filter")]).await;
    assert_eq!(p.status, 401, "an action without a session");

    let login = w.get("/login?next=%2F").await;
    assert_eq!(login.status, 200);
    login.assert_secure("/login");
    assert!(login.body.contains(r#"type="password" name="token""#));
    assert_eq!(login.form("/login"), [("next".to_owned(), "/".to_owned())]);

    let wrong = w.post("/login", &[("token", "not-the-token-at-all"), ("next", "/")]).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.text().contains("That is not the token."), "{}", wrong.text());
    assert!(!wrong.body.contains(TOKEN), "the real token never reaches a page");
    assert!(session_cookie(&wrong.headers).is_none() && w.cookie.is_none());
    let near = w.post("/login", &[("token", &TOKEN[..TOKEN.len() - 1]), ("next", "/")]).await;
    assert_eq!(near.status, 401, "the token is checked whole");

    // A login sends the browser only within the console: not to another
    // site, nor to one a browser reaches by dropping a tab or newline.
    for next in
        ["https://evil.example/", "//evil.example/", "/\\evil.example/", "/\t/evil.example/", "/\n/evil.example/"]
    {
        let ok = w.post("/login", &[("token", TOKEN), ("next", next)]).await;
        assert_eq!((ok.status, ok.header("location")), (303, "/"), "next = {next:?}");
    }
    let ok = w.post("/login", &[("token", TOKEN), ("next", "/")]).await;
    assert_eq!((ok.status, ok.header("location")), (303, "/"));
    let (pair, attrs) = session_cookie(&ok.headers).expect("a session cookie");
    assert!(pair.len() > "botq_console=".len() + 32, "{pair}");
    assert!(attrs.contains("HttpOnly") && attrs.contains("SameSite=Strict") && attrs.contains("Path=/"), "{attrs}");
    assert!(!attrs.contains(TOKEN) && !pair.contains(TOKEN));
    let session = w.cookie.clone().unwrap();

    let home = w.get("/").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.text().contains("Sign out") && home.text().contains("Overview"));
    assert!(!home.body.contains(TOKEN));

    let out = w.submit(&home, "/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), "/login");
    let (cleared, attrs) = session_cookie(&out.headers).expect("the cookie is cleared");
    assert_eq!(cleared, "botq_console=");
    assert!(attrs.contains("Max-Age=0"), "{attrs}");

    // The old session is over, even for a browser that kept its cookie.
    w.cookie = Some(session);
    let p = w.get("/").await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.header("location"), "/login?next=%2F");
    let p = w.post("/dead-letters/purge", &[("csrf", &home.csrf()), ("scope", "filter")]).await;
    assert_eq!(p.status, 401);
}

/// Guessing the token: ten wrong tries a minute for every client and
/// replica together, and past them not even the right token is checked, so
/// the cap is no oracle. A session signed in before goes on working.
#[tokio::test]
async fn ten_failed_sign_ins_a_minute_close_sign_in_on_every_replica() {
    let mut s = Store::start().await;
    let token = Opts { token: true, ..Opts::default() };
    let (mut a, b) = (Web::start(&s, token).await, Web::start(&s, token).await);
    assert_eq!(a.post("/login", &[("token", TOKEN), ("next", "/")]).await.status, 303);
    let guesses = (0..10).map(|i| {
        let mut w = if i % 2 == 0 { a.another_browser() } else { b.another_browser() };
        async move { w.post("/login", &[("token", "a-wrong-guess-of-enough-length"), ("next", "/")]).await.status }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    assert_eq!(statuses, [401; 10], "each wrong guess is told so, slowly");
    for mut w in [a.another_browser(), b.another_browser()] {
        let p = w.post("/login", &[("token", TOKEN), ("next", "/")]).await;
        assert_eq!(p.status, 429, "the right token is not checked past the cap: {}", p.body);
        assert!(w.cookie.is_none(), "no session");
    }
    assert_eq!(a.get("/").await.status, 200, "the session signed in before goes on");
    let window: i64 = redis::cmd("PTTL").arg(s.keys.console_login_failures()).query_async(&mut s.conn).await.unwrap();
    assert!((1..=60_000).contains(&window), "the count ends with its minute: {window} ms");
}

/// Redis down: a visitor who has not signed in learns only that the
/// console cannot reach its Redis, not the connection's error.
#[tokio::test]
async fn a_redis_outage_before_sign_in_is_a_plain_503() {
    let mut s = Store::start().await;
    let mut w = Web::start(&s, Opts { token: true, ..Opts::default() }).await;
    s._redis.stop();
    w.cookie = Some(format!("botq_console={}", "ab".repeat(32)));
    for p in [w.get("/").await, w.post("/login", &[("token", TOKEN), ("next", "/")]).await] {
        assert_eq!(p.status, 503, "{}", p.body);
        assert!(p.text().contains("cannot reach its Redis"), "{}", p.text());
        for detail in ["refused", "os error", "127.0.0.1", "redis://"] {
            assert!(!p.body.contains(detail), "{detail} in {}", p.body);
        }
    }
}

/// Two console replicas behind one address (a rolling update, or two for
/// availability): a session started on one is good on the other, its forms
/// post to either, and signing out on one signs out on both.
#[tokio::test]
async fn replicas_share_sessions_and_a_sign_out_ends_the_session_on_both() {
    let mut s = Store::start().await;
    s.kill("qq-main", "chat-1", "ev-1", "/ping", "permanent: no").await;
    let token = Opts { token: true, ..Opts::default() };
    let mut a = Web::start(&s, token).await;
    let mut b = Web::start(&s, token).await;
    let ok = a.post("/login", &[("token", TOKEN), ("next", "/")]).await;
    assert_eq!(ok.status, 303);
    b.cookie.clone_from(&a.cookie);

    let on_b = b.get("/dead-letters").await;
    assert_eq!(on_b.status, 200, "signed in on A, signed in on B: {}", on_b.body);
    let on_a = a.get("/dead-letters").await;
    assert_eq!(on_a.csrf(), on_b.csrf(), "both replicas compute the session's CSRF token");
    let ask = a.submit(&on_b, "/dead-letters/replay", &[]).await;
    assert_eq!(ask.status, 200, "B's form, posted to A: {}", ask.body);
    assert!(ask.text().contains("Replay 1 dead letter?"), "{}", ask.text());

    let home = b.get("/").await;
    assert_eq!(b.submit(&home, "/logout", &[]).await.status, 303);
    let p = a.get("/").await;
    assert_eq!((p.status, p.header("location")), (303, "/login?next=%2F"), "signed out on B, signed out on A");
}

#[tokio::test]
async fn loopback_mode_answers_only_to_a_loopback_host() {
    let mut s = Store::start().await;
    s.kill("qq-main", "chat-1", "ev-host", "/ping", "permanent: no").await;
    let mut w = Web::start(&s, Opts::default()).await;
    let url = format!("{}/", w.base);
    for host in ["evil.example:9092", "evil.example", "localhost.evil.example", "10.0.0.1:9092"] {
        let p = w.send(w.http.get(&url).header(header::HOST, host)).await;
        assert_eq!(p.status, 421, "Host {host}: {}", p.body);
        p.assert_secure("421");
        assert!(p.text().contains("answers only to localhost"), "{}", p.text());
        assert!(session_cookie(&p.headers).is_none(), "no session for {host}");
    }
    let csrf = w.session().await;
    let p = w
        .send(
            w.http
                .post(format!("{}/dead-letters/purge", w.base))
                .header(header::HOST, "evil.example:9092")
                .form(&[("csrf", csrf.as_str()), ("scope", "filter")]),
        )
        .await;
    assert_eq!(p.status, 421, "a POST too");
    assert_eq!(s.dead_events().await, ["ev-host"]);
    for host in ["localhost:9092", "127.0.0.1", "[::1]:9092"] {
        let p = w.send(w.http.get(&url).header(header::HOST, host)).await;
        assert_eq!(p.status, 200, "Host {host}: {}", p.body);
    }
    let login = w.get("/login").await;
    assert_eq!((login.status, login.header("location")), (303, "/"), "nothing to sign in to");
}
