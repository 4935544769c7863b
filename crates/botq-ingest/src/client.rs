//! Who is asking, and how often they may be refused.
//!
//! A public endpoint attracts floods of forged webhooks, and every forged QQ
//! webhook costs an Ed25519 check (~30–40 µs of CPU). So each client address
//! has a budget of refused requests (bad signature, unknown bot, malformed
//! body…), per bot it asked for: a GCRA of `burst` refusals refilled at
//! `per_sec`. Once it is spent, that client's requests for that bot are
//! answered 429 before anything is read or verified, until the budget
//! refills. Accepted webhooks never spend it, and a misconfigured bot (a
//! wrong secret) spends only its own budget, not that of the platform's
//! other bots behind the same egress address.
//!
//! The budget is per process, on purpose: it protects this replica's CPU,
//! and a Redis round trip per refusal would cost more than the check it
//! saves. It is a small GCRA kept here rather than a rate-limiter crate's
//! because the pre-check must not spend: only a refusal does.
//!
//! The client address is the TCP peer's, unless the peer is a configured
//! trusted proxy: then it is the address the proxy put in the configured
//! header (for `X-Forwarded-For`, the right-most address that is not itself
//! a trusted proxy). IPv6 clients are keyed by their /64, the block one
//! subscriber gets.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use botq_core::config::{ClientAddress, RejectionBudget};
use http::HeaderMap;

/// At most this many client addresses are tracked (each with its bots); past it, spent entries
/// are forgotten first, then new clients go untracked (never refused).
const MAX_TRACKED: usize = 65_536;

/// The address a request is from (see the module doc).
#[must_use]
pub fn client_ip(rule: &ClientAddress, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let peer = peer.ip().to_canonical();
    let Some(name) = rule.header.as_deref() else { return peer };
    if !rule.trusts(peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(parse_hop)
        .collect();
    // Right to left: each hop appends the address it received from; the
    // first one that is not our own proxy is the client.
    hops.iter().rev().copied().find(|ip| !rule.trusts(*ip)).or_else(|| hops.first().copied()).unwrap_or(peer)
}

/// One hop of a forwarding header: an address, maybe with a port or brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[').and_then(|h| h.strip_suffix(']')).and_then(|h| h.parse().ok()))
        .map(|ip| ip.to_canonical())
}

/// The budget's key for an address: itself, or its /64 for IPv6.
fn key_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
    }
}

/// Refusals per client address and bot (see the module doc).
#[derive(Debug)]
pub struct Rejections {
    interval: Duration,
    /// How far the theoretical arrival time may run ahead of now.
    tolerance: Duration,
    epoch: Instant,
    /// client key → bot → theoretical arrival time since `epoch` (nested, so
    /// the check on every webhook looks up without allocating a key).
    tat: Mutex<HashMap<IpAddr, HashMap<String, Duration>>>,
}

