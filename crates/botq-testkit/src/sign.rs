//! Webhooks signed exactly as the platforms sign them.
//!
//! Used by tests (to send valid, tampered and forged requests) and by
//! `botq-bench` (to generate load that passes verification). The formulas
//! are the platforms' own (QQ bot docs "签名校验", Lark "事件订阅 - 加密与
//! 签名", OneBot v11 `communication/http-post.md`); the adapters' unit tests
//! pin them to the published vectors.

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// One webhook request: headers and raw body.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// QQ's Ed25519 key: the secret repeated to 32 bytes is the seed.
#[must_use]
pub fn qq_key(secret: &str) -> SigningKey {
    let bytes = secret.as_bytes();
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = bytes[i % bytes.len()];
    }
    SigningKey::from_bytes(&seed)
}

/// A QQ webhook: `X-Signature-Ed25519` over timestamp ‖ body.
#[must_use]
pub fn qq(app_id: &str, secret: &str, timestamp: i64, body: &[u8]) -> Webhook {
    let mut msg = timestamp.to_string().into_bytes();
    msg.extend_from_slice(body);
    let sig = qq_key(secret).sign(&msg);
    Webhook {
        headers: vec![
            ("X-Bot-Appid".into(), app_id.into()),
            ("X-Signature-Ed25519".into(), hex::encode(sig.to_bytes())),
            ("X-Signature-Timestamp".into(), timestamp.to_string()),
            ("Content-Type".into(), "application/json".into()),
            ("User-Agent".into(), "QQBot-Callback".into()),
        ],
        body: body.to_vec(),
    }
}

/// A QQ `GROUP_AT_MESSAGE_CREATE` dispatch body, sent now.
#[must_use]
pub fn qq_group_at_body(event_id: &str, msg_id: &str, group: &str, member: &str, content: &str) -> Vec<u8> {
    let ts = rfc3339_utc(botq_core::now_ms() / 1000);
    serde_json::json!({
        "op": 0,
        "id": format!("GROUP_AT_MESSAGE_CREATE:{event_id}"),
        "d": {
            "id": msg_id, "content": content, "timestamp": ts,
            "author": {"id": member, "member_openid": member, "union_openid": member},
            "group_id": group, "group_openid": group,
            "message_scene": {"source": "default"}, "message_type": 0
        },
        "t": "GROUP_AT_MESSAGE_CREATE"
    })
    .to_string()
    .into_bytes()
}

/// `secs` since the Unix epoch as RFC 3339 in UTC (`2026-11-21T13:00:00Z`),
/// the way QQ stamps messages.
#[must_use]
pub fn rfc3339_utc(secs: i64) -> String {
    botq_core::rfc3339::format_unix_secs(secs)
}

/// Lark's body encryption: AES-256-CBC with key SHA-256(encrypt_key), IV prepended, base64.
#[must_use]
pub fn lark_encrypt(encrypt_key: &str, plaintext: &[u8], iv: [u8; 16]) -> String {
    let key: [u8; 32] = Sha256::digest(encrypt_key.as_bytes()).into();
    let ct = cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    let mut buf = iv.to_vec();
    buf.extend_from_slice(&ct);
    base64::engine::general_purpose::STANDARD.encode(buf)
}

