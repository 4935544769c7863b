//! QQ op 13, callback URL validation: sign `event_ts || plain_token`.
//!
//! That message has the same shape as an event signature (`timestamp ||
//! body`), so answering whatever arrives would make botq a signing oracle: a
//! "token" of `{"op":0,...}` would come back as a valid signature for a forged
//! event. The request's own signature is checked by the caller when present,
//! and here the token must be short and alphanumeric (a JSON body always
//! starts with `{`) and the timestamp all digits.

use ed25519_dalek::{Signer, SigningKey};
use serde::Deserialize;

use super::verify::signed_message;
use crate::platform::{HttpAnswer, Outcome, Reject};

/// The op-13 body; `op` was read by the caller.
#[derive(Deserialize)]
struct Validation {
    d: Option<ValidationData>,
}

#[derive(Deserialize)]
struct ValidationData {
    plain_token: Option<String>,
    event_ts: Option<EventTs>,
}

/// The current docs send a string; an older draft sent a number. A number is
/// signed as its JSON text, which `Number::to_string` reproduces exactly for
/// integers (anything else is refused by the digit check).
#[derive(Deserialize)]
#[serde(untagged)]
enum EventTs {
    Text(String),
    Number(serde_json::Number),
}

/// Answers a validation request with `{"plain_token","signature"}`.
pub(super) fn answer(key: &SigningKey, body: &[u8]) -> Result<Outcome, Reject> {
    let data = serde_json::from_slice::<Validation>(body).ok().and_then(|v| v.d).ok_or(Reject::InvalidHandshake)?;
    let token = data.plain_token.ok_or(Reject::InvalidHandshake)?;
    let event_ts = match data.event_ts.ok_or(Reject::InvalidHandshake)? {
        EventTs::Text(s) => s,
        EventTs::Number(n) => n.to_string(),
    };
    if !is_token(&token) || !is_event_ts(&event_ts) {
        return Err(Reject::InvalidHandshake);
    }
    let signature = key.sign(&signed_message(event_ts.as_bytes(), token.as_bytes()));
    // Both values are plain ASCII alphanumerics, so no JSON escaping is needed.
    let reply = format!(r#"{{"plain_token":"{token}","signature":"{}"}}"#, hex::encode(signature.to_bytes()));
    Ok(Outcome::Handshake(HttpAnswer::json(200, reply)))
}

fn is_token(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_event_ts(s: &str) -> bool {
    (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::platform::qq::derive_signing_key;

    const V_QQ_1_SIG: &str = "87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d0\
                              1bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706";

    fn key() -> SigningKey {
        derive_signing_key(&SecretString::from("DG5g3B4j9X2KOErG")).unwrap()
    }

    fn reply_body(outcome: Outcome) -> String {
        match outcome {
            Outcome::Handshake(HttpAnswer { status: 200, body: Some(body) }) => body,
            other => panic!("not a handshake answer: {other:?}"),
        }
    }

    #[test]
    fn v_qq_1_answer_carries_the_published_signature() {
        let k = key();
        assert_eq!(
            hex::encode(k.verifying_key().to_bytes()),
            "8b28ded5630f9051c205dd04c6ec56ad0b08b8812b2fe30ee9aece0ab41926f3"
        );
        let body = br#"{"d":{"plain_token":"Arq0D5A61EgUu4OxUvOp","event_ts":"1725442341"},"op":13}"#;
        let got = reply_body(answer(&k, body).unwrap());
        assert_eq!(got, format!(r#"{{"plain_token":"Arq0D5A61EgUu4OxUvOp","signature":"{V_QQ_1_SIG}"}}"#));
    }

    #[test]
    fn a_numeric_event_ts_is_signed_as_its_json_text() {
        let k = key();
        let body = br#"{"d":{"plain_token":"Arq0D5A61EgUu4OxUvOp","event_ts":1725442341},"op":13}"#;
        assert!(reply_body(answer(&k, body).unwrap()).contains(V_QQ_1_SIG));
    }

    #[test]
    fn tokens_and_timestamps_of_the_wrong_shape_are_refused() {
        let k = key();
        let long = "a".repeat(65);
        let bad = [
            r#"{"d":{"plain_token":"{\"op\":0,\"d\":{}}","event_ts":"1725442341"},"op":13}"#.to_owned(),
            r#"{"d":{"plain_token":"","event_ts":"1725442341"},"op":13}"#.to_owned(),
            r#"{"d":{"plain_token":"abc def","event_ts":"1725442341"},"op":13}"#.to_owned(),
            r#"{"d":{"plain_token":"tökén","event_ts":"1725442341"},"op":13}"#.to_owned(),
            format!(r#"{{"d":{{"plain_token":"{long}","event_ts":"1725442341"}},"op":13}}"#),
            r#"{"d":{"plain_token":"abc","event_ts":"17254x2341"},"op":13}"#.to_owned(),
            r#"{"d":{"plain_token":"abc","event_ts":""},"op":13}"#.to_owned(),
            r#"{"d":{"plain_token":"abc","event_ts":"123456789012345678901"},"op":13}"#.to_owned(),
            r#"{"d":{"plain_token":"abc","event_ts":-1},"op":13}"#.to_owned(),
            r#"{"d":{"plain_token":"abc","event_ts":1.5},"op":13}"#.to_owned(),
            r#"{"d":{"plain_token":"abc","event_ts":1e9},"op":13}"#.to_owned(),
            r#"{"d":{"plain_token":"abc","event_ts":true},"op":13}"#.to_owned(),
            r#"{"d":{"plain_token":"abc"},"op":13}"#.to_owned(),
            r#"{"d":{"event_ts":"1725442341"},"op":13}"#.to_owned(),
            r#"{"d":null,"op":13}"#.to_owned(),
            r#"{"op":13}"#.to_owned(),
        ];
        for body in bad {
            assert_eq!(answer(&k, body.as_bytes()), Err(Reject::InvalidHandshake), "{body}");
        }
    }

    #[test]
    fn the_longest_token_and_timestamp_are_accepted() {
        let body =
            format!(r#"{{"d":{{"plain_token":"{}","event_ts":"{}"}},"op":13}}"#, "Z9".repeat(32), "9".repeat(20));
        assert!(answer(&key(), body.as_bytes()).is_ok());
    }
}
