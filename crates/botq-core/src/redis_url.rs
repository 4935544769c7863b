//! Redis URLs in messages: every credential form that redis-rs accepts, redacted.
//!
//! A URL may carry a password in its userinfo (`redis://user:pw@host`) or, for
//! a Unix socket, in its query (`unix:///run/redis.sock?user=u&pass=pw`, the
//! form redis-rs reads). Start lines, readiness reasons and botqctl's
//! "cannot reach Redis" message all print the URL, so they print
//! [`redact`]'s form: the scheme, host, path and harmless query pairs stay
//! (they are what an operator debugs with), every user name and password
//! becomes `***`. A URL that does not parse is not echoed at all.

/// Query keys that carry a credential. redis-rs reads `user` and `pass`;
/// `username` and `password` are redacted too, in case a client library or
/// a future version reads them.
const CREDENTIAL_KEYS: [&str; 4] = ["user", "pass", "username", "password"];

const MASK: &str = "***";

/// `redis://user:pw@host:6379/0` → `redis://***:***@host:6379/0`;
/// `unix:///s.sock?db=1&pass=pw` → `unix:///s.sock?db=1&pass=***`.
#[must_use]
pub fn redact(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "<a Redis URL that does not parse>".to_owned();
    };
    // Setting userinfo fails only for URLs that cannot have one (no host);
    // those have none to hide.
    if !url.username().is_empty() {
        let _ = url.set_username(MASK);
    }
    if url.password().is_some() {
        let _ = url.set_password(Some(MASK));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let hidden = CREDENTIAL_KEYS.iter().any(|c| k.eq_ignore_ascii_case(c));
                (k.into_owned(), if hidden { MASK.to_owned() } else { v.into_owned() })
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn userinfo_password_and_user_are_masked() {
        assert_eq!(redact("redis://:pw@10.0.0.1:6380/2"), "redis://:***@10.0.0.1:6380/2");
        assert_eq!(redact("redis://app:s3cr%40t@h:6379"), "redis://***:***@h:6379");
        assert_eq!(redact("rediss://app:pw@h/0#insecure"), "rediss://***:***@h/0#insecure");
        assert_eq!(redact("redis://app@h"), "redis://***@h");
    }

    #[test]
    fn a_password_with_an_at_sign_is_masked_whole() {
        let out = redact("redis://u:p@ss@h:1");
        assert!(!out.contains("ss@"), "{out}");
        assert!(out.ends_with("@h:1"), "{out}");
    }

    #[test]
    fn unix_socket_query_credentials_are_masked_and_the_rest_kept() {
        assert_eq!(
            redact("unix:///run/redis.sock?db=3&user=app&pass=hunter2&protocol=resp3"),
            "unix:///run/redis.sock?db=3&user=***&pass=***&protocol=resp3"
        );
        assert_eq!(redact("redis+unix:///s?PASSWORD=x&Username=y"), "redis+unix:///s?PASSWORD=***&Username=***");
        assert_eq!(redact("redis://h:6379/0?pass=x"), "redis://h:6379/0?pass=***");
    }

    #[test]
    fn urls_without_credentials_are_unchanged() {
        assert_eq!(redact("redis://127.0.0.1:6379/0"), "redis://127.0.0.1:6379/0");
        assert_eq!(redact("unix:///tmp/redis.sock"), "unix:///tmp/redis.sock");
    }

    #[test]
    fn an_unparseable_url_is_not_echoed() {
        let out = redact("redis://:hunter2@[bad");
        assert!(!out.contains("hunter2"), "{out}");
    }

    proptest::proptest! {
        #[test]
        fn no_password_survives(pw in "Zq[A-Za-z0-9!$'()+,._~-]{4,24}") {
            for url in [
                format!("redis://user:{pw}@h:6379/0"),
                format!("unix:///s.sock?db=0&pass={pw}"),
                format!("redis+unix:///s.sock?password={pw}&db=1"),
            ] {
                let out = redact(&url);
                proptest::prop_assert!(!out.contains("Zq"), "{url} → {out}");
            }
        }
    }
}
