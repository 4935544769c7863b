//! Which of the fake platform's deliveries answer which event of a run.
//!
//! A reply says nothing reliable about the event it answers on every
//! platform: QQ and Lark replies name the message they answer, OneBot
//! replies only the group. So an event whose reply is to be matched asks the
//! built-in `/echo` for a text naming the run and the event's index
//! (`/echo botq-fair <run> <index>`; the tag dates from the fairness
//! benchmark, the first user), and a delivery's text says which event it
//! answers, whatever the platform. `fairness` and `ingest --fake-url` /
//! `burst` match through [`Replies`], so "replied", "duplicate" and
//! "missing" mean the same in every report.
//!
//! A reply's latency is the delivery's `received_at_ms` (the fake's wall
//! clock, after its injected latency) minus the event's due time on the same
//! machine's wall clock: webhook to accepted reply, measured from when the
//! event was due, not when it happened to be sent. An event still unanswered
//! when the deliveries are read counts at its age then ([`Latency::Missing`]),
//! so a backlog cannot vanish from the percentiles: the figures become lower
//! bounds, and the reports say so.

use botq_core::config::BotConfig;
use botq_core::routing::GroupMode;
use serde::Deserialize;

/// First word of every reply the bench asks for.
pub const TAG: &str = "botq-fair";

/// The message text of event `index` of run `run`.
#[must_use]
pub fn message_text(run: u64, index: u64) -> String {
    format!("/echo {TAG} {run} {index}")
}

/// The event index a reply text answers, when it is one of run `run`'s.
#[must_use]
pub fn parse_reply(text: &str, run: u64) -> Option<usize> {
    let mut words = text.split_whitespace();
    if words.next()? != TAG || words.next()?.parse::<u64>().ok()? != run {
        return None;
    }
    let index = words.next()?.parse().ok()?;
    words.next().is_none().then_some(index)
}

/// The two fields of a [`botq_fakeplatform::Delivery`] the bench reads. Not
/// the fake's own type: a burst's log holds hundreds of thousands, and each
/// of those would carry five more strings the bench never looks at.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Delivery {
    pub text: String,
    pub received_at_ms: i64,
}

/// Reads the answer of `GET /_fake/deliveries`: a JSON array of deliveries.
///
/// # Errors
/// A body that is not such an array.
pub fn parse_deliveries(body: &str) -> Result<Vec<Delivery>, String> {
    // Typed, not a `Value` tree: a burst's list holds hundreds of thousands.
    serde_json::from_str(body).map_err(|e| format!("not a JSON array of deliveries: {e}"))
}

/// The deliveries that answer events `0..events` of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replies {
    /// Per event: the earliest reply, Unix ms.
    pub first_ms: Vec<Option<i64>>,
    /// Per event: replies received (more than one is a duplicate reply).
    pub count: Vec<u32>,
    /// Event indices in the order their first replies were recorded.
    pub order: Vec<usize>,
    /// Every matched delivery in recording order: (event index, Unix ms).
    pub matched: Vec<(usize, i64)>,
    /// Deliveries that answer no event of the run: other runs, the
    /// pre-flight `/ping`, an index outside the run.
    pub foreign: u64,
}

/// How long one event waited for its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Due → first reply, microseconds.
    Replied(u64),
    /// No reply yet: due → collection, microseconds (a lower bound).
    Missing(u64),
}

impl Latency {
    #[must_use]
    pub fn micros(self) -> u64 {
        match self {
            Self::Replied(us) | Self::Missing(us) => us,
        }
    }
}

impl Replies {
    /// Matches `deliveries` (in the fake's order) to run `run`'s `events` events.
    #[must_use]
    pub fn collect(run: u64, events: usize, deliveries: &[Delivery]) -> Self {
        let mut r = Self { first_ms: vec![None; events], count: vec![0; events], ..Self::default() };
        for d in deliveries {
            let Some(i) = parse_reply(&d.text, run).filter(|&i| i < events) else {
                r.foreign += 1;
                continue;
            };
            r.matched.push((i, d.received_at_ms));
            r.count[i] = r.count[i].saturating_add(1);
            match &mut r.first_ms[i] {
                Some(earlier) => *earlier = (*earlier).min(d.received_at_ms),
                slot @ None => {
                    *slot = Some(d.received_at_ms);
                    r.order.push(i);
                }
            }
        }
        r
    }

    /// Replies to event `i` beyond the first.
    #[must_use]
    pub fn extra(&self, i: usize) -> u64 {
        u64::from(self.count.get(i).copied().unwrap_or(0).saturating_sub(1))
    }

    /// Whether event `i` has a reply.
    #[must_use]
    pub fn replied(&self, i: usize) -> bool {
        self.first_ms.get(i).is_some_and(Option::is_some)
    }

    /// Event `i`'s wait, due at `due_us` (Unix µs), read at `collected_us`.
    #[must_use]
    pub fn latency(&self, i: usize, due_us: i64, collected_us: i64) -> Latency {
        let since_due = |end_us: i64| u64::try_from(end_us.saturating_sub(due_us)).unwrap_or(0).max(1);
        match self.first_ms.get(i).copied().flatten() {
            Some(ms) => Latency::Replied(since_due(ms.saturating_mul(1000))),
            None => Latency::Missing(since_due(collected_us)),
        }
    }
}

/// Settings of `bot` that would delay or swallow replies to a load of
/// `per_chat` events/s in the busiest chat and `total` events/s in all, so
/// reply figures would measure them instead of the queue.
#[must_use]
pub fn reply_warnings(bot: &BotConfig, per_chat: f64, total: f64) -> Vec<String> {
    let mut out = Vec::new();
    for (name, gcra, offered) in
        [("chat_per_sec", bot.reply_limit.chat, per_chat), ("bot_per_sec", bot.reply_limit.bot, total)]
    {
        if let Some(g) = gcra.filter(|g| g.per_sec < offered) {
            out.push(format!(
                "reply limit {name} = {} is below the {offered}/s of replies this run asks for: replies wait in \
                 the delayed set and the figures measure the throttle. Set reply_limit = {{ chat_per_sec = 0.0, \
                 bot_per_sec = 0.0 }} unless that is the point.",
                g.per_sec
            ));
        }
    }
    if let Some(cap) = bot.routing.guard.chat_replies_per_min.filter(|&c| f64::from(c) < per_chat * 60.0) {
        out.push(format!(
            "[bot.guard] chat_replies_per_min = {cap} is below {:.0} a minute: past it replies are not sent at all. \
             Set chat_replies_per_min = 0 for the run.",
            per_chat * 60.0
        ));
    }
    if bot.routing.group_mode == GroupMode::Mention {
        out.push("group_mode = \"mention\": group messages that only start with the prefix get no reply".into());
    }
    out
}

#[cfg(test)]
mod tests;
