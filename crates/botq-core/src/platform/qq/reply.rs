//! QQ passive replies: `POST /v2/groups/{openid}/messages` (group),
//! `/v2/users/{openid}/messages` (C2C), `/channels/{id}/messages` (guild
//! channel), `/dms/{guild_id}/messages` (guild DM), authorised by
//! `QQBot <token>` from `getAppAccessToken`.
//!
//! A passive reply carries the inbound `msg_id` and a `msg_seq`; the pair is
//! the idempotency handle: the platform refuses a repeat with 40054005, which
//! therefore means "already sent". At most 5 replies per message, inside the
//! reply window (group 5 min, C2C 60 min, guild 5 min); past either the reply
//! is expired. Proactive messages were discontinued in 2025, so botq only
//! sends passive replies.

use std::time::Duration;

use serde_json::json;

use super::content::{self, Scene};
use crate::envelope::{ChatKind, Envelope};
use crate::message::Outgoing;
use crate::reply::{ApiRequest, SendFailure, SendResult, Token, TokenError, generic_failure, refused};

/// Replies allowed per inbound message.
pub const MAX_REPLIES: u32 = 5;

/// How long after the inbound message a passive reply is accepted. A reply
/// by `event_id` (a button, the bot added) gets the shorter window.
#[must_use]
pub fn reply_window(env: &Envelope) -> Duration {
    if env.notice {
        return Duration::from_secs(5 * 60);
    }
    match (env.chat_kind, env.guild_id.is_some()) {
        (ChatKind::Private, false) => Duration::from_secs(60 * 60),
        _ => Duration::from_secs(5 * 60),
    }
}

/// The token request: `{"appId","clientSecret"}` to `token_url`.
#[must_use]
pub fn token_request(token_url: &str, app_id: &str, client_secret: &str) -> ApiRequest {
    ApiRequest {
        put: false,
        url: token_url.to_owned(),
        authorization: None,
        body: json!({ "appId": app_id, "clientSecret": client_secret }),
    }
}

/// Parses `{"access_token","expires_in"}` (`expires_in` a string or a number).
///
/// # Errors
/// [`TokenError::Refused`] for an answer with a non-zero `code`, else
/// [`TokenError::Malformed`].
pub fn parse_token(body: &[u8]) -> Result<Token, TokenError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| TokenError::Malformed(e.to_string()))?;
    if let Some(code) = v.get("code").and_then(serde_json::Value::as_i64).filter(|c| *c != 0) {
        return Err(TokenError::Refused(code));
    }
    let secs = match v.get("expires_in") {
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(n) => n.as_u64(),
        None => None,
    };
    Token::from_answer(v.get("access_token").and_then(serde_json::Value::as_str), secs, "access_token or expires_in")
}

/// The passive reply number `index` (1-based) to `env`, its segments
/// rendered for the scene (`platform::qq::content`): text escaped so it
/// shows as written; a quote as `message_reference` where the API takes one
/// (guild; the v2 group and C2C APIs mark it "not yet supported"); the
/// first image as the guild `image` field, or in group and C2C chats as
/// `msg_type` 7 with `media`, the `file_info` its upload answered
/// ([`media_upload`]). Without that (nothing uploaded) the image's URL is
/// sent as text.
///
/// # Errors
/// A chat or guild id that cannot be a path segment ([`crate::reply::segment`]).
pub fn reply_request(
    api_base: &str,
    token: &str,
    env: &Envelope,
    index: u32,
    reply: &Outgoing,
    media: Option<&str>,
) -> Result<ApiRequest, crate::reply::InvalidTarget> {
    let (url, scene) = endpoint(api_base, env, "messages")?;
    let mut r = content::render(&reply.segments, scene);
    // A message is answered by its msg_id; an event without one (a button,
    // the bot added) by its event_id (`platform::qq::notice`).
    let handle = if env.notice { "event_id" } else { "msg_id" };
    let mut body = if scene.guild() {
        // Guild APIs have no msg_seq.
        let mut b = json!({ "content": r.content, handle: env.message_id });
        if let Some(image) = r.image {
            b["image"] = json!(image);
        }
        if let Some(quote) = r.quote {
            b["message_reference"] = json!({ "message_id": quote, "ignore_get_message_error": true });
        }
        b
    } else if let (Some(file_info), Some(_)) = (media, &r.image) {
        json!({ "content": r.content, "msg_type": 7, "media": { "file_info": file_info }, handle: env.message_id, "msg_seq": index })
    } else {
        if let Some(image) = &r.image {
            r.content.push_str(&content::escape(image));
        }
        json!({ "content": r.content, "msg_type": 0, handle: env.message_id, "msg_seq": index })
    };
    if body["content"] == "" && body.get("image").is_none() && body.get("media").is_none() {
        // The platform refuses an empty text message; a reply of only a
        // mention it cannot show (C2C) still says something.
        body["content"] = json!(" ");
    }
    Ok(ApiRequest { put: false, url, authorization: Some(format!("QQBot {token}")), body })
}

