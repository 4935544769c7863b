//! Command-line interface: `send` for one webhook, `ingest` for a load sweep,
//! `burst` for a backlog and its drain, `worker` for the drain rate of the
//! engine alone, `fairness` for quiet groups beside a noisy one.
//!
//! `ingest` and `burst` share how the load is shaped ([`LoadArgs`]). All
//! read the same config file as ingest (`--config` or `BOTQ_CONFIG`) so
//! that the webhooks carry the bot's real credentials. Durations are given in
//! seconds, fractions allowed, because that is how benchmark notes are
//! written ("10 s at 20 000/s").

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "botq-bench",
    version = botq_core::build::LONG_VERSION,
    about = "Open-loop load generator for botq: signed webhooks in, latency report out"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send one signed message webhook to ingest and show the answer.
    ///
    /// Example: botq-bench send --config deploy/botq.example.toml --bot qq-main --text /ping
    Send(SendArgs),
    /// Offer a fixed rate of signed webhooks to ingest and report latency per rate.
    ///
    /// Example: botq-bench ingest --config crates/botq-bench/bench.example.toml --bot qq-bench
    /// --rate 5000,10000,20000 --duration 10
    ///
    /// A list of rates is a step ramp: one row per rate, to find the knee. The bot should
    /// have ingest rate limits off (`rate_limit = { group_per_sec = 0.0, sender_per_sec =
    /// 0.0 }`, as in bench.example.toml), or events over them are acknowledged but dropped.
    ///
    /// End to end, with every 10th request a platform-style redelivery of an earlier event:
    /// botq-bench ingest --config bench.toml --bot onebot-bench --rate 2000,4000 --duration 10
    /// --fake-url http://127.0.0.1:8090 --duplicate-every 10
    ///
    /// With --fake-url each event is `/echo botq-fair <run> <event>` (the worker must run
    /// the `bots` handler), and after each step the bench waits for the replies at
    /// botq-fakeplatform and adds replied, missing, duplicate replies and end-to-end
    /// latency to the row. Start the fake with --max-records above the events of a step
    /// (its delivery log drops the oldest past that) and without its per-chat limits
    /// (--qq-chat-rate 0 --lark-chat-qps 0); turn botq's reply limits and storm guard off
    /// for the bot (the bench warns when they would trip).
    Ingest(IngestArgs),
    /// Offer many events at once, far above what the workers handle, and watch the drain.
    ///
    /// Example: botq-bench burst --config bench.toml --bot onebot-bench --events 200000
    /// --rate 20000 --fake-url http://127.0.0.1:8090
    ///
    /// Reports the burst's acknowledgements (statuses, ack latency: a burst should be
    /// absorbed with no 5xx) and, read back from botq-fakeplatform, when the last reply
    /// arrived, the drain rate (replies per second from the first to the last), end-to-end
    /// latency, duplicate and missing replies. The same setup as `ingest --fake-url`;
    /// scripts/bench-burst.sh runs the whole stack.
    Burst(BurstArgs),
    /// Measure how fast botq-worker processes drain a preloaded stream.
    ///
    /// Example: botq-bench worker --config crates/botq-bench/bench.example.toml
    /// --bin target/release/botq-worker --events 200000 --processes 1,2,4
    ///
    /// For each process count: empties the queue, preloads the events, starts
    /// that many worker processes, times the drain and reports events/s and
    /// CPU per event of the workers and of Redis.
    Worker(WorkerArgs),
    /// Offer one noisy group and many quiet groups fixed rates of /echo webhooks and
    /// report each class's reply latency, read back from botq-fakeplatform.
    ///
    /// Example: botq-bench fairness --config fairness.toml --bot onebot-bench
    /// --fake-url http://127.0.0.1:8090 --quiet-groups 20 --quiet-rate 2 --noisy-rate 100 --duration 60
    ///
    /// The noisy group is bench chat 0 (OneBot group 700000000), quiet groups chats 1..=N.
    /// Turn off the bot's ingest limits, reply limits and storm guard for the run (the bench
    /// warns when they would trip); scripts/bench-fairness.sh sets up each scenario.
    Fairness(FairnessArgs),
}

