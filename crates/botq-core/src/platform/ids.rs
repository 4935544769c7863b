//! The ids of a verified event, checked against each platform's alphabet.
//!
//! A signature proves who sent a payload, not that its ids are sane: a chat
//! id becomes a path segment of the reply URL (`/v2/groups/{group_openid}/messages`),
//! and one like `../users/VICTIM` would turn a group reply into a private
//! message once the path is normalised. So ingest refuses an event whose
//! ids are outside the platform's alphabet (400 `invalid_id`), and the reply
//! builders percent-encode every segment anyway ([`crate::reply::segment`]):
//! either alone would do; both together mean a mistake in one is not a hole.
//!
//! The alphabets are the widest the platforms have been seen to use, with
//! margin. Ids that go into a URL path (chats, users, guilds, Lark message
//! ids) never include `/`, `%`, `?`, `#`, whitespace or a lone `.`:
//! - QQ (official docs and SDK fixtures): openids are 32 upper-case hex
//!   (one SDK fixture has 9 digits), guild and channel ids decimal; message
//!   ids are `ROBOT1.0_` plus letters, digits, `.`, `-`, `!` (real ones
//!   contain `..`), guild message ids hex; event ids `EVENT_TYPE:` plus
//!   letters, digits and `-` (a UUID).
//! - Lark (open platform docs, oapi-sdk-go fixtures): `oc_`, `ou_`, `om_`,
//!   `on_` plus letters and digits; event ids and `uuid` hex.
//! - OneBot v11 (spec: int64 ids, int32 `message_id`; go-cqhttp and LLOneBot
//!   send negative message ids): chats and users decimal; a message id
//!   decimal with a sign, or base64 (lc-cn/onebots sent those, and go-cqhttp's
//!   guild messages are base64). A OneBot message id never goes into a URL:
//!   the reply names it in the JSON body.

use crate::envelope::{Envelope, Platform};
use crate::platform::Reject;

/// What one id may be made of.
#[derive(Debug, Clone, Copy)]
struct Alphabet {
    max_len: usize,
    /// ASCII letters are allowed (digits always are).
    letters: bool,
    /// Bytes allowed besides letters and digits.
    extra: &'static [u8],
}

impl Alphabet {
    fn admits(self, id: &str) -> bool {
        !id.is_empty()
            && id.len() <= self.max_len
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (self.letters && b.is_ascii_alphabetic()) || self.extra.contains(&b))
            && !id.bytes().all(|b| b == b'.')
    }
}

/// A chat, user, guild or channel id: what goes into a URL path.
const QQ_PATH_ID: Alphabet = Alphabet { max_len: 64, letters: true, extra: b"_-" };
/// Also an answerable event's `event_id` (`GROUP_ADD_ROBOT:<uuid>`, `qq/notice.rs`).
const QQ_MESSAGE_ID: Alphabet = Alphabet { max_len: 256, letters: true, extra: b"._!-:" };
const QQ_EVENT_ID: Alphabet = Alphabet { max_len: 128, letters: true, extra: b"_:-" };
const LARK_ID: Alphabet = Alphabet { max_len: 128, letters: true, extra: b"_-" };
const ONEBOT_NUMBER: Alphabet = Alphabet { max_len: 20, letters: false, extra: b"" };
/// `self_id:message_id:time`.
const ONEBOT_EVENT_ID: Alphabet = Alphabet { max_len: 128, letters: true, extra: b":-+/=" };
/// Signed decimal or base64; in the body of a reply only, never in a URL.
const ONEBOT_MESSAGE_ID: Alphabet = Alphabet { max_len: 64, letters: true, extra: b"-+/=" };

