//! The `[ingest.listener]` table: the bounds of the public webhook listener.
//!
//! A webhook endpoint is reachable from the internet, so nothing a client
//! does may hold a connection, a descriptor or CPU for long: a request's
//! head and body must arrive in time, idle keep-alive connections are
//! closed, the number of open connections is capped below the descriptor
//! limit, and each client address may be refused only so often before its
//! requests are answered 429 without being verified at all.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use super::Problems;

/// The public listener's limits (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerConfig {
    /// A request's line and headers must arrive within this, counted from
    /// the connection's opening or from the first byte after an idle spell.
    pub header_timeout: Duration,
    /// A request's body must arrive within this once its headers have.
    pub body_timeout: Duration,
    /// A keep-alive connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    /// Open connections at most; more are closed as soon as they are accepted.
    /// Lowered at start to fit under the process's descriptor limit.
    pub max_connections: usize,
    /// Where the client address comes from (the rejection budget's key).
    pub client_address: ClientAddress,
    /// Refused requests a client address may make; `None`: no budget.
    pub rejections: Option<RejectionBudget>,
}

/// The client address is the TCP peer's, or, for requests from a trusted
/// proxy, the one the proxy names in `header`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientAddress {
    /// Lower-case header name, e.g. `x-forwarded-for` or `x-real-ip`.
    pub header: Option<String>,
    /// Peers whose `header` is believed; the header of anyone else is ignored.
    pub trusted_proxies: Vec<IpNet>,
}

impl ClientAddress {
    /// Whether `peer` is a proxy whose header is believed.
    #[must_use]
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }
}

/// GCRA over refused requests: `burst` at once, refilled at `per_sec`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RejectionBudget {
    pub per_sec: f64,
    pub burst: u32,
}

/// `[ingest.listener]` as written.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawListener {
    header_timeout_ms: u64,
    body_timeout_ms: u64,
    idle_timeout_secs: u64,
    max_connections: usize,
    client_ip_header: String,
    trusted_proxies: Vec<String>,
    rejections_per_sec: f64,
    rejections_burst: u32,
}

impl Default for RawListener {
    fn default() -> Self {
        Self {
            header_timeout_ms: 10_000,
            body_timeout_ms: 10_000,
            idle_timeout_secs: 75,
            max_connections: 4096,
            client_ip_header: String::new(),
            trusted_proxies: Vec::new(),
            rejections_per_sec: 1.0,
            rejections_burst: 30,
        }
    }
}