#[derive(Debug, Args)]
pub struct FairnessArgs {
    #[command(flatten)]
    pub target: Target,
    /// Base URL of botq-fakeplatform; replies are read from `{url}/_fake/deliveries`.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8090")]
    pub fake_url: String,
    /// Quiet groups (bench chats 1..=N).
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub quiet_groups: u32,
    /// Events per second of each quiet group.
    #[arg(long, value_name = "R", default_value = "2", value_parser = positive)]
    pub quiet_rate: f64,
    /// Events per second of the noisy group; 0 runs the quiet groups alone (the baseline).
    #[arg(long, value_name = "R", default_value = "100", value_parser = non_negative)]
    pub noisy_rate: f64,
    /// Length of the measured window, seconds.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = seconds)]
    pub duration: Duration,
    /// Unmeasured lead-in at the same rates, seconds.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = seconds_or_zero)]
    pub warmup: Duration,
    /// After the last event is due, how long to wait for the quiet groups' replies;
    /// what is still unanswered then is counted at its age (a lower bound).
    #[arg(long, value_name = "SECS", default_value = "15", value_parser = seconds_or_zero)]
    pub drain_timeout: Duration,
    /// Sender tasks, each with one keep-alive connection.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub connections: u16,
    /// Name of the scenario in the report.
    #[arg(long, default_value = "run")]
    pub label: String,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The botq config file the workers run with (its redis_url and key_prefix are used).
    #[arg(long, env = "BOTQ_CONFIG", value_name = "PATH")]
    pub config: PathBuf,
    /// The botq-worker binary to start.
    #[arg(long, value_name = "PATH", default_value = "target/release/botq-worker")]
    pub bin: PathBuf,
    /// Events preloaded before each run.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub events: u64,
    /// Worker process counts to measure, one run each.
    #[arg(long, value_name = "K[,K2,...]", value_delimiter = ',', default_value = "1,2,4")]
    pub processes: Vec<u16>,
    /// Distinct chats the events are spread over.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub chats: u64,
    /// Give up on a run after this long, seconds.
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = seconds)]
    pub timeout: Duration,
    /// Print one JSON object per run instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Which bot, and where ingest listens.
#[derive(Debug, Args)]
pub struct Target {
    /// The botq config file (the same one ingest runs with).
    #[arg(long, env = "BOTQ_CONFIG", value_name = "PATH")]
    pub config: PathBuf,
    /// The `[[bot]]` id to send as.
    #[arg(long, value_name = "ID")]
    pub bot: String,
    /// Base URL of botq-ingest; requests go to `{url}/webhooks/{bot}` and nowhere else.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub target: Target,
    /// The message text.
    #[arg(long, default_value = "/ping")]
    pub text: String,
    /// Group id to send from (OneBot: a group number). Default: a fixed bench group.
    #[arg(long, value_name = "ID")]
    pub chat: Option<String>,
    /// Sender id (OneBot: a QQ number). Default: a fixed bench user.
    #[arg(long, value_name = "ID")]
    pub sender: Option<String>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub target: Target,
    /// Requests per second; a comma-separated list runs one step per rate, in order.
    #[arg(long, value_name = "R[,R2,...]", value_delimiter = ',', required = true, value_parser = positive)]
    pub rate: Vec<f64>,
    /// Length of each measured step, seconds.
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    pub duration: Duration,
    /// Unmeasured lead-in at the same rate before each step, seconds.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = seconds_or_zero)]
    pub warmup: Duration,
    /// The message text of every event (not with --fake-url, where each event is an /echo naming it).
    #[arg(long, default_value = "/ping", conflicts_with = "fake_url")]
    pub text: String,
    /// Base URL of botq-fakeplatform: after each step, read the replies back from it.
    #[arg(long, value_name = "URL")]
    pub fake_url: Option<String>,
    /// With --fake-url: how long at most to wait for replies after a step's last answer (the
    /// wait also ends after 15 s without a delivery); acknowledged events still unanswered
    /// then are missing (and count at their age in the latency).
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = seconds_or_zero)]
    pub reply_timeout: Duration,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Debug, Args)]
pub struct BurstArgs {
    #[command(flatten)]
    pub target: Target,
    /// Events in the burst.
    #[arg(long, value_name = "N", default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub events: u64,
    /// Rate the burst is offered at, requests per second.
    #[arg(long, value_name = "R", default_value = "20000", value_parser = positive)]
    pub rate: f64,
    /// Base URL of botq-fakeplatform, where the replies are read back.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8090")]
    pub fake_url: String,
    /// How long at most to wait for the drain after the burst's last answer (the wait also
    /// ends after 15 s without a delivery); acknowledged events still unanswered then are
    /// missing (and count at their age in the latency).
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = seconds_or_zero)]
    pub reply_timeout: Duration,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// How the load of `ingest` and `burst` is shaped, sent and reported.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// How long to wait for outstanding answers after the last request is due;
    /// what is still unanswered then counts as a timeout.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = seconds_or_zero)]
    pub drain_timeout: Duration,
    /// Sender tasks, each with one keep-alive connection: the most requests in
    /// flight at once. Should exceed rate × worst latency.
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = clap::value_parser!(u16).range(1..))]
    pub connections: u16,
    /// Distinct group ids the events are spread over.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub chats: u64,
    /// Distinct senders the events are spread over.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub senders: u64,
    /// Make every Nth request a redelivery of an earlier event (same ids, as a platform
    /// retries): ingest must acknowledge it and store nothing, the event get one reply.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(2..))]
    pub duplicate_every: Option<u64>,
    /// How long after the original a duplicate is due, seconds (a platform retries after
    /// its timeout).
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = seconds_or_zero)]
    pub duplicate_delay: Duration,
    /// Connect from this local address (e.g. 127.0.0.2), so ingest sees another client:
    /// how a flood and real traffic are told apart in one run.
    #[arg(long, value_name = "IP")]
    pub source_ip: Option<std::net::IpAddr>,
    /// Break every webhook's signature: a flood of forgeries (all refused, 401 or 429).
    #[arg(long)]
    pub forge: bool,
    /// Print a line per window of this length to stderr while a step runs (answered/s,
    /// non-2xx, ack p50/p99/max), e.g. every 60 s of a soak.
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    pub report_every: Option<Duration>,
    /// Memory for signing a whole step before its clock starts; larger steps
    /// are signed while they run, and that CPU is reported apart.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub max_pregen_mib: u64,
    /// Print one JSON object per step instead of the table.
    #[arg(long)]
    pub json: bool,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

