//! botq's integration tests, one binary: a real `redis-server` started per
//! test by `botq_testkit`, real HTTP over loopback, the real services.
//!
//! One module per concern, named for what it checks; each module's doc says
//! what that is and which guarantee of docs/TESTING.md it holds. One binary
//! links tokio, axum, redis and reqwest once instead of once per file, and
//! its tests run in parallel with each other. Run a part by its path:
//! `cargo test -p botq-e2e --test it chaos::` (see the Makefile's
//! `chaos` and `console-shots` targets).

mod chaos;
mod cluster_e2e;
mod console;
mod console_browser;
mod corpus_e2e;
mod ctl_dlq;
mod fairness;
mod fleet_history;
mod ingest_durability;
mod ingest_rotation;
mod ingest_webhooks;
mod key_scan;
mod messages_e2e;
mod queue_batches;
mod quickstart;
mod redis_checks;
mod replies_e2e;
mod retention;
mod skills_e2e;
mod throttle_props;
mod worker_recovery;
mod worker_semantics;
