//! Ingest's readiness: startup finished (scripts loaded) and Redis answers now.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::state::AppState;

/// [`botq_admin::Readiness`] for ingest.
pub struct IngestReadiness(pub Arc<AppState>);

impl botq_admin::Readiness for IngestReadiness {
    fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), &'static str>> + Send + '_>> {
        Box::pin(async move {
            if !self.0.started() {
                return Err("starting");
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
