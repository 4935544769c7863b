//! OneBot v11: the three send actions under the bot's api_base path, bearer
//! 401/403, bots without a token, and no idempotency.

use botq_fakeplatform::{Endpoint, Options};
use serde_json::json;

use crate::support::{Fake, ONEBOT_TOKEN};

#[tokio::test]
async fn onebot_send_actions_deliver_and_answer_int32_message_ids() {
    let fake = Fake::start(Options::default()).await;
    let auth = format!("Bearer {ONEBOT_TOKEN}");
    let group =
        fake.post("/onebot/send_group_msg", Some(&auth), &json!({"group_id": 123_456, "message": "pong"})).await;
    assert_eq!(group.status, 200);
    assert_eq!((group.body["status"].clone(), group.body["retcode"].clone()), (json!("ok"), json!(0)));
    assert!(group.body["data"]["message_id"].as_i64().is_some_and(|id| i32::try_from(id).is_ok()));
    let private = fake.post("/onebot/send_private_msg", Some(&auth), &json!({"user_id": 42, "message": "hi"})).await;
    assert_eq!(private.body["retcode"], 0);
    let msg =
        json!({"message_type": "group", "group_id": "789", "message": [{"type": "text", "data": {"text": "seg"}}]});
    assert_eq!(fake.post("/onebot/send_msg", Some(&auth), &msg).await.body["retcode"], 0);
    let d = fake.state.deliveries();
    let seen: Vec<_> = d.iter().map(|d| (d.endpoint, d.target.as_str(), d.text.as_str(), d.bot.as_str())).collect();
    assert_eq!(
        seen,
        [
            (Endpoint::OnebotGroup, "123456", "pong", "onebot-main"),
            (Endpoint::OnebotPrivate, "42", "hi", "onebot-main"),
            (Endpoint::OnebotGroup, "789", "seg", "onebot-main"),
        ]
    );
    assert!(d.iter().all(|d| d.idempotency_key.is_none()));
    fake.stop().await;
}

#[tokio::test]
async fn a_onebot_request_without_the_token_is_401_and_with_a_wrong_one_is_403() {
    let fake = Fake::start(Options::default()).await;
    let body = json!({"group_id": 1, "message": "x"});
    assert_eq!(fake.post("/onebot/send_group_msg", None, &body).await.status, 401);
    assert_eq!(fake.post("/onebot/send_group_msg", Some("Bearer wrong"), &body).await.status, 403);
    let query = fake.post(&format!("/onebot/send_group_msg?access_token={ONEBOT_TOKEN}"), None, &body).await;
    assert_eq!(query.status, 200, "the spec also allows the token in the query");
    let statuses: Vec<_> = fake.state.rejections().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 403]);
    fake.stop().await;
}

#[tokio::test]
async fn a_onebot_bot_without_a_token_accepts_requests_at_its_own_path_only() {
    let fake = Fake::start(Options::default()).await;
    let body = json!({"user_id": 7, "message": "open"});
    let a = fake.post("/open/send_private_msg", None, &body).await;
    assert_eq!(a.status, 200);
    assert_eq!(fake.state.deliveries()[0].bot, "onebot-open");
    assert_eq!(fake.post("/elsewhere/send_private_msg", None, &body).await.status, 404);
    fake.stop().await;
}

#[tokio::test]
async fn onebot_has_no_idempotency_so_every_request_is_delivered() {
    let fake = Fake::start(Options::default()).await;
    let auth = format!("Bearer {ONEBOT_TOKEN}");
    let body = json!({"group_id": 1, "message": "same"});
    let a = fake.post("/onebot/send_group_msg", Some(&auth), &body).await;
    let b = fake.post("/onebot/send_group_msg", Some(&auth), &body).await;
    assert_ne!(a.body["data"]["message_id"], b.body["data"]["message_id"]);
    assert_eq!(fake.state.deliveries().len(), 2);
    fake.stop().await;
}

#[tokio::test]
async fn bad_onebot_parameters_fail_with_retcode_100_and_bad_json_with_400() {
    let fake = Fake::start(Options::default()).await;
    let auth = format!("Bearer {ONEBOT_TOKEN}");
    let a = fake.post("/onebot/send_group_msg", Some(&auth), &json!({"message": "no group"})).await;
    assert_eq!((a.status, a.body["status"].clone(), a.body["retcode"].clone()), (200, json!("failed"), json!(100)));
    let raw = fake
        .client
        .post(format!("{}/onebot/send_group_msg", fake.base))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    assert!(fake.state.deliveries().is_empty());
    fake.stop().await;
}
