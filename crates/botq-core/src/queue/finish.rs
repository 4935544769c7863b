//! Settling a delivery (`scripts/finish.lua`): ack + delete + what comes next, atomically.

use std::time::Duration;

use crate::keys::ShardKeys;
use crate::scripts;

/// What happens to a delivery after its attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Handled: mark the event done for `done_ttl`.
    Done { done_ttl: Duration },
    /// Try again at `due_ms` with `attempts` failed attempts recorded.
    Retry { due_ms: i64, attempts: u32 },
    /// Failed for good: to the dead-letter stream with `reason`.
    Dead { reason: String, attempts: u32, now_ms: i64, dlq_max_len: u64 },
    /// A duplicate delivery: just ack and delete.
    Drop,
}

/// Settles stream entry `id` (delivered with `token`) of the event whose raw
/// envelope is `env`.
///
/// # Errors
/// Redis errors; the entry then stays pending and is reclaimed after the lease,
/// which re-runs the attempt (replies are idempotent, so that is safe).
#[allow(clippy::too_many_arguments)]
pub async fn finish<C>(
    conn: &mut C,
    keys: &ShardKeys,
    group: &str,
    id: &str,
    token: &str,
    claim_key: &str,
    chat_lock: &str,
    env: &[u8],
    verdict: &Verdict,
) -> Result<(), redis::RedisError>
where
    C: redis::aio::ConnectionLike + Send,
{
    let mut inv = scripts::FINISH.prepare_invoke();
    inv.key(keys.stream()).key(claim_key).key(chat_lock);
    match verdict {
        Verdict::Retry { .. } => inv.key(keys.delayed()),
        Verdict::Dead { .. } => inv.key(keys.dlq()),
        Verdict::Done { .. } | Verdict::Drop => inv.key(keys.delayed()),
    };
    inv.arg(group).arg(id).arg(token);
    match verdict {
        Verdict::Done { done_ttl } => {
            inv.arg("done").arg(u64::try_from(done_ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        }
        Verdict::Retry { due_ms, attempts } => {
            let mut member = format!("{attempts}:").into_bytes();
            member.extend_from_slice(env);
            inv.arg("retry").arg(*due_ms).arg(member);
        }
        Verdict::Dead { reason, attempts, now_ms, dlq_max_len } => {
            inv.arg("dead").arg(reason).arg(*attempts).arg(*now_ms).arg(env).arg(*dlq_max_len);
        }
        Verdict::Drop => {
            inv.arg("drop");
        }
    }
    let _: i64 = inv.invoke_async(conn).await?;
    Ok(())
}
