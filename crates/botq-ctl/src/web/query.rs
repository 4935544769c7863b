//! Reading filters, ids and cursors from a query string or a form, each
//! with a clear 400 that names the field, so bad input never reaches Redis.

use std::time::Duration;

use super::error::WebError;

/// The fields of a query string or form, every value of every name, in order.
#[derive(Debug, Default, Clone)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    #[must_use]
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// Parses `a=1&b=2` (a missing query is no fields).
    #[must_use]
    pub fn parse(query: Option<&str>) -> Self {
        Self(url::form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect())
    }

    /// The first value of `name`, trimmed; an empty value counts as absent
    /// (what an empty filter box sends).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// Every non-empty value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }
}

/// A handler takes the query string's fields directly.
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Fields {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::parse(parts.uri.query()))
    }
}

/// A duration as typed in a filter: `90s`, `15m`, `2h`, `7d`.
///
/// # Errors
/// Anything else, naming `field`.
pub fn duration(field: &str, v: &str) -> Result<Duration, WebError> {
    let bad = || WebError::BadRequest(format!("{field}: {v:?} is not a duration like 90s, 15m, 2h or 7d"));
    let split = v.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = v.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        "d" => n.checked_mul(86_400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(secs))
}

/// A name from a fixed alphabet (bot ids, skill names, lanes): at most 64
/// of `[A-Za-z0-9_.-]`.
///
/// # Errors
/// Anything else, naming `field`.
pub fn name<'a>(field: &str, v: &'a str) -> Result<&'a str, WebError> {
    let ok = v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok { Ok(v) } else { Err(WebError::BadRequest(format!("{field}: {v:?} is not a name (letters, digits, _ . -)"))) }
}

/// A Redis stream id, `<ms>-<seq>`, each part a 64-bit number (Redis
/// refuses a larger one, and that is bad input, not a Redis failure).
///
/// # Errors
/// Anything else, naming `field`.
pub fn stream_id<'a>(field: &str, v: &'a str) -> Result<&'a str, WebError> {
    let ok = v.len() <= 41
        && v.split_once('-').is_some_and(|(ms, seq)| {
            [ms, seq].iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u64>().is_ok())
        });
    if ok { Ok(v) } else { Err(WebError::BadRequest(format!("{field}: {v:?} is not an id like 1700000000000-0"))) }
}

/// Builds `path?k=v&…` from `pairs`, leaving out empty values.
#[must_use]
pub fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        q.append_pair(k, v);
    }
    let q = q.finish();
    if q.is_empty() { path.to_owned() } else { format!("{path}?{q}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_one_unit() {
        assert_eq!(duration("age", "90s").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("age", "15m").unwrap(), Duration::from_secs(900));
        assert_eq!(duration("age", "2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(duration("age", "7d").unwrap(), Duration::from_secs(604_800));
        for bad in ["", "h", "10", "10x", "1h30m", "-1h", "99999999999999999999d"] {
            let e = duration("age", bad).unwrap_err().to_string();
            assert!(e.starts_with("age: "), "{bad}: {e}");
        }
    }

    #[test]
    fn names_and_ids_are_checked_before_use() {
        assert!(name("bot", "qq-main").is_ok());
        assert!(name("bot", "qq main").is_err());
        assert!(name("bot", "a*").is_err());
        assert!(stream_id("id", "1700000000000-0").is_ok());
        assert!(stream_id("id", "18446744073709551615-18446744073709551615").is_ok());
        for bad in ["17", "a-0", "1-", "1-0-0", "1-0 ", "+1-0", "18446744073709551616-0", "1-99999999999999999999"] {
            assert!(stream_id("id", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_fields_count_as_absent_and_links_drop_them() {
        let f = Fields::parse(Some("bot=&skill=agent&id=1-0&id=2-0"));
        assert_eq!(f.get("bot"), None);
        assert_eq!(f.get("skill"), Some("agent"));
        assert_eq!(f.all("id").collect::<Vec<_>>(), ["1-0", "2-0"]);
        assert_eq!(link("/audit", &[("bot", ""), ("skill", "a b")]), "/audit?skill=a+b");
        assert_eq!(link("/audit", &[]), "/audit");
    }
}