/// The URL of `env`'s chat with `tail` (`messages`, `files`) and its scene.
fn endpoint(api_base: &str, env: &Envelope, tail: &str) -> Result<(String, Scene), crate::reply::InvalidTarget> {
    let base = api_base.trim_end_matches('/');
    let chat = crate::reply::segment(&env.chat_id)?;
    Ok(match (env.chat_kind, &env.guild_id) {
        (ChatKind::Group, _) => (format!("{base}/v2/groups/{chat}/{tail}"), Scene::Group),
        (ChatKind::Private, None) => (format!("{base}/v2/users/{chat}/{tail}"), Scene::C2c),
        (ChatKind::Private, Some(guild)) => {
            (format!("{base}/dms/{}/{tail}", crate::reply::segment(guild)?), Scene::GuildDm)
        }
        (ChatKind::Channel, _) => (format!("{base}/channels/{chat}/{tail}"), Scene::Channel),
    })
}

/// The upload an image reply needs first in a group or C2C chat:
/// `POST /v2/groups/{id}/files` (`/v2/users/{id}/files`)
/// `{"file_type":1,"url":…,"srv_send_msg":false}` — the platform fetches
/// the URL and answers a `file_info` that the message then carries
/// (botpy's `post_group_file` / `post_c2c_file`; the docs' "富媒体消息").
/// `srv_send_msg` stays false: sending it at once would be a proactive
/// message, which the platform no longer offers. `None`: the reply has no
/// image, or the scene takes the URL in the message (guilds).
///
/// # Errors
/// A chat id that cannot be a path segment ([`crate::reply::segment`]).
pub fn media_upload(
    api_base: &str,
    token: &str,
    env: &Envelope,
    reply: &Outgoing,
) -> Option<Result<ApiRequest, crate::reply::InvalidTarget>> {
    if env.chat_kind == ChatKind::Channel || env.guild_id.is_some() {
        return None;
    }
    let image = reply.segments.iter().find_map(|s| match s {
        crate::message::Segment::Image { url: Some(url), .. } => Some(url.clone()),
        _ => None,
    })?;
    Some(endpoint(api_base, env, "files").map(|(url, _)| ApiRequest {
        put: false,
        url,
        authorization: Some(format!("QQBot {token}")),
        body: json!({ "file_type": 1, "url": image, "srv_send_msg": false }),
    }))
}

/// The `file_info` an upload answered, or why there is none.
///
/// # Errors
/// The failure as for a message ([`classify`]); an answer without
/// `file_info` is permanent.
pub fn read_media(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Result<String, SendFailure> {
    match classify(status, retry_after, body) {
        SendResult::Failed(f) => Err(f),
        SendResult::Sent { .. } | SendResult::AlreadySent => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("file_info").and_then(serde_json::Value::as_str).map(str::to_owned))
            .filter(|f| !f.is_empty())
            .ok_or(SendFailure::Permanent { code: 0, reason: "the upload answer has no file_info".to_owned() }),
    }
}

/// The answer to a button press: `PUT /interactions/{id}` `{"code":0}`, without
/// which the user's client shows "loading" until it times out.
///
/// # Errors
/// An interaction id that cannot be a path segment ([`crate::reply::segment`]).
pub fn interaction_ack(api_base: &str, token: &str, env: &Envelope) -> Result<ApiRequest, crate::reply::InvalidTarget> {
    let id = crate::reply::segment(&env.message_id)?;
    Ok(ApiRequest {
        put: true,
        url: format!("{}/interactions/{id}", api_base.trim_end_matches('/')),
        authorization: Some(format!("QQBot {token}")),
        body: json!({ "code": 0 }),
    })
}

