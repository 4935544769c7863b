//! A scripted answer the control API queues (`POST /_fake/script`): the
//! next matching requests fail, throttle or stall as a test asks, whatever
//! the platform's own rules would say (`faults.rs` plays them).

use botq_core::envelope::Platform;
use serde::{Deserialize, Serialize};

/// One scripted answer. `{"status":503}`, `{"status":429,"reset_secs":2}`,
/// `{"delay_ms":3000}` (delay, then handle normally), `{"status":504,"delay_ms":30000}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptStep {
    /// Only a request to this platform consumes the step (default: any).
    #[serde(default)]
    pub platform: Option<Platform>,
    /// The HTTP status to answer; absent or 200 = handle normally (after `delay_ms`).
    #[serde(default)]
    pub status: Option<u16>,
    /// For 429: seconds the client is told to wait (default 1).
    #[serde(default)]
    pub reset_secs: Option<u64>,
    /// Hold the request this long first.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Override the platform code in the error body.
    #[serde(default)]
    pub code: Option<i64>,
}