/// Checks `[ingest.listener]`, reporting problems at their key paths.
pub(super) fn check(raw: &RawListener, problems: &mut Problems) -> ListenerConfig {
    const PATH: &str = "ingest.listener";
    for (key, value) in [
        ("header_timeout_ms", raw.header_timeout_ms),
        ("body_timeout_ms", raw.body_timeout_ms),
        ("idle_timeout_secs", raw.idle_timeout_secs),
    ] {
        if value == 0 {
            problems.push(format!("{PATH}.{key}"), "must be ≥ 1: a public listener needs every timeout".into());
        }
    }
    if raw.max_connections < 16 {
        problems.push(format!("{PATH}.max_connections"), "must be ≥ 16".into());
    }
    let header = raw.client_ip_header.trim().to_ascii_lowercase();
    if !header.is_empty() && http::HeaderName::from_bytes(header.as_bytes()).is_err() {
        problems.push(format!("{PATH}.client_ip_header"), format!("{header:?} is not a header name"));
    }
    let mut trusted_proxies = Vec::with_capacity(raw.trusted_proxies.len());
    for (i, text) in raw.trusted_proxies.iter().enumerate() {
        // A bare address is a network of one.
        match text.parse::<IpNet>().or_else(|_| text.parse::<IpAddr>().map(IpNet::from)) {
            Ok(net) => trusted_proxies.push(net),
            Err(_) => problems.push(
                format!("{PATH}.trusted_proxies[{i}]"),
                format!("{text:?} is not an address or a network like 10.0.0.0/8"),
            ),
        }
    }
    if header.is_empty() != trusted_proxies.is_empty() && raw.trusted_proxies.len() == trusted_proxies.len() {
        let (key, why) = if header.is_empty() {
            ("client_ip_header", "is needed with trusted_proxies: which header do they set?")
        } else {
            ("trusted_proxies", "is needed with client_ip_header: a header believed from anyone is forged by anyone")
        };
        problems.push(format!("{PATH}.{key}"), why.into());
    }
    let rate = raw.rejections_per_sec;
    if !(rate.is_finite() && rate >= 0.0) {
        problems.push(format!("{PATH}.rejections_per_sec"), "must be a number ≥ 0 (0 turns the budget off)".into());
    } else if rate > 0.0 && raw.rejections_burst == 0 {
        problems.push(format!("{PATH}.rejections_burst"), "must be ≥ 1 when the budget is on".into());
    }
    let ms = Duration::from_millis;
    ListenerConfig {
        header_timeout: ms(raw.header_timeout_ms),
        body_timeout: ms(raw.body_timeout_ms),
        idle_timeout: Duration::from_secs(raw.idle_timeout_secs),
        max_connections: raw.max_connections,
        client_address: ClientAddress { header: (!header.is_empty()).then_some(header), trusted_proxies },
        rejections: (rate.is_finite() && rate > 0.0)
            .then_some(RejectionBudget { per_sec: rate, burst: raw.rejections_burst.max(1) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(toml_text: &str) -> Result<ListenerConfig, Vec<String>> {
        let raw: RawListener = toml::from_str(toml_text).map_err(|e| vec![e.to_string()])?;
        let mut problems = Problems::default();
        let cfg = check(&raw, &mut problems);
        if problems.0.is_empty() { Ok(cfg) } else { Err(problems.0.into_iter().map(|p| p.path).collect()) }
    }

    #[test]
    fn defaults_bound_every_phase_of_a_connection() {
        let c = checked("").unwrap();
        assert_eq!(c.header_timeout, Duration::from_secs(10));
        assert_eq!(c.body_timeout, Duration::from_secs(10));
        assert_eq!(c.idle_timeout, Duration::from_secs(75));
        assert_eq!(c.max_connections, 4096);
        assert_eq!(c.client_address, ClientAddress::default());
        assert_eq!(c.rejections, Some(RejectionBudget { per_sec: 1.0, burst: 30 }));
    }

    #[test]
    fn a_proxy_header_is_believed_only_from_listed_proxies() {
        let c = checked("client_ip_header = \"X-Forwarded-For\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]").unwrap();
        assert_eq!(c.client_address.header.as_deref(), Some("x-forwarded-for"));
        assert!(c.client_address.trusts("10.1.2.3".parse().unwrap()));
        assert!(c.client_address.trusts("::1".parse().unwrap()));
        assert!(!c.client_address.trusts("192.0.2.1".parse().unwrap()));
        assert_eq!(checked("client_ip_header = \"x-real-ip\"").unwrap_err(), ["ingest.listener.trusted_proxies"]);
        assert_eq!(checked("trusted_proxies = [\"10.0.0.1\"]").unwrap_err(), ["ingest.listener.client_ip_header"]);
        assert_eq!(
            checked("client_ip_header = \"x\"\ntrusted_proxies = [\"10.0.0.0/33\"]").unwrap_err(),
            ["ingest.listener.trusted_proxies[0]"]
        );
    }

    #[test]
    fn zero_timeouts_and_bad_budgets_are_refused_at_their_key_paths() {
        assert_eq!(
            checked("header_timeout_ms = 0\nidle_timeout_secs = 0\nmax_connections = 1").unwrap_err(),
            [
                "ingest.listener.header_timeout_ms",
                "ingest.listener.idle_timeout_secs",
                "ingest.listener.max_connections"
            ]
        );
        assert_eq!(checked("rejections_per_sec = -1.0").unwrap_err(), ["ingest.listener.rejections_per_sec"]);
        assert_eq!(checked("rejections_burst = 0").unwrap_err(), ["ingest.listener.rejections_burst"]);
        assert_eq!(checked("rejections_per_sec = 0.0").unwrap().rejections, None);
        assert_eq!(
            checked("client_ip_header = \"bad header\"\ntrusted_proxies = [\"10.0.0.1\"]").unwrap_err(),
            ["ingest.listener.client_ip_header"]
        );
    }
}
