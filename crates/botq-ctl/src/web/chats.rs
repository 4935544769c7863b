//! The noisiest chats now:
//!
//! - **backlogged**: chats over their fair share of the stream, with their
//!   events waiting in their own backlog (from each queue's `backlogged` set);
//! - **storm guard**: replies sent to a chat this minute, against the bot's
//!   `chat_replies_per_min` (tripped: the bot is quiet there until the next
//!   minute);
//! - **cooldown**: a skill that failed in a chat answers degraded there until
//!   the cooldown expires.
//!
//! Storm counters and cooldowns are plain keys with a TTL that no index
//! lists, so they are found with a bounded key scan
//! ([`Redis::scan_match`]: of the server, or of every master of a cluster),
//! then read one pipeline per queue, since on Redis Cluster a pipeline stays
//! in one slot.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::State;
use botq_core::config::Config;
use botq_core::ids::BotId;
use botq_core::redis_conn::Redis;
use maud::{Markup, html};
use redis::cluster_routing::Slot;

use super::Shared;
use super::access::Session;
use super::config_page::full_config;
use super::error::WebError;
use super::layout::{self, Nav, age, badge, count};

/// Chats listed per section.
const TOP: usize = 50;
/// Members read per queue's backlogged set.
const PER_QUEUE: isize = 500;
/// Keys a SCAN may visit, in all.
const SCAN_BUDGET: usize = 100_000;

#[derive(Debug)]
struct Backlogged {
    queue: u16,
    bot: String,
    chat: String,
    waiting: u64,
    last_pump_ms: i64,
}

#[derive(Debug)]
struct Storm {
    bot: String,
    chat: String,
    replies: u64,
    cap: Option<u32>,
}

#[derive(Debug)]
struct Cooldown {
    bot: String,
    skill: String,
    chat: String,
    left_ms: i64,
}

async fn backlogged<C>(conn: &mut C, c: &Shared) -> redis::RedisResult<Vec<Backlogged>>
where
    C: redis::aio::ConnectionLike + Send,
{
    let mut out = Vec::new();
    for q in 0..c.keys.queue_count() {
        let keys = c.keys.queue(q);
        let members: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(keys.backlogged())
            .arg(0)
            .arg(PER_QUEUE - 1)
            .arg("WITHSCORES")
            .query_async(conn)
            .await?;
        let parsed: Vec<(BotId, String, f64)> = members
            .into_iter()
            .filter_map(|(m, score)| {
                let (bot, chat) = m.split_once(':')?;
                Some((BotId::parse(bot).ok()?, chat.to_owned(), score))
            })
            .collect();
        let mut pipe = redis::pipe();
        for (bot, chat, _) in &parsed {
            pipe.cmd("LLEN").arg(keys.backlog(bot, chat));
        }
        let lens: Vec<u64> = if parsed.is_empty() { Vec::new() } else { pipe.query_async(conn).await? };
        #[allow(clippy::cast_possible_truncation)] // scores are Unix ms
        out.extend(parsed.into_iter().zip(lens).map(|((bot, chat, score), waiting)| Backlogged {
            queue: q,
            bot: bot.to_string(),
            chat,
            waiting,
            last_pump_ms: score as i64,
        }));
    }
    out.sort_by_key(|b| std::cmp::Reverse(b.waiting));
    out.truncate(TOP);
    Ok(out)
}

/// `cmd` on each of `keys` (sorted, as [`Redis::scan_match`] returns
/// them), the replies in their order: one pipeline per run of keys in one
/// hash slot, because a pipeline on Redis Cluster must stay in one slot.
/// Sorted keys hold each hash tag's keys together (they share the prefix up
/// to the tag's `}`).
async fn per_key<T: redis::FromRedisValue>(conn: &mut Redis, cmd: &str, keys: &[String]) -> redis::RedisResult<Vec<T>> {
    let mut out = Vec::with_capacity(keys.len());
    for run in keys.chunk_by(|a, b| Slot::for_key(a) == Slot::for_key(b)) {
        let mut pipe = redis::pipe();
        for k in run {
            pipe.cmd(cmd).arg(k);
        }
        out.extend(pipe.query_async::<Vec<T>>(conn).await?);
    }
    Ok(out)
}

/// `<base>:<kind>:<rest>` → rest, for keys of any queue.
fn after<'a>(key: &'a str, kind: &str) -> Option<&'a str> {
    key.split_once(&format!("}}:{kind}:")).map(|(_, rest)| rest)
}

async fn storms(conn: &mut Redis, c: &Shared, cfg: Option<&Config>) -> redis::RedisResult<(Vec<Storm>, bool)> {
    let minute = botq_core::now_ms() / 60_000;
    let (keys, cut) = conn.scan_match(&format!("{}:*:storm:*:{minute}", c.settings.key_prefix), SCAN_BUDGET).await?;
    let counts: Vec<Option<u64>> = per_key(conn, "GET", &keys).await?;
    let caps: HashMap<&str, Option<u32>> = cfg
        .map(|cfg| cfg.bots.iter().map(|b| (b.id.as_str(), b.routing.guard.chat_replies_per_min)).collect())
        .unwrap_or_default();
    let mut out: Vec<Storm> = keys
        .iter()
        .zip(counts)
        .filter_map(|(k, n)| {
            let rest = after(k, "storm")?;
            let (bot, chat_minute) = rest.split_once(':')?;
            let (chat, _) = chat_minute.rsplit_once(':')?;
            Some(Storm {
                bot: bot.to_owned(),
                chat: chat.to_owned(),
                replies: n?,
                cap: caps.get(bot).copied().flatten(),
            })
        })
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.replies));
    out.truncate(TOP);
    Ok((out, cut))
}