fn non_negative(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("{s:?} is not a number ≥ 0")),
    }
}

fn seconds(s: &str) -> Result<Duration, String> {
    positive(s).map(Duration::from_secs_f64).map_err(|_| format!("{s:?} is not a positive number of seconds"))
}

fn seconds_or_zero(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(Duration::from_secs_f64(x)),
        _ => Err(format!("{s:?} is not a number of seconds ≥ 0")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_rate_list_and_fractional_seconds_parse() {
        let cli = Cli::try_parse_from([
            "botq-bench",
            "ingest",
            "--config",
            "c.toml",
            "--bot",
            "qq-main",
            "--rate",
            "1000,2500.5",
            "--duration",
            "0.5",
        ])
        .unwrap();
        let Command::Ingest(a) = cli.command else { panic!("ingest") };
        assert_eq!(a.rate, [1000.0, 2500.5]);
        assert_eq!(a.duration, Duration::from_millis(500));
        assert_eq!((a.warmup, a.load.drain_timeout), (Duration::from_secs(1), Duration::from_secs(5)));
        assert_eq!((a.load.connections, a.load.chats), (128, 1000));
        assert_eq!(a.target.url, "http://127.0.0.1:8080");
    }

    #[test]
    fn zero_or_negative_rates_are_refused() {
        for bad in ["0", "-5", "nan", "10,0"] {
            let r = Cli::try_parse_from([
                "botq-bench",
                "ingest",
                "--config",
                "c",
                "--bot",
                "b",
                "--rate",
                bad,
                "--duration",
                "1",
            ]);
            assert!(r.is_err(), "{bad}");
        }
    }

    #[test]
    fn readback_duplicates_and_windows_parse_and_text_conflicts_with_readback() {
        let base = ["botq-bench", "ingest", "--config", "c", "--bot", "b", "--rate", "100", "--duration", "1"];
        let parse = |extra: &[&str]| Cli::try_parse_from(base.iter().chain(extra)).map(|c| c.command);
        let Ok(Command::Ingest(a)) = parse(&[
            "--fake-url",
            "http://127.0.0.1:8190",
            "--duplicate-every",
            "10",
            "--duplicate-delay",
            "0.5",
            "--report-every",
            "60",
        ]) else {
            panic!("ingest")
        };
        assert_eq!(a.fake_url.as_deref(), Some("http://127.0.0.1:8190"));
        assert_eq!((a.load.duplicate_every, a.load.duplicate_delay), (Some(10), Duration::from_millis(500)));
        assert_eq!((a.load.report_every, a.reply_timeout), (Some(Duration::from_secs(60)), Duration::from_secs(30)));
        assert!(parse(&["--duplicate-every", "1"]).is_err(), "every request a duplicate duplicates nothing");
        assert!(parse(&["--fake-url", "http://x", "--text", "/ping"]).is_err(), "readback sends /echo texts");
        assert!(parse(&["--text", "/ping"]).is_ok());
    }

    #[test]
    fn a_burst_defaults_to_200k_events_at_20k_per_second() {
        let cli = Cli::try_parse_from(["botq-bench", "burst", "--config", "c", "--bot", "b"]).unwrap();
        let Command::Burst(a) = cli.command else { panic!("burst") };
        assert_eq!((a.events, a.rate, a.reply_timeout), (200_000, 20_000.0, Duration::from_secs(300)));
        assert_eq!((a.load.chats, a.load.duplicate_every), (1000, None));
    }

    #[test]
    fn fairness_defaults_are_twenty_quiet_groups_at_2_per_second_and_a_noisy_one_at_50_times_that() {
        let cli = Cli::try_parse_from(["botq-bench", "fairness", "--config", "c", "--bot", "b"]).unwrap();
        let Command::Fairness(a) = cli.command else { panic!("fairness") };
        assert_eq!((a.quiet_groups, a.quiet_rate, a.noisy_rate), (20, 2.0, 100.0));
        assert_eq!((a.duration, a.warmup), (Duration::from_secs(60), Duration::from_secs(5)));
        let baseline =
            Cli::try_parse_from(["botq-bench", "fairness", "--config", "c", "--bot", "b", "--noisy-rate", "0"]);
        assert!(baseline.is_ok(), "a zero noisy rate is the baseline");
        let bad = Cli::try_parse_from(["botq-bench", "fairness", "--config", "c", "--bot", "b", "--quiet-rate", "0"]);
        assert!(bad.is_err(), "quiet groups must send something");
    }
}