/// Refuses an event whose ids are outside its platform's alphabet.
///
/// # Errors
/// [`Reject::InvalidId`].
pub(crate) fn check(env: &Envelope) -> Result<(), Reject> {
    let (path_id, message_id, event_id) = match env.platform {
        Platform::Qq => (QQ_PATH_ID, QQ_MESSAGE_ID, QQ_EVENT_ID),
        Platform::Lark => (LARK_ID, LARK_ID, LARK_ID),
        Platform::Onebot => (ONEBOT_NUMBER, ONEBOT_MESSAGE_ID, ONEBOT_EVENT_ID),
    };
    let ok = path_id.admits(&env.chat_id)
        && path_id.admits(&env.sender_id)
        && env.guild_id.as_deref().is_none_or(|g| path_id.admits(g))
        && message_id.admits(&env.message_id)
        && event_id.admits(&env.event_id);
    if ok { Ok(()) } else { Err(Reject::InvalidId) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{ChatKind, test_envelope};

    fn with(platform: Platform, f: impl FnOnce(&mut Envelope)) -> Result<(), Reject> {
        let mut e = test_envelope(platform, ChatKind::Group);
        match platform {
            Platform::Qq => {
                e.chat_id = "C9F778FE6ADF9D1D1DBE395BF744A33A".into();
                e.sender_id = "E4F4AEA33253A2797FB897C50B81D7ED".into();
                e.message_id =
                    "ROBOT1.0_YVzTU7YSOT5lDwl..a9qHIE9dmbeOnIa8htmw65.plUjarnep2VtBmgwh4JWmBlBWJVB8Ei-356O9DOFQyISCg!!"
                        .into();
                e.event_id =
                    "GROUP_AT_MESSAGE_CREATE:dplmss1ni5jdxvhqmsablrwi16gnqpxgg9ecoamsg9xqkgxwpynhysl6q6ws849".into();
            }
            Platform::Lark => {
                e.chat_id = "oc_a0553eda9014c201e6969b478895c230".into();
                e.sender_id = "ou_7dab8a3d3cdcc9da365777c7ad535d62".into();
                e.message_id = "om_x100b50b3242598a0c39cb0feb59d799".into();
                e.event_id = "f7984f25108f8137722bb63cee927e66".into();
            }
            Platform::Onebot => {
                e.chat_id = "5550001".into();
                e.sender_id = "123456".into();
                e.message_id = "-518394285".into();
                e.event_id = "10001000:-518394285:1515204254".into();
            }
        }
        f(&mut e);
        check(&e)
    }

    #[test]
    fn real_ids_of_every_platform_pass() {
        for p in [Platform::Qq, Platform::Lark, Platform::Onebot] {
            assert_eq!(with(p, |_| {}), Ok(()), "{p:?}");
        }
        // QQ: a digit openid (SDK fixture), a guild DM's guild id, a UUID event id, a hex guild message id.
        assert_eq!(with(Platform::Qq, |e| e.chat_id = "675860273".into()), Ok(()));
        assert_eq!(with(Platform::Qq, |e| e.guild_id = Some("3326534247441079828".into())), Ok(()));
        assert_eq!(
            with(Platform::Qq, |e| e.event_id = "GROUP_ADD_ROBOT:56d7a1f4-a7f7-4e96-9ca4-fa5ba6697ddf".into()),
            Ok(())
        );
        assert_eq!(with(Platform::Qq, |e| e.message_id = "10c7fac2c28dcac27a1a1231343431".into()), Ok(()));
    }

    #[test]
    fn ids_that_could_move_a_reply_elsewhere_are_refused() {
        for bad in ["../users/VICTIM", "a/b", "..", ".", "x%2F", "a?b", "a#b", "a b", "", "a\u{0}", "ü"] {
            for p in [Platform::Qq, Platform::Lark, Platform::Onebot] {
                assert_eq!(with(p, |e| e.chat_id = bad.into()), Err(Reject::InvalidId), "{p:?} chat {bad:?}");
                assert_eq!(with(p, |e| e.sender_id = bad.into()), Err(Reject::InvalidId), "{p:?} sender {bad:?}");
                // A OneBot message id may be base64 (`/` included): it only ever goes in a JSON body.
                if !(p == Platform::Onebot && bad == "a/b") {
                    assert_eq!(with(p, |e| e.message_id = bad.into()), Err(Reject::InvalidId), "{p:?} message {bad:?}");
                }
            }
        }
        assert_eq!(with(Platform::Qq, |e| e.guild_id = Some("1/../2".into())), Err(Reject::InvalidId));
        assert_eq!(
            with(Platform::Onebot, |e| e.chat_id = "12a".into()),
            Err(Reject::InvalidId),
            "OneBot ids are numbers"
        );
        assert_eq!(with(Platform::Qq, |e| e.chat_id = "A".repeat(65)), Err(Reject::InvalidId), "too long");
    }
}
