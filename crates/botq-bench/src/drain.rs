//! `botq-bench worker`: how fast do worker processes drain a stream?
//!
//! Each run empties the deployment's keys, preloads the events into the queue
//! streams (pipelined `XADD`s, not timed), then starts K `botq-worker`
//! processes and polls the stream lengths until they reach zero: the worker
//! deletes an entry only once it is settled, so an empty stream means every
//! event was claimed, handled and acknowledged. The rate is measured from the
//! first event taken to the last one settled, so process start-up does not
//! count. CPU per event is read from `/proc` for the workers and from
//! `INFO cpu` for Redis, which on one machine is the other half of the cost.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use botq_core::keys::Keys;
use botq_testkit::process::ServiceProcess;

use crate::cli::WorkerArgs;

/// One run's figures.
#[derive(Debug, Clone, Copy)]
pub struct DrainReport {
    pub processes: u16,
    pub events: u64,
    pub seconds: f64,
    pub worker_cpu: Duration,
    pub redis_cpu: Duration,
}

impl DrainReport {
    #[must_use]
    #[allow(clippy::cast_precision_loss)] // event counts stay far below 2^52
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.seconds
    }

    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn us_per_event(cpu: Duration, events: u64) -> f64 {
        cpu.as_secs_f64() * 1e6 / events as f64
    }

    #[must_use]
    pub fn row(&self) -> String {
        format!(
            "{:>9} {:>9} {:>8.2} {:>10.0} {:>13.1} {:>12.1}",
            self.processes,
            self.events,
            self.seconds,
            self.rate(),
            Self::us_per_event(self.worker_cpu, self.events),
            Self::us_per_event(self.redis_cpu, self.events),
        )
    }

    #[must_use]
    pub fn json(&self) -> String {
        serde_json::json!({
            "processes": self.processes,
            "events": self.events,
            "seconds": self.seconds,
            "events_per_sec": self.rate(),
            "worker_cpu_us_per_event": Self::us_per_event(self.worker_cpu, self.events),
            "redis_cpu_us_per_event": Self::us_per_event(self.redis_cpu, self.events),
        })
        .to_string()
    }
}

pub const HEADER: &str = "processes    events  seconds   events/s  worker µs/ev  redis µs/ev";

/// Runs one drain per process count.
///
/// # Errors
/// Redis unreachable, the worker binary missing, or a run that does not drain in time.
pub async fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let cfg = crate::load_config(&args.config)?;
    let url = {
        use secrecy::ExposeSecret;
        cfg.queue.redis_url.expose_secret().to_owned()
    };
    let mut conn = redis::Client::open(url.as_str())?
        .get_multiplexed_async_connection()
        .await
        .context("cannot reach the config's Redis")?;
    let keys = cfg.queue.keys();
    let bot = cfg.bots.first().context("the config has no bot")?.id.as_str().to_owned();
    if !args.bin.exists() {
        bail!("{} does not exist; build it with `cargo build --release -p botq-worker`", args.bin.display());
    }
    if !args.json {
        println!("{HEADER}");
    }
    for &k in &args.processes {
        clear(&mut conn, &cfg.queue.key_prefix).await?;
        preload(&mut conn, &keys, &bot, args.events, args.chats).await?;
        let report = drain(&mut conn, &keys, &args, k).await?;
        println!("{}", if args.json { report.json() } else { report.row() });
    }
    Ok(ExitCode::SUCCESS)
}

async fn clear(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) -> anyhow::Result<()> {
    let mut cursor = 0u64;
    loop {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        if !found.is_empty() {
            let _: u64 = redis::cmd("UNLINK").arg(&found).query_async(conn).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

async fn preload(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
    bot: &str,
    events: u64,
    chats: u64,
) -> anyhow::Result<()> {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let mut pipe = redis::pipe();
    for i in 0..events {
        let chat = format!("bench-chat-{}", i % chats);
        let env = botq_testkit::events::envelope(bot, &chat, &format!("{run}-{i}"), "/ping");
        let stream = keys.chat_home(&env.bot, &env.chat_id).stream();
        pipe.cmd("XADD").arg(stream).arg("*").arg("env").arg(env.encode()).ignore();
        if (i + 1) % 1000 == 0 || i + 1 == events {
            let () = pipe.query_async(conn).await?;
            pipe = redis::pipe();
        }
    }
    Ok(())
}

async fn stream_len(conn: &mut redis::aio::MultiplexedConnection, keys: &Keys) -> anyhow::Result<u64> {
    let mut pipe = redis::pipe();
    for s in keys.all_queues() {
        pipe.cmd("XLEN").arg(s.stream());
    }
    let lens: Vec<u64> = pipe.query_async(conn).await?;
    Ok(lens.iter().sum())
}

async fn redis_cpu(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<Duration> {
    let info: String = redis::cmd("INFO").arg("cpu").query_async(conn).await?;
    let field = |name: &str| -> f64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Ok(Duration::from_secs_f64(field("used_cpu_sys") + field("used_cpu_user")))
}

async fn drain(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
    args: &WorkerArgs,
    processes: u16,
) -> anyhow::Result<DrainReport> {
    let redis_before = redis_cpu(conn).await?;
    let workers: Vec<ServiceProcess> = (0..processes)
        .map(|_| ServiceProcess::start_with_env(&args.bin, &args.config, &[("BOTQ_ADMIN_LISTEN", "127.0.0.1:0")]))
        .collect();
    let deadline = Instant::now() + args.timeout;
    let mut first_taken = None;
    let finished = loop {
        let len = stream_len(conn, keys).await?;
        let now = Instant::now();
        if first_taken.is_none() && len < args.events {
            first_taken = Some(now);
        }
        if len == 0 {
            break now;
        }
        if now > deadline {
            bail!("{processes} worker(s) left {len} of {} events after {:?}", args.events, args.timeout);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let worker_cpu = workers.iter().filter_map(|w| crate::cpu::of_pid(w.pid())).sum();
    let redis_cpu = redis_cpu(conn).await? - redis_before;
    for w in workers {
        let status = w.terminate(Duration::from_secs(30));
        if !status.success() {
            bail!("a worker exited with {status} after SIGTERM");
        }
    }
    let seconds = finished.duration_since(first_taken.unwrap_or(finished)).as_secs_f64().max(1e-3);
    Ok(DrainReport { processes, events: args.events, seconds, worker_cpu, redis_cpu })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_line_up_under_the_header_and_rates_divide_events_by_time() {
        let r = DrainReport {
            processes: 2,
            events: 100_000,
            seconds: 4.0,
            worker_cpu: Duration::from_secs(3),
            redis_cpu: Duration::from_secs(2),
        };
        assert!((r.rate() - 25_000.0).abs() < 1e-6);
        assert_eq!(r.row().len(), HEADER.chars().count());
        let json: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(json["worker_cpu_us_per_event"], 30.0);
        assert_eq!(json["redis_cpu_us_per_event"], 20.0);
    }
}
