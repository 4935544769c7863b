//! The Encrypt Key's two jobs: the request signature and the body encryption.
//!
//! Lark signs `timestamp + nonce + encrypt_key + raw body` with plain SHA-256
//! (not HMAC), over the raw `{"encrypt":…}` envelope, never a re-serialisation
//! of it. The body is AES-256-CBC under `SHA-256(encrypt_key)` with the IV as
//! the first block. The SDKs unpad loosely (Python trusts the last byte, Go
//! slices from the first `{` to the last `}`); here PKCS#7 is checked strictly
//! and anything else is a malformed body.

use aes::Aes256;
use base64::Engine as _;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::platform::Reject;

/// A Lark app's Encrypt Key with its AES key derived once.
pub(super) struct EncryptKey {
    raw: SecretString,
    aes_key: SecretBox<[u8; 32]>,
}

/// The body Lark sends when encryption is on.
#[derive(Deserialize)]
struct Encrypted {
    encrypt: String,
}

impl EncryptKey {
    pub(super) fn new(raw: &SecretString) -> Self {
        let aes_key: [u8; 32] = Sha256::digest(raw.expose_secret().as_bytes()).into();
        Self { raw: raw.clone(), aes_key: SecretBox::new(Box::new(aes_key)) }
    }

    /// Whether `signature` (hex, either case) is Lark's signature of `body`
    /// sent with these timestamp and nonce headers. Constant time.
    pub(super) fn signature_matches(&self, timestamp: &str, nonce: &str, body: &[u8], signature: &str) -> bool {
        let mut claimed = [0u8; 32];
        if hex::decode_to_slice(signature, &mut claimed).is_err() {
            return false;
        }
        let expected = self.sign(timestamp, nonce, body);
        expected.as_slice().ct_eq(&claimed).into()
    }

    fn sign(&self, timestamp: &str, nonce: &str, body: &[u8]) -> [u8; 32] {
        Sha256::new()
            .chain_update(timestamp)
            .chain_update(nonce)
            .chain_update(self.raw.expose_secret())
            .chain_update(body)
            .finalize()
            .into()
    }

    /// Decrypts a raw `{"encrypt":"<base64>"}` body to the plaintext JSON.
    ///
    /// # Errors
    /// [`Reject::MalformedPayload`] when the body is not that envelope or
    /// does not decrypt under this key.
    pub(super) fn decrypt_body(&self, body: &[u8]) -> Result<Vec<u8>, Reject> {
        let envelope: Encrypted = serde_json::from_slice(body).map_err(|_| Reject::MalformedPayload)?;
        self.decrypt(&envelope.encrypt).ok_or(Reject::MalformedPayload)
    }

    fn decrypt(&self, encrypt: &str) -> Option<Vec<u8>> {
        let buf = base64::engine::general_purpose::STANDARD.decode(encrypt).ok()?;
        let (iv, ciphertext) = buf.split_at_checked(16)?;
        if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
            return None;
        }
        cbc::Decryptor::<Aes256>::new_from_slices(self.aes_key.expose_secret(), iv)
            .ok()?
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
            .ok()
    }
}

/// Encrypts `plaintext` the way Lark does, for building test bodies.
#[cfg(test)]
pub(super) fn encrypt_for_test(encrypt_key: &str, iv: [u8; 16], plaintext: &[u8]) -> String {
    use cbc::cipher::BlockEncryptMut;
    let key = Sha256::digest(encrypt_key.as_bytes());
    let ciphertext =
        cbc::Encryptor::<Aes256>::new_from_slices(&key, &iv).unwrap().encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    base64::engine::general_purpose::STANDARD.encode([iv.as_slice(), &ciphertext].concat())
}

/// Lark's signature header value for `body`, for building test requests.
#[cfg(test)]
pub(super) fn sign_for_test(encrypt_key: &str, timestamp: &str, nonce: &str, body: &[u8]) -> String {
    let key = EncryptKey::new(&SecretString::from(encrypt_key));
    hex::encode(key.sign(timestamp, nonce, body))
}