impl Rejections {
    #[must_use]
    pub fn new(budget: RejectionBudget) -> Self {
        let interval = Duration::from_secs_f64(1.0 / budget.per_sec).max(Duration::from_nanos(1));
        Self {
            interval,
            tolerance: interval.saturating_mul(budget.burst),
            epoch: Instant::now(),
            tat: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(wait)` when `ip` has spent its budget for `bot`: answer 429 and
    /// verify nothing; it may be refused again after `wait`.
    pub fn spent(&self, ip: IpAddr, bot: &str, now: Instant) -> Option<Duration> {
        let now = now.saturating_duration_since(self.epoch);
        let map = self.tat.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let tat = *map.get(&key_of(ip))?.get(bot)?;
        // One more refusal would put the TAT past the tolerance.
        let ahead = (tat + self.interval).saturating_sub(now);
        (ahead > self.tolerance).then(|| ahead - self.tolerance)
    }

    /// Spends one refusal of `ip`'s budget for `bot`.
    pub fn record(&self, ip: IpAddr, bot: &str, now: Instant) {
        let now = now.saturating_duration_since(self.epoch);
        let mut map = self.tat.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = key_of(ip);
        if !map.contains_key(&key) && map.len() >= MAX_TRACKED {
            // Entries whose TAT has passed have their whole budget back: forgetting them changes nothing.
            map.retain(|_, bots| {
                bots.retain(|_, tat| *tat > now);
                !bots.is_empty()
            });
            if map.len() >= MAX_TRACKED {
                return;
            }
        }
        let tat = map.entry(key).or_default().entry(bot.to_owned()).or_insert(now);
        *tat = (*tat).max(now) + self.interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(header: &str, proxies: &[&str]) -> ClientAddress {
        ClientAddress {
            header: Some(header.to_owned()),
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 40_000)
    }

    #[test]
    fn without_a_proxy_rule_the_peer_is_the_client_whatever_the_headers_say() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(
            client_ip(&ClientAddress::default(), peer("203.0.113.5"), &h),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(&ClientAddress::default(), peer("::ffff:203.0.113.5"), &h),
            "203.0.113.5".parse::<IpAddr>().unwrap(),
            "v4-mapped peers are their v4 address"
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_anyone_else_cannot() {
        let r = rule("x-forwarded-for", &["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "192.0.2.66, 198.51.100.7, 10.0.0.3")]);
        assert_eq!(
            client_ip(&r, peer("10.0.0.2"), &h),
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "right-most untrusted hop"
        );
        assert_eq!(
            client_ip(&r, peer("203.0.113.5"), &h),
            "203.0.113.5".parse::<IpAddr>().unwrap(),
            "header of a stranger ignored"
        );
        let h = headers(&[("x-forwarded-for", "garbage, [2001:db8::1]:443")]);
        assert_eq!(client_ip(&r, peer("10.0.0.2"), &h), "2001:db8::1".parse::<IpAddr>().unwrap());
        let h = headers(&[("x-forwarded-for", "10.0.0.9")]);
        assert_eq!(
            client_ip(&r, peer("10.0.0.2"), &h),
            "10.0.0.9".parse::<IpAddr>().unwrap(),
            "all hops trusted: the first"
        );
        assert_eq!(client_ip(&r, peer("10.0.0.2"), &HeaderMap::new()), "10.0.0.2".parse::<IpAddr>().unwrap());
        let real_ip = rule("x-real-ip", &["127.0.0.1/32"]);
        assert_eq!(
            client_ip(&real_ip, peer("127.0.0.1"), &headers(&[("x-real-ip", "198.51.100.9")])),
            "198.51.100.9".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn a_client_is_refused_burst_times_then_answered_429_until_the_budget_refills() {
        let r = Rejections::new(RejectionBudget { per_sec: 2.0, burst: 3 });
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(r.spent(ip, "qq", t0), None, "refusal {i} is within the burst");
            r.record(ip, "qq", t0);
        }
        let wait = r.spent(ip, "qq", t0).expect("the budget is spent");
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(500), "{wait:?}");
        assert_eq!(r.spent(ip, "lark", t0), None, "another bot's budget is its own");
        assert_eq!(r.spent("198.51.100.8".parse().unwrap(), "qq", t0), None, "another client's too");
        assert_eq!(r.spent(ip, "qq", t0 + Duration::from_millis(500)), None, "one refusal back after 1/per_sec");
    }

    #[test]
    fn ipv6_clients_share_the_budget_of_their_64() {
        let r = Rejections::new(RejectionBudget { per_sec: 1.0, burst: 1 });
        let t0 = Instant::now();
        r.record("2001:db8:1:2::1".parse().unwrap(), "qq", t0);
        assert!(r.spent("2001:db8:1:2:ffff::9".parse().unwrap(), "qq", t0).is_some());
        assert!(r.spent("2001:db8:1:3::1".parse().unwrap(), "qq", t0).is_none());
    }
}