/// `X-Lark-Signature`: hex SHA-256(timestamp ‖ nonce ‖ encrypt_key ‖ body).
#[must_use]
pub fn lark_signature(timestamp: &str, nonce: &str, encrypt_key: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(timestamp.as_bytes());
    h.update(nonce.as_bytes());
    h.update(encrypt_key.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

/// A Lark legacy message-card callback: `plaintext` signed with
/// `X-Lark-Signature` = hex SHA-1(timestamp ‖ nonce ‖ verification token ‖ body).
#[must_use]
pub fn lark_card(verification_token: &str, timestamp: i64, plaintext: &[u8]) -> Webhook {
    let (ts, nonce) = (timestamp.to_string(), "card-nonce");
    let mut h = sha1::Sha1::new();
    for part in [ts.as_bytes(), nonce.as_bytes(), verification_token.as_bytes(), plaintext] {
        h.update(part);
    }
    let headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("X-Lark-Request-Timestamp".to_owned(), ts),
        ("X-Lark-Request-Nonce".to_owned(), nonce.to_owned()),
        ("X-Lark-Signature".to_owned(), hex::encode(h.finalize())),
    ];
    Webhook { headers, body: plaintext.to_vec() }
}

/// A Lark webhook: plain when `encrypt_key` is `None`, else encrypted and signed.
#[must_use]
pub fn lark(encrypt_key: Option<&str>, timestamp: i64, plaintext: &[u8]) -> Webhook {
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let body = match encrypt_key {
        None => plaintext.to_vec(),
        Some(key) => {
            let iv: [u8; 16] = rand::random();
            let body = format!(r#"{{"encrypt":"{}"}}"#, lark_encrypt(key, plaintext, iv)).into_bytes();
            let ts = timestamp.to_string();
            let nonce = format!("{}", rand::random::<u32>());
            let sig = lark_signature(&ts, &nonce, key, &body);
            headers.push(("X-Lark-Request-Timestamp".into(), ts));
            headers.push(("X-Lark-Request-Nonce".into(), nonce));
            headers.push(("X-Lark-Signature".into(), sig));
            body
        }
    };
    Webhook { headers, body }
}

/// A Lark schema-2.0 `im.message.receive_v1` body with a text message.
#[must_use]
pub fn lark_message_body(
    token: &str,
    event_id: &str,
    message_id: &str,
    chat_id: &str,
    chat_type: &str,
    sender: &str,
    text: &str,
) -> Vec<u8> {
    // The content is a JSON document inside a JSON string: encoded twice.
    let content = serde_json::Value::from(serde_json::json!({ "text": text }).to_string()).to_string();
    format!(
        r#"{{"schema":"2.0","header":{{"event_id":"{event_id}","event_type":"im.message.receive_v1","create_time":"1763700000000","token":"{token}","app_id":"cli_a0000000000000","tenant_key":"t"}},"event":{{"sender":{{"sender_id":{{"open_id":"{sender}","union_id":"on_x","user_id":"u"}},"sender_type":"user","tenant_key":"t"}},"message":{{"message_id":"{message_id}","create_time":"1763700000000","chat_id":"{chat_id}","chat_type":"{chat_type}","message_type":"text","content":{content},"mentions":[]}}}}}}"#
    )
    .into_bytes()
}

/// `X-Signature` of OneBot v11: `sha1=` + hex HMAC-SHA1(secret, body).
#[must_use]
pub fn onebot_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A OneBot v11 HTTP POST report, signed when `secret` is given.
#[must_use]
pub fn onebot(self_id: &str, secret: Option<&str>, body: &[u8]) -> Webhook {
    let mut headers =
        vec![("Content-Type".to_owned(), "application/json".to_owned()), ("X-Self-ID".to_owned(), self_id.to_owned())];
    if let Some(s) = secret {
        headers.push(("X-Signature".into(), onebot_signature(s, body)));
    }
    Webhook { headers, body: body.to_vec() }
}

/// A OneBot v11 group message report.
#[must_use]
pub fn onebot_group_body(
    self_id: &str,
    message_id: i64,
    group_id: i64,
    user_id: i64,
    text: &str,
    time: i64,
) -> Vec<u8> {
    let text = serde_json::Value::from(text).to_string();
    format!(
        r#"{{"time":{time},"self_id":{self_id},"post_type":"message","message_type":"group","sub_type":"normal","message_id":{message_id},"group_id":{group_id},"user_id":{user_id},"anonymous":null,"message":{text},"raw_message":{text},"font":0,"sender":{{"user_id":{user_id},"nickname":"n","card":"","role":"member"}}}}"#
    )
    .into_bytes()
}