/// V-LARK-2 plaintext: the oapi-sdk-go `TestDecryptEvent` event.
#[cfg(test)]
pub(super) const V_LARK_2_PLAINTEXT: &str = r#"{"schema":"2.0","header":{"event_id":"f7984f25108f8137722bb63cee927e66","event_type":"contact.user.created_v3","app_id":"cli_xxxxxxxx","tenant_key":"xxxxxxx","create_time":"1603977298000000","token":"v"},"event":{"object":{"open_id":"ou_7dab8a3d3cdcc9da365777c7ad535d62","union_id":"on_576833b917gda3d939b9a3c2d53e72c8","user_id":"e33ggbyz","name":"张三","employee_no":"employee_no"}},"challenge":"1212","type":"url_verification"}"#;
/// V-LARK-2 ciphertext under the Encrypt Key `1212121212`.
#[cfg(test)]
pub(super) const V_LARK_2_ENCRYPT: &str = "bZ3L7yh6m3Fkuffl4g+3uGjIHnhOm5fVZbKVuyT8t7tcd5ABMYm8l28/X900ZL3knZ7n+sCREu/H2WnIzft0amC7+xWqNH8o25IU63N4BnZWfHh+4hyG76QPd19vkw2bPJCx9aqxK8Nz+xqFNbk0RdgyWhmgd30jSxHtcQXAllkI7FMpGpOCteJad3bLXPDBQIV/xkCtKICCS7Z63gakpxZCLaRZ3qCXP1fapHh+LBIupxenrU6ysc7I3nHmjmKie41IiWwS5puG4zQHhVbq6KWLcgWm/3NBZOPQy53ucMu75SXA55I7jarVLZXWUcqBGrcgE3vouWbtwgZuzmoTQl0GSh5VYSVvpW992BuGxUWj0XjPYdICJm6Cr7xouNXwMcdb7N8caVdkdSZeEnswG19qSyDoQhklwzNGW0yiaayulBqJNjfge/G5V3401c2XaIuAeEIo+QQ4RSNpRGfnHkbu/j55FGQAGWjpuBNaIwZbaUoVP3NkGP+vM5rpEDe3sL2GN+Xsd+g9yBs7FqdMV8mXTGgLjCqjrPrke5/km76Q3Pe6KPs2YexMRG4MkSx3xUTzZnNn7zIzShPcjeSwBd2pxk6ht5N+fzueZdxl6Oo=";

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> EncryptKey {
        EncryptKey::new(&SecretString::from(raw))
    }

    #[test]
    fn official_doc_vector_decrypts_to_hello_world() {
        let plain = key("test key").decrypt("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=");
        assert_eq!(plain.as_deref(), Some(b"hello world".as_slice()));
    }

    #[test]
    fn sdk_test_ciphertext_decrypts_to_the_exact_432_byte_event() {
        let plain = key("1212121212").decrypt(V_LARK_2_ENCRYPT).unwrap();
        assert_eq!(plain.len(), 432);
        assert_eq!(plain, V_LARK_2_PLAINTEXT.as_bytes());
    }

    #[test]
    fn signature_over_the_sdk_test_event_matches_the_derived_vector() {
        let sig = "4dca085198cb3216defc5b65b0668c1328b038a22dbadf2bc6c4fdc3d32bbc45";
        let k = key("1212121212");
        assert!(k.signature_matches("timestamp", "nonce", V_LARK_2_PLAINTEXT.as_bytes(), sig));
        let upper = sig.to_ascii_uppercase();
        assert!(k.signature_matches("timestamp", "nonce", V_LARK_2_PLAINTEXT.as_bytes(), &upper));
    }

    #[test]
    fn signature_over_an_encrypted_envelope_matches_the_derived_vector() {
        let body = br#"{"encrypt":"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="}"#;
        let sig = "bed8fdd3e4bbc581364c140b572ec676edff3db612d57bbc07a24d062c40ddf3";
        assert!(key("test key").signature_matches("1700000000", "n0nce", body, sig));
        assert_eq!(sign_for_test("test key", "1700000000", "n0nce", body), sig);
        assert!(!key("test key").signature_matches("1700000001", "n0nce", body, sig));
        assert!(!key("other key").signature_matches("1700000000", "n0nce", body, sig));
        assert!(!key("test key").signature_matches("1700000000", "n0nce", body, &sig[..62]));
        assert!(!key("test key").signature_matches("1700000000", "n0nce", body, "zz"));
    }

    #[test]
    fn the_wrong_key_does_not_decrypt() {
        assert_eq!(key("wrong key").decrypt("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="), None);
    }

    #[test]
    fn bad_padding_truncation_and_garbage_are_rejected() {
        let k = key("test key");
        // A final block of 0x00 padding: decrypts, but is not PKCS#7.
        let bad_pad = {
            use cbc::cipher::{BlockEncryptMut, block_padding::NoPadding};
            let aes = Sha256::digest(b"test key");
            let ct = cbc::Encryptor::<Aes256>::new_from_slices(&aes, &[7; 16])
                .unwrap()
                .encrypt_padded_vec_mut::<NoPadding>(&[0u8; 16]);
            base64::engine::general_purpose::STANDARD.encode([[7u8; 16].as_slice(), &ct].concat())
        };
        for bad in [
            bad_pad.as_str(),
            "",
            "not base64!",
            "AAAAAAAAAAAAAAAAAAAAAA==",                     // IV only
            "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzgg==", // 31 bytes
        ] {
            assert_eq!(k.decrypt(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_test_encryptor_round_trips() {
        let enc = encrypt_for_test("k", [3; 16], b"{\"a\":1}");
        assert_eq!(key("k").decrypt(&enc).unwrap(), b"{\"a\":1}");
    }

    #[test]
    fn decrypt_body_accepts_only_the_encrypt_envelope() {
        let body = format!(r#"{{"encrypt":"{V_LARK_2_ENCRYPT}"}}"#);
        assert_eq!(key("1212121212").decrypt_body(body.as_bytes()).unwrap().len(), 432);
        assert_eq!(key("1212121212").decrypt_body(b"{}"), Err(Reject::MalformedPayload));
    }
}
