//! The worker's readiness: started (scripts loaded, groups exist) and its
//! last Redis read succeeded, and Redis answers now.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::engine::Engine;

pub struct WorkerReadiness(pub Arc<Engine>);

impl botq_admin::Readiness for WorkerReadiness {
    fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), &'static str>> + Send + '_>> {
        Box::pin(async move {
            if !self.0.is_ready() {
                return Err("redis_unreachable_or_starting");
            }
            let mut conn = self.0.redis.clone();
            if botq_core::redis_conn::ping(&mut conn, self.0.redis_timeout).await {
                Ok(())
            } else {
                Err("redis_unreachable")
            }
        })
    }
}
