//! The platforms' reply rules, with no HTTP in them: what QQ (reply windows,
//! per-message caps, rich-media uploads) and Lark (idempotent `uuid`s, per-chat
//! rates) allow, and what each has already answered. The HTTP modules (`qq.rs`,
//! `lark.rs`) read a request, ask the ledger, and render its answer; the
//! shared state (`state.rs`) holds one ledger per platform.

pub mod lark;
pub mod media;
pub mod qq;

pub use lark::{LarkLedger, Sent, UUID_TTL_MS};
pub use qq::{QqChatKind, QqLedger, QqRefusal};