async fn cooldowns(conn: &mut Redis, c: &Shared, cfg: Option<&Config>) -> redis::RedisResult<(Vec<Cooldown>, bool)> {
    let (keys, cut) = conn.scan_match(&format!("{}:*:cd:*", c.settings.key_prefix), SCAN_BUDGET).await?;
    let ttls: Vec<i64> = per_key(conn, "PTTL", &keys).await?;
    let skills: Vec<&str> = cfg.map(|cfg| cfg.skills.iter().map(|s| s.name.as_str()).collect()).unwrap_or_default();
    let mut out: Vec<Cooldown> = keys
        .iter()
        .zip(ttls)
        .filter(|(_, ttl)| *ttl > 0)
        .filter_map(|(k, left_ms)| {
            let (bot, rest) = after(k, "cd")?.split_once(':')?;
            // A skill name has no ':'; with the config, prefer a configured name.
            let (skill, chat) = skills
                .iter()
                .find_map(|s| rest.strip_prefix(s).and_then(|r| r.strip_prefix(':')).map(|chat| (*s, chat)))
                .or_else(|| rest.split_once(':'))?;
            Some(Cooldown { bot: bot.to_owned(), skill: skill.to_owned(), chat: chat.to_owned(), left_ms })
        })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.left_ms));
    out.truncate(TOP);
    Ok((out, cut))
}

/// `GET /chats`.
pub async fn page(State(c): State<Shared>, Extension(s): Extension<Session>) -> Result<Markup, WebError> {
    let mut conn = c.redis.clone();
    let now = botq_core::now_ms();
    let cfg = full_config(&c).ok();
    let backlogged = backlogged(&mut conn, &c).await?;
    let (storms, storms_cut) = storms(&mut conn, &c, cfg.as_ref()).await?;
    let (cooldowns, cooldowns_cut) = cooldowns(&mut conn, &c, cfg.as_ref()).await?;
    let cut_note = html! { p.hint { "The key scan stopped at its bound; there may be more." } };
    let body = html! {
        div data-refresh="10" {
            div.actions { label.refresh hidden { input #auto-refresh type="checkbox" hidden; "auto-refresh every 10 s" } }
            h2 { "Backlogged" }
            p.hint { "Chats holding their fair share of the stream; their next events wait in the chat's own backlog." }
            @if backlogged.is_empty() { p.panel { "No chat is over its fair share." } } @else {
                div.wrap { table {
                    thead { tr { th { "Bot" } th { "Chat" } th { "Lane / queue" } th.num { "Waiting" } th { "Last moved" } } }
                    tbody { @for b in &backlogged { tr {
                        td { (b.bot) } td { code { (b.chat) } }
                        td { (c.keys.lane_of_queue(b.queue)) " / " (b.queue) }
                        td.num { (count(b.waiting)) }
                        td { (age(b.last_pump_ms, now)) " ago" }
                    } } }
                } }
            }
            h2 { "Storm guard, this minute" }
            @if storms.is_empty() { p.panel { "No chat got replies this minute." } } @else {
                div.wrap { table {
                    thead { tr { th { "Bot" } th { "Chat" } th.num { "Replies" } th.num { "Cap" } th { "State" } } }
                    tbody { @for st in &storms { tr {
                        td { (st.bot) } td { code { (st.chat) } }
                        td.num { (st.replies) }
                        td.num { @match st.cap { Some(cap) => (cap), None => span.muted { "—" } } }
                        td { @match st.cap {
                            Some(cap) if st.replies >= u64::from(cap) => (badge("bad", "tripped")),
                            Some(cap) if st.replies * 10 >= u64::from(cap) * 8 => (badge("warn", "near")),
                            Some(_) => (badge("ok", "ok")),
                            None => span.muted { "cap unknown" },
                        } }
                    } } }
                } }
            }
            @if storms_cut { (cut_note) }
            h2 { "Cooldowns" }
            p.hint { "A skill failed in the chat; it answers degraded there until the cooldown ends." }
            @if cooldowns.is_empty() { p.panel { "No skill is cooling down." } } @else {
                div.wrap { table {
                    thead { tr { th { "Bot" } th { "Skill" } th { "Chat" } th.num { "Ends in" } } }
                    tbody { @for cd in &cooldowns { tr {
                        td { (cd.bot) } td { (cd.skill) } td { code { (cd.chat) } }
                        td.num { (age(0, cd.left_ms)) }
                    } } }
                } }
            }
            @if cooldowns_cut { (cut_note) }
        }
    };
    Ok(layout::page(&c, &s, Nav::Chats, "Chats", &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_keys_are_read_after_their_hash_tag() {
        assert_eq!(after("botq:{q0}:storm:qq-main:g1:29000000", "storm"), Some("qq-main:g1:29000000"));
        assert_eq!(after("botq:{q:vip:1}:cd:qq-main:agent:g:1", "cd"), Some("qq-main:agent:g:1"));
        assert_eq!(after("botq:{q0}:stream", "cd"), None);
    }
}