/// Classifies the answer to a reply.
#[must_use]
pub fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> SendResult {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    let code = v.get("code").or_else(|| v.get("err_code")).and_then(serde_json::Value::as_i64).unwrap_or(0);
    // 200/204 succeed; 201/202 are "asynchronous success" carrying an error body (audits).
    if matches!(status, 200 | 204) && code == 0 {
        // What a quote of it will name: group and C2C quotes carry the
        // `REFIDX_…` index the send answered as `ext_info.ref_idx` (docs,
        // "发送群聊消息": the bot's own messages are quoted by it), guild
        // quotes the message id.
        let id = v.pointer("/ext_info/ref_idx").or_else(|| v.get("id")).and_then(serde_json::Value::as_str);
        return SendResult::Sent { message_id: id.map(str::to_owned) };
    }
    let failure = match code {
        40_054_005 => return SendResult::AlreadySent,
        11_244 => SendFailure::TokenRejected { code },
        22_009 | 20_028 | 40_034_100 => {
            SendFailure::RetryAfter { after: retry_after.unwrap_or(Duration::from_secs(1)), code }
        }
        40_034_128 | 40_034_005 | 304_027 => SendFailure::Expired { code },
        _ => match generic_failure(status, retry_after) {
            Some(f) => f,
            None if status == 401 => SendFailure::TokenRejected { code },
            None => refused(status, code, v.get("message").and_then(serde_json::Value::as_str)),
        },
    };
    SendResult::Failed(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(kind: ChatKind, guild: Option<&str>) -> Envelope {
        Envelope {
            message_id: "ROBOT1.0_m".into(),
            guild_id: guild.map(str::to_owned),
            ..crate::envelope::test_envelope(crate::envelope::Platform::Qq, kind)
        }
    }

    #[test]
    fn group_replies_carry_msg_id_and_the_reply_index_as_msg_seq() {
        let r = reply_request("http://fake/", "TOK", &env(ChatKind::Group, None), 2, &Outgoing::text("pong"), None)
            .unwrap();
        assert_eq!(r.url, "http://fake/v2/groups/CHAT/messages");
        assert_eq!(r.authorization.as_deref(), Some("QQBot TOK"));
        assert_eq!(r.body, json!({"content":"pong","msg_type":0,"msg_id":"ROBOT1.0_m","msg_seq":2}));
    }

    #[test]
    fn text_is_escaped_and_mentions_quotes_and_images_take_the_scenes_form() {
        use crate::message::Segment;
        let reply = Outgoing {
            segments: vec![
                Segment::Mention { user: "U1".into(), name: None, bot: false },
                Segment::text(" <@!1> @everyone R&D"),
                Segment::Quote { message_id: "M0".into() },
                Segment::Image { url: Some("https://img/a.png".into()), id: None },
            ],
        };
        let g = reply_request("http://f", "t", &env(ChatKind::Group, None), 1, &reply, None).unwrap();
        assert_eq!(
            g.body,
            json!({"content":"<qqbot-at-user id=\"U1\" /> &lt;@!1&gt; @everyone R&amp;Dhttps://img/a.png","msg_type":0,"msg_id":"ROBOT1.0_m","msg_seq":1})
        );
        let c = reply_request("http://f", "t", &env(ChatKind::Channel, Some("G")), 1, &reply, None).unwrap();
        assert_eq!(
            c.body,
            json!({
                "content": "<@U1> &lt;@!1&gt; @\u{200B}everyone R&amp;D",
                "msg_id": "ROBOT1.0_m",
                "image": "https://img/a.png",
                "message_reference": {"message_id": "M0", "ignore_get_message_error": true}
            })
        );
        let m = reply_request("http://f", "t", &env(ChatKind::Group, None), 1, &reply, Some("FI")).unwrap();
        assert_eq!(
            m.body,
            json!({"content":"<qqbot-at-user id=\"U1\" /> &lt;@!1&gt; @everyone R&amp;D","msg_type":7,
                   "media":{"file_info":"FI"},"msg_id":"ROBOT1.0_m","msg_seq":1}),
            "an uploaded image goes as media, its URL no longer in the text"
        );
        let only_mention = Outgoing { segments: vec![Segment::Mention { user: "U1".into(), name: None, bot: false }] };
        let p = reply_request("http://f", "t", &env(ChatKind::Private, None), 1, &only_mention, None).unwrap();
        assert_eq!(p.body["content"], " ", "C2C cannot show a mention; the body is never empty");
    }

    #[test]
    fn an_answerable_event_is_replied_to_by_event_id_and_a_button_is_acknowledged() {
        let e = Envelope { notice: true, message_id: "GROUP_ADD_ROBOT:56d7".into(), ..env(ChatKind::Group, None) };
        let r = reply_request("http://f", "t", &e, 1, &Outgoing::text("welcome"), None).unwrap();
        assert_eq!(r.body, json!({"content":"welcome","msg_type":0,"event_id":"GROUP_ADD_ROBOT:56d7","msg_seq":1}));
        assert_eq!(reply_window(&Envelope { chat_kind: ChatKind::Private, ..e.clone() }), Duration::from_secs(300));
        let button = Envelope { message_id: "30540ff7-9d8f".into(), ..e };
        let ack = interaction_ack("http://f/", "t", &button).unwrap();
        assert_eq!((ack.url.as_str(), ack.body), ("http://f/interactions/30540ff7-9d8f", json!({"code":0})));
    }

    #[test]
    fn each_scene_has_its_endpoint() {
        let u =
            |kind, guild| reply_request("http://f", "t", &env(kind, guild), 1, &Outgoing::text("x"), None).unwrap().url;
        assert_eq!(u(ChatKind::Private, None), "http://f/v2/users/CHAT/messages");
        assert_eq!(u(ChatKind::Private, Some("G")), "http://f/dms/G/messages");
        assert_eq!(u(ChatKind::Channel, Some("G")), "http://f/channels/CHAT/messages");
    }

    /// A crafted chat id stays one path segment: a group reply cannot be
    /// turned into a private message by `../users/…`.
    #[test]
    fn ids_are_percent_encoded_path_segments_and_dot_segments_are_refused() {
        let mut e = env(ChatKind::Group, None);
        e.chat_id = "../users/VICTIM".into();
        let r = reply_request("http://f", "t", &e, 1, &Outgoing::text("x"), None).unwrap();
        assert_eq!(r.url, "http://f/v2/groups/%2E%2E%2Fusers%2FVICTIM/messages");
        assert_eq!(url_path(&r.url), "/v2/groups/%2E%2E%2Fusers%2FVICTIM/messages", "the parsed path is the same");
        for dots in ["..", ".", ""] {
            e.chat_id = dots.into();
            assert!(reply_request("http://f", "t", &e, 1, &Outgoing::text("x"), None).is_err(), "{dots:?}");
        }
        let mut dm = env(ChatKind::Private, Some("1?x=#"));
        assert_eq!(
            reply_request("http://f", "t", &dm, 1, &Outgoing::text("x"), None).unwrap().url,
            "http://f/dms/1%3Fx%3D%23/messages"
        );
        dm.guild_id = Some("..".into());
        assert!(reply_request("http://f", "t", &dm, 1, &Outgoing::text("x"), None).is_err());
    }

    /// What an HTTP client sends as the path of `url` (after normalising dot segments).
    fn url_path(url: &str) -> String {
        http::Uri::try_from(url).unwrap().path().to_owned()
    }

    #[test]
    fn reply_windows_follow_the_published_limits() {
        assert_eq!(reply_window(&env(ChatKind::Group, None)), Duration::from_secs(300));
        assert_eq!(reply_window(&env(ChatKind::Private, None)), Duration::from_secs(3600));
        assert_eq!(reply_window(&env(ChatKind::Channel, Some("G"))), Duration::from_secs(300));
    }

    #[test]
    fn tokens_parse_with_string_or_number_lifetimes() {
        let t = parse_token(br#"{"access_token":"abc","expires_in":"7200"}"#).unwrap();
        assert_eq!((t.value.as_str(), t.expires_in), ("abc", Duration::from_secs(7200)));
        let t = parse_token(br#"{"access_token":"abc","expires_in":60}"#).unwrap();
        assert_eq!(t.expires_in, Duration::from_secs(60));
        assert_eq!(
            parse_token(br#"{"code":100016,"message":"invalid appid or secret"}"#),
            Err(TokenError::Refused(100_016))
        );
        assert!(matches!(parse_token(b"nope"), Err(TokenError::Malformed(_))));
        assert!(!format!("{t:?}").contains("abc"));
    }

    #[test]
    fn answers_are_classified_by_platform_code() {
        assert_eq!(
            classify(200, None, br#"{"id":"m1","timestamp":1}"#),
            SendResult::Sent { message_id: Some("m1".into()) }
        );
        assert_eq!(
            classify(200, None, br#"{"id":"ROBOT1.0_a","timestamp":"t","ext_info":{"ref_idx":"REFIDX_x=="}}"#),
            SendResult::Sent { message_id: Some("REFIDX_x==".into()) },
            "group and C2C quotes name the index"
        );
        assert_eq!(classify(400, None, br#"{"code":40054005,"message":"dup"}"#), SendResult::AlreadySent);
        assert_eq!(
            classify(401, None, br#"{"code":11244}"#),
            SendResult::Failed(SendFailure::TokenRejected { code: 11244 })
        );
        assert_eq!(
            classify(429, Some(Duration::from_secs(3)), br#"{"code":22009}"#),
            SendResult::Failed(SendFailure::RetryAfter { after: Duration::from_secs(3), code: 22009 })
        );
        assert_eq!(
            classify(400, None, br#"{"code":40034128}"#),
            SendResult::Failed(SendFailure::Expired { code: 40_034_128 })
        );
        assert!(matches!(classify(503, None, b""), SendResult::Failed(SendFailure::Transient { .. })));
        assert!(matches!(
            classify(202, None, br#"{"code":304023}"#),
            SendResult::Failed(SendFailure::Permanent { .. })
        ));
        assert!(matches!(
            classify(400, None, br#"{"code":40034024}"#),
            SendResult::Failed(SendFailure::Permanent { .. })
        ));
    }

    #[test]
    fn an_image_is_uploaded_first_in_group_and_c2c_chats_only() {
        let reply = Outgoing {
            segments: vec![
                crate::message::Segment::text("look"),
                crate::message::Segment::Image { url: Some("https://img/a.png".into()), id: None },
            ],
        };
        let g = media_upload("http://f/", "t", &env(ChatKind::Group, None), &reply).unwrap().unwrap();
        assert_eq!(g.url, "http://f/v2/groups/CHAT/files");
        assert_eq!(g.body, json!({"file_type": 1, "url": "https://img/a.png", "srv_send_msg": false}));
        assert_eq!(g.authorization.as_deref(), Some("QQBot t"));
        let c = media_upload("http://f", "t", &env(ChatKind::Private, None), &reply).unwrap().unwrap();
        assert!(c.url.ends_with("/v2/users/CHAT/files"), "{}", c.url);
        assert!(
            media_upload("http://f", "t", &env(ChatKind::Channel, Some("G")), &reply).is_none(),
            "guilds take the URL"
        );
        assert!(media_upload("http://f", "t", &env(ChatKind::Group, None), &Outgoing::text("no image")).is_none());
    }

    #[test]
    fn the_upload_answer_gives_the_file_info_or_the_failure() {
        let ok = br#"{"file_uuid":"u","file_info":"Desaf","ttl":3600}"#;
        assert_eq!(read_media(200, None, ok), Ok("Desaf".to_owned()));
        assert!(matches!(read_media(200, None, b"{}"), Err(SendFailure::Permanent { .. })));
        let refused = br#"{"code":850012,"message":"download failed"}"#;
        assert!(matches!(read_media(400, None, refused), Err(SendFailure::Permanent { code: 850_012, .. })));
        assert!(matches!(read_media(503, None, b""), Err(SendFailure::Transient { .. })));
        let expired = br#"{"code":11244,"message":"token not exist or expire"}"#;
        assert!(matches!(read_media(401, None, expired), Err(SendFailure::TokenRejected { .. })));
    }
}
