//! botq-fakeplatform: a faithful local stand-in for the reply APIs of QQ,
//! Lark / Feishu and OneBot v11, for botq's quick start, end-to-end tests and
//! benchmarks.
//!
//! botq's promise "one reply, even across crashes" rests on the platforms'
//! idempotency rules (QQ `msg_id` + `msg_seq`, Lark `uuid`) and its throttle
//! on their rate limits. A mock that accepts everything cannot show either, so
//! this fake enforces the documented rules, with the documented error codes:
//! token lifetimes and renewal, passive-reply counts and windows, per-chat
//! rates, dedupe. Everything it delivered or refused is recorded for tests to
//! assert on, over `/_fake/*` ([`control`]) or in-process ([`FakeState`]).
//! Faults (latency, 5xx, 429, timeouts) can be injected at random or by script
//! ([`faults`]). `/_fake/agent` stands in for an upstream agent (`agent`).
//!
//! One listener serves all three platforms: QQ under `/app/…`, `/v2/…`,
//! `/channels/…`, `/dms/…`; Lark under `/open-apis/…`; each OneBot bot under
//! the path of its `api_base`. `main.rs` reads the botq config and flags and
//! calls [`run`]; tests call the same [`run`] on a port-0 listener.

mod agent;
pub mod control;
pub mod faults;
pub mod lark;
pub mod ledger;
pub mod limits;
pub mod onebot;
pub mod options;
pub mod qq;
pub mod records;
mod refusal;
pub mod script;
pub mod shown;
pub mod state;
pub mod tokens;

use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use ledger::QqChatKind;
pub use options::{OptionError, Options, QqLimits};
pub use records::{Delivery, Endpoint, FaultCounts, Rejection, Stats};
pub use script::ScriptStep;
pub use state::{BotError, Clock, Credentials, FakeBot, FakeState};

/// Every route: the three platforms' APIs and `/_fake/*`.
pub fn router(state: Arc<FakeState>) -> Router {
    let messages = Router::new()
        .merge(qq::message_routes())
        .merge(lark::message_routes())
        .merge(onebot::routes(state.bots()))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), faults::lose_answers));
    Router::new()
        .merge(qq::token_routes())
        .merge(lark::token_routes())
        .merge(messages)
        .merge(control::routes())
        .merge(agent::routes())
        .with_state(state)
}

/// Serves the fake on `listener` until `shutdown` is cancelled. Requests held
/// by injected delays or timeouts are released at once, so shutdown is prompt.
///
/// # Errors
/// An I/O error of the listener.
pub async fn run(listener: TcpListener, state: Arc<FakeState>, shutdown: CancellationToken) -> std::io::Result<()> {
    let app = router(state.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.cancelled().await;
            state.release_holds();
        })
        .await?;
    tracing::info!("fake platform stopped");
    Ok(())
}
