//! The Lua scripts the queue and the throttle run in Redis, listed in one
//! place. Each `.lua` file sits beside the Rust function that calls it (the
//! queue's in `queue/`, the throttle's in `throttle/`), with a header naming
//! its KEYS and ARGV by position; each is compiled into the binary and
//! invoked by SHA (`EVALSHA`, loaded on first `NOSCRIPT`). The worker's
//! conversation window has its own script, beside its own code.
//!
//! Every script takes `now` as an argument instead of calling `TIME`, so tests
//! control time and replicas with the same clock agree.

use std::sync::LazyLock;

use redis::Script;

/// The one GCRA, put in front of each script that limits a rate (see `throttle/gcra.lua`).
macro_rules! with_gcra {
    ($file:literal) => {
        concat!(include_str!("throttle/gcra.lua"), include_str!($file))
    };
}

/// Backlog check, dedupe, ingest rate limits and `XADD`, atomically. See `queue/ingest.lua`.
pub static INGEST: LazyLock<Script> = LazyLock::new(|| Script::new(with_gcra!("queue/ingest.lua")));

/// Worker claim: lease + per-chat lock, or why not. See `queue/claim.lua`.
pub static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue/claim.lua")));

/// Ack + delete + done/retry/dead in one step. See `queue/finish.lua`.
pub static FINISH: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue/finish.lua")));

/// Due retries back into the stream. See `queue/promote.lua`.
pub static PROMOTE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue/promote.lua")));

/// `XAUTOCLAIM` + delivery limit. See `queue/reclaim.lua`.
pub static RECLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue/reclaim.lua")));

/// Deletes an idle consumer only if it owns nothing. See `queue/prune.lua`.
pub static PRUNE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue/prune.lua")));

/// One GCRA slot for a reply. See `throttle/throttle.lua`.
pub static THROTTLE: LazyLock<Script> = LazyLock::new(|| Script::new(with_gcra!("throttle/throttle.lua")));

/// A dead letter back into its stream with a fresh retry budget. See `queue/replay.lua`.
pub static REPLAY: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("queue/replay.lua")));

/// Every script, for loading at startup.
pub fn all() -> [&'static Script; 8] {
    [&INGEST, &CLAIM, &FINISH, &PROMOTE, &RECLAIM, &PRUNE, &THROTTLE, &REPLAY]
}
