//! `botqctl web`: the operator's console, one page an operator can open on
//! the box during an incident.
//!
//! - **Overview**: per lane and queue the gauges of `botqctl status`, the
//!   last hour of ingest rate, reply rate and reply latency from the history
//!   the services write (`botq_core::history`, so no Prometheus is needed),
//!   and the two SLOs (ack under 100 ms, reply p95 under 3 s) as green or red.
//! - **Fleet**: every replica that beat recently (`botq_core::fleet`), with
//!   its build: version, git sha, image digest. A replica that stopped shows
//!   as stopped or gone, not as silently missing.
//! - **Dead letters**: filter, look at one (why it died, its attempts in the
//!   audit log, the replica that gave up), replay or purge one, a selection or
//!   a filter, after a confirmation that says how many.
//! - **Audit**, **Chats** (the noisiest chats now), **Config** (the `config
//!   check` result and the effective settings, secrets as `***`).
//!
//! It needs only the Redis settings, like every other `botqctl` command; the
//! Config page and the chats' storm caps use the full file when it loads.
//!
//! Pages are rendered on the server with maud: templates are Rust code, so
//! a typo is a compile error and every interpolation is HTML-escaped unless
//! it is marked otherwise (nothing here is). Charts are server-rendered SVG,
//! so the console works with scripts off; the one script (`assets/console.js`)
//! only adds select-all and auto-refresh. Every asset is embedded in the
//! binary. Who may see and act is [`access`]: loopback without a token,
//! anything else with one, a CSRF token on every POST, a strict CSP.

pub mod access;
mod assets;
mod audit_page;
mod chart;
mod chats;
mod config_page;
mod dead_letters;
mod error;
mod fleet_page;
mod layout;
mod overview;
mod query;
mod queues;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use botq_core::config::QueueSettings;
use botq_core::keys::Keys;
use botq_core::redis_conn::Redis;
use tokio::net::TcpListener;

pub use access::{Access, StartError};
pub use dead_letters::MAX_ACTION;
pub use error::WebError;

/// The default address: loopback, so the console is private to the box.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9092";

/// The largest request body accepted (a confirmation carries the ids it acts on).
const BODY_LIMIT: usize = 4 << 20;

#[derive(Debug, Clone, clap::Args)]
pub struct WebArgs {
    /// Where to listen. Any address but loopback needs a token.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// A file holding the access token (at least 16 characters; or set
    /// BOTQ_CONSOLE_TOKEN). Required to listen off loopback.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Show everything, change nothing: no replay, no purge.
    #[arg(long)]
    pub read_only: bool,
    /// Show message text in dead letters and audit entries. It is what users
    /// wrote, so it is off unless the operator asks (see docs/DATA.md).
    #[arg(long)]
    pub show_text: bool,
}

/// What every page handler can reach.
#[derive(Debug)]
pub struct Console {
    pub redis: Redis,
    pub keys: Keys,
    pub settings: QueueSettings,
    /// The config file, for the Config page and the bots' storm caps.
    pub config_path: PathBuf,
    pub read_only: bool,
    pub show_text: bool,
    pub access: Access,
}

pub type Shared = Arc<Console>;

/// The console's routes, with the access guard and the security headers.
pub fn router(console: Shared) -> Router {
    let pages = Router::new()
        .route("/", get(overview::page))
        .route("/fleet", get(fleet_page::page))
        .route("/dead-letters", get(dead_letters::list))
        .route("/dead-letters/{queue}/{id}", get(dead_letters::show))
        .route("/dead-letters/replay", post(dead_letters::replay))
        .route("/dead-letters/purge", post(dead_letters::purge))
        .route("/audit", get(audit_page::page))
        .route("/chats", get(chats::page))
        .route("/config", get(config_page::page))
        .route("/login", get(access::login_page).post(access::login))
        .route("/logout", post(access::logout))
        .route("/assets/{name}", get(assets::serve))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(console.clone(), access::guard))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(access::security_headers));
    pages.with_state(console)
}

/// Serves the console on `listener` until `stop` resolves.
///
/// # Errors
/// The listener fails.
pub async fn serve(
    listener: TcpListener,
    console: Shared,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(console).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(stop)
        .await
}
