//! Legacy message-card callbacks (told apart by `Payload::is_legacy_card`): the POST Lark makes to a card's request
//! URL when a user presses a button of an old-style (`action`) card.
//!
//! They are not events: no `schema`, no `type`, the ids at the top level
//! (`open_id`, `open_message_id`, `open_chat_id`, `action`), and the `token`
//! they carry is the card-update token, not the verification token. Lark
//! authenticates them with `X-Lark-Signature` = hex SHA-1 of
//! `timestamp + nonce + verification_token + body` (oapi-sdk-go,
//! `card/card.go`, `Signature`), under the same timestamp and nonce headers
//! as events.
//!
//! botq routes no card actions to skills: a verified callback is
//! acknowledged and dropped (`card_action`), so the card does not show an
//! error and Lark does not retry; an unverified one is refused like any
//! forged webhook.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::platform::{IgnoredKind, Outcome, Reject};

/// The signature Lark puts on a card callback.
#[must_use]
pub fn signature(timestamp: &str, nonce: &str, verification_token: &str, body: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(timestamp.as_bytes());
    h.update(nonce.as_bytes());
    h.update(verification_token.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

/// Checks a callback's signature against the current token and, during a
/// rotation, the previous one, both in constant time. `Ok((_, true))`: it
/// was signed with the previous token.
///
/// # Errors
/// [`Reject::InvalidSignature`] when neither token makes the signature.
pub(super) fn verify(
    current: &str,
    previous: Option<&str>,
    timestamp: &str,
    nonce: &str,
    signature_header: &str,
    body: &[u8],
) -> Result<(Outcome, bool), Reject> {
    let claimed = signature_header.trim().to_ascii_lowercase();
    let made_with = |token: &str| signature(timestamp, nonce, token, body).as_bytes().ct_eq(claimed.as_bytes());
    let by_current = bool::from(made_with(current));
    let by_previous = previous.is_some_and(|p| bool::from(made_with(p)));
    let ignored = Outcome::Ignored { kind: IgnoredKind::CardAction };
    match (by_current, by_previous) {
        (true, _) => Ok((ignored, false)),
        (false, true) => Ok((ignored, true)),
        (false, false) => Err(Reject::InvalidSignature),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::lark::parse::Payload;

    const CORPUS: &str = include_str!("../../../../../tests/corpus/lark/16-card-legacy-callback.json");

    #[test]
    fn the_published_callback_is_recognised_and_events_are_not() {
        let is_card = |body: &[u8]| Payload::from_json(body).is_ok_and(|p| p.is_legacy_card());
        assert!(is_card(CORPUS.trim().as_bytes()));
        assert!(!is_card(br#"{"schema":"2.0","header":{},"event":{}}"#));
        assert!(!is_card(br#"{"type":"url_verification","challenge":"c","token":"t"}"#));
        assert!(!is_card(br#"{"encrypt":"x"}"#));
        assert!(!is_card(b"not json"));
    }

    #[test]
    fn only_a_signature_made_with_the_verification_token_verifies() {
        let body = CORPUS.trim().as_bytes();
        let good = signature("1700000000", "n1", "v-token", body);
        assert_eq!(good.len(), 40);
        let ignored = Outcome::Ignored { kind: IgnoredKind::CardAction };
        assert_eq!(verify("v-token", None, "1700000000", "n1", &good, body), Ok((ignored.clone(), false)));
        assert_eq!(
            verify("new-token", Some("v-token"), "1700000000", "n1", &good.to_uppercase(), body),
            Ok((ignored, true)),
            "signed with the previous token during a rotation, hex in either case"
        );
        assert_eq!(verify("v-token", None, "1700000001", "n1", &good, body), Err(Reject::InvalidSignature));
        let card_token = "c-bb72b8787895b65b7fd5ec2ce18aff2bf8cad2af";
        let forged = signature("1700000000", "n1", card_token, body);
        assert_eq!(
            verify("v-token", None, "1700000000", "n1", &forged, body),
            Err(Reject::InvalidSignature),
            "the body's own token proves nothing"
        );
    }
}
