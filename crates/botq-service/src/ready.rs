//! The readiness both services share: startup finished and Redis answers now.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use botq_core::redis_conn::Redis;

use crate::Readiness;

/// Ready when `flag` is set (the service finished starting, and its last Redis
/// work succeeded), a `PING` answers within `timeout`, and Redis is not
/// refusing writes at `maxmemory` (every webhook would get 503, and no
/// event could be claimed).
pub struct RedisReady {
    pub flag: Arc<AtomicBool>,
    pub redis: Redis,
    pub timeout: Duration,
}

impl Readiness for RedisReady {
    fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), &'static str>> + Send + '_>> {
        Box::pin(async move {
            if !self.flag.load(Ordering::Acquire) {
                return Err("starting_or_redis_unreachable");
            }
            let mut conn = self.redis.clone();
            if !botq_core::redis_conn::ping(&mut conn, self.timeout).await {
                return Err("redis_unreachable");
            }
            if botq_core::redis_conn::refuses_writes(&mut conn, self.timeout).await {
                return Err("redis_out_of_memory");
            }
            Ok(())
        })
    }
}
