//! `botq-worker`: config, telemetry, bind the admin listener, run. The logic is in `lib.rs`.

use std::sync::Arc;

use anyhow::Context;
use botq_core::config::Service;

/// The worker's own flags.
#[derive(clap::Args, Debug)]
struct Flags {
    /// Serve only these lanes (comma-separated, e.g. `default,vip`); all by
    /// default. Overrides `worker.lanes`.
    #[arg(long, env = "BOTQ_LANES")]
    lanes: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let main = botq_service::ServiceMain {
        name: "botq-worker",
        about: "botq's worker: consumes the streams, runs handlers, retries, dead-letters",
        service: Service::Worker,
        admin_addr: |cfg| cfg.worker.admin_listen,
    };
    main.run_with(|mut cfg, shutdown, reloads, flags: Flags| async move {
        if let Some(lanes) = flags.lanes {
            cfg.worker.lanes = lanes.split(',').map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect();
        }
        botq_worker::metrics::describe();
        let bots = match cfg.worker.handler {
            botq_core::config::HandlerKind::Bots => Some(Arc::new(botq_worker::BotHandler::new(&cfg.app())?)),
            botq_core::config::HandlerKind::Noop => None,
        };
        let handler: Arc<dyn botq_worker::Handler> = match &bots {
            Some(b) => b.clone(),
            None => Arc::new(botq_worker::NoopHandler),
        };
        let engine = botq_worker::Engine::new(cfg.engine(), handler)?;
        let admin_addr = cfg.worker.admin_listen;
        let admin = tokio::net::TcpListener::bind(admin_addr)
            .await
            .with_context(|| format!("cannot listen on {admin_addr}"))?;
        tracing::info!(
            consumer = engine.consumer(),
            admin_listen = %admin_addr,
            redis = %cfg.queue.redis_url_redacted(),
            concurrency = cfg.worker.concurrency,
            "botq-worker starting"
        );
        botq_worker::app::bot_handler::apply_reloads(bots, cfg, reloads);
        botq_worker::run(engine, admin, shutdown).await
    })
    .await
}
