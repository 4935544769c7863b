//! The platforms' side of the chaos run: a steady open-loop stream of signed
//! QQ and Lark message webhooks, each posted until ingest acknowledges it —
//! as the platforms do, retrying anything not acknowledged within their
//! deadline (a refused connection, a 503 while Redis restarts, a timeout).
//! A share of the accepted webhooks is delivered again later, and some twice
//! at once, as platforms re-deliver.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use botq_testkit::fixtures::QQ_SECRET;
use botq_testkit::sign::{self, Webhook};
use tokio::time::Instant;

use super::stack::{LARK_ENCRYPT_KEY, LARK_TOKEN};

/// The platform's ack deadline: a request unanswered this long is retried.
const ACK_DEADLINE: Duration = Duration::from_secs(3);
/// How long a platform keeps retrying one webhook before the test calls it lost.
const GIVE_UP: Duration = Duration::from_secs(60);

/// One message event: the bot it is for, the platform message id its reply
/// must answer (QQ `msg_id`, Lark `message_id`), and the signed webhook.
#[derive(Debug, Clone)]
pub struct Event {
    pub bot: &'static str,
    pub message_id: String,
    pub hook: Webhook,
}

/// `per_platform` QQ group @-messages and as many encrypted Lark messages,
/// interleaved, spread over 8 chats each.
pub fn events(per_platform: usize) -> Vec<Event> {
    let now = botq_core::now_ms() / 1000;
    (0..per_platform)
        .flat_map(|i| {
            let qq_msg = format!("ROBOT1.0_chaos{i}");
            let qq_body = sign::qq_group_at_body(
                &format!("qe{i}"),
                &qq_msg,
                &format!("GROUP{}", i % 8),
                "M1",
                &format!(" /echo q{i}"),
            );
            let lark_msg = format!("om_chaos{i}");
            let lark_body = sign::lark_message_body(
                LARK_TOKEN,
                &format!("le{i}"),
                &lark_msg,
                &format!("oc_chaos{}", i % 8),
                "group",
                "ou_1",
                &format!("/echo l{i}"),
            );
            [
                Event { bot: "qq-main", message_id: qq_msg, hook: sign::qq("102000000", QQ_SECRET, now, &qq_body) },
                Event {
                    bot: "lark-main",
                    message_id: lark_msg,
                    hook: sign::lark(Some(LARK_ENCRYPT_KEY), now, &lark_body),
                },
            ]
        })
        .collect()
}

/// What the platforms saw of ingest.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Events acknowledged (2xx) at least once.
    pub accepted: usize,
    /// Events never acknowledged before [`GIVE_UP`].
    pub unacknowledged: Vec<String>,
    /// Every POST made, first deliveries, retries and re-deliveries.
    pub posts: usize,
    /// Accepted events delivered again (each such POST also acknowledged).
    pub redelivered: usize,
    /// Answers that were not 2xx, by status (0: no answer: refused, reset, timed out).
    pub refused: BTreeMap<u16, usize>,
}

/// Offers `events` evenly over `over`, one task per event, and returns when
/// every task is done.
pub async fn offer(ingest: String, events: Vec<Event>, over: Duration) -> Outcome {
    let http = reqwest::Client::builder().timeout(ACK_DEADLINE).build().expect("client");
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let gap = over / u32::try_from(events.len().max(1)).expect("event count");
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, ev) in events.into_iter().enumerate() {
        tokio::time::sleep_until(start + gap * u32::try_from(i).expect("index")).await;
        let (http, outcome, url) = (http.clone(), outcome.clone(), format!("{ingest}/webhooks/{}", ev.bot));
        tasks.push(tokio::spawn(async move {
            // Every 11th event is delivered twice at once (a platform retry racing the first).
            let first = if i % 11 == 0 {
                let (a, b) =
                    tokio::join!(deliver(&http, &url, &ev.hook, &outcome), deliver(&http, &url, &ev.hook, &outcome));
                a || b
            } else {
                deliver(&http, &url, &ev.hook, &outcome).await
            };
            if !first {
                outcome.lock().unwrap().unacknowledged.push(ev.message_id.clone());
                return;
            }
            outcome.lock().unwrap().accepted += 1;
            // Every 5th accepted event comes again a little later.
            if i % 5 == 0 {
                tokio::time::sleep(Duration::from_millis(700)).await;
                if deliver(&http, &url, &ev.hook, &outcome).await {
                    outcome.lock().unwrap().redelivered += 1;
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender task");
    }
    Arc::try_unwrap(outcome).expect("all senders done").into_inner().unwrap()
}

/// Posts `hook` until ingest answers 2xx; `false` after [`GIVE_UP`].
async fn deliver(http: &reqwest::Client, url: &str, hook: &Webhook, outcome: &Mutex<Outcome>) -> bool {
    let deadline = Instant::now() + GIVE_UP;
    while Instant::now() < deadline {
        let status = botq_e2e::request(http, url, hook).send().await.map_or(0, |r| r.status().as_u16());
        let accepted = (200..300).contains(&status);
        {
            let mut o = outcome.lock().unwrap();
            o.posts += 1;
            if !accepted {
                *o.refused.entry(status).or_default() += 1;
            }
        }
        if accepted {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}
