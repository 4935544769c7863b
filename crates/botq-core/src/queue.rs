//! The Redis side of botq's queue.
//!
//! Ingest writes each accepted event into its shard's stream with one script
//! call (`enqueue`); nothing else happens on the webhook path. Dedupe keys and
//! rate-limit state live beside the stream under the shard's hash tag.

mod enqueue;

pub use enqueue::{EnqueueOutcome, EnqueueParams, LimitKind, enqueue};
