//! Test support for botq, used by unit, integration and end-to-end tests and
//! by `botq-bench` and the fuzz targets. The in-process services and the
//! scriptable handler are behind the `in-process` feature, which only the
//! tests turn on: the load generator links the signing and process helpers,
//! not the services it measures.
//!
//! - [`redis`]: a real `redis-server` on a free loopback port, per test. A
//!   missing `redis-server` is a loud failure with the install hint, never a skip.
//! - [`sign`]: builds webhooks exactly as QQ, Lark and OneBot sign them.
//! - [`ingest`]: runs botq-ingest in-process on port-0 listeners.
//! - [`process`]: the real binaries as child processes (SIGTERM, healthcheck).
//! - [`worker`]: runs botq-worker in-process, gracefully stoppable or killable.
//! - [`events`]: envelopes and direct enqueueing for worker tests.
//! - [`fixtures`]: the QQ test bot and its secret, shared by the tests.
//! - [`upstream`]: a real upstream skill service (answers, slow, failing, down).
//! - [`recorder`]: a scriptable handler recording every attempt (`in-process`).

pub mod events;
pub mod fixtures;
#[cfg(feature = "in-process")]
pub mod ingest;
pub mod process;
#[cfg(feature = "in-process")]
pub mod recorder;
pub mod redis;
pub mod sign;
pub mod upstream;
#[cfg(feature = "in-process")]
pub mod worker;

/// Sends the services' logs to stderr when `BOTQ_TEST_LOG` is set (a tracing
/// filter such as `debug`), for a test that needs explaining.
pub fn init_test_logging() {
    if let Ok(level) = std::env::var("BOTQ_TEST_LOG") {
        botq_core::telemetry::init_logging(&botq_core::config::LogConfig {
            format: botq_core::config::LogFormat::Pretty,
            level,
        });
    }
}
