//! `botq-ingest`: config, telemetry, bind, run. The logic is in `lib.rs`.

use std::sync::Arc;

use anyhow::Context;
use botq_core::config::Service;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let main = botq_service::ServiceMain {
        name: "botq-ingest",
        about: "botq's webhook front door: verify, enqueue durably, ack",
        service: Service::Ingest,
        admin_addr: |cfg| cfg.ingest.admin_listen,
    };
    main.run(|cfg, shutdown, reloads| async move {
        let state = Arc::new(botq_ingest::AppState::new(&cfg.ingest_service())?);
        let listen = cfg.ingest.listen;
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let admin_addr = cfg.ingest.admin_listen;
        let admin =
            tokio::net::TcpListener::bind(admin_addr).await.with_context(|| format!("cannot listen on {admin_addr}"))?;
        tracing::info!(%listen, admin_listen = %admin_addr, redis = %cfg.queue.redis_url_redacted(), bots = cfg.bots.len(), "botq-ingest starting");
        for w in cfg.warnings() {
            tracing::warn!(path = %w.path, "{}", w.message);
        }
        // Bots and their secrets apply on reload; the rest needs a restart.
        let reloading = state.clone();
        botq_service::reload::apply_each(reloads, move |new| reloading.reload_bots(&new.bots).map(|()| Vec::new()));
        botq_ingest::run(listener, admin, state, cfg.ingest.shutdown_grace, shutdown).await?;
        Ok(())
    })
    .await
}
