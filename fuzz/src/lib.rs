//! What the fuzz targets share: one config with a bot of each platform
//! (the secrets of the platforms' published test vectors), its adapters,
//! and a way to hand an adapter a request.

use std::sync::OnceLock;

use botq_core::config::{Config, Service};
use botq_core::ids::{BotId, RequestId};
use botq_core::platform::{Adapter, Inbound};

pub use botq_testkit::fixtures::QQ_SECRET;
pub const LARK_TOKEN: &str = "v-token";
pub const LARK_KEY: &str = "lark-encrypt-key";
pub const ONEBOT_SECRET: &str = "onebot-secret";
/// A fixed "now" inside every signed timestamp's window.
pub const NOW_SECS: i64 = 1_700_000_000;

/// After `botq_testkit::fixtures::QQ_MAIN_BOT` (bot 0).
const OTHER_BOTS: &str = r#"
[[bot]]
id = "lark"
platform = "lark"
app_id = "cli_a0000000000000"
app_secret = "s"
verification_token = "v-token"
encrypt_key = "lark-encrypt-key"

[[bot]]
id = "onebot"
platform = "onebot"
api_base = "http://127.0.0.1:5700"
app_id = "10001000"
secret = "onebot-secret"
"#;

/// The adapters of the three bots, built once.
pub fn adapters() -> &'static [(BotId, Adapter); 3] {
    static ADAPTERS: OnceLock<[(BotId, Adapter); 3]> = OnceLock::new();
    ADAPTERS.get_or_init(|| {
        let text = format!("{}{OTHER_BOTS}", botq_testkit::fixtures::QQ_MAIN_BOT);
        let cfg = Config::from_toml(&text, Service::Tool, &|_| None, std::path::Path::new("."))
            .unwrap_or_else(|p| panic!("fuzz config: {p}"));
        let one = |i: usize| (cfg.bots[i].id.clone(), cfg.bots[i].adapter().expect("adapter"));
        [one(0), one(1), one(2)]
    })
}

/// Runs `adapter` on a request: it may reject anything, but must not panic.
pub fn handle(bot: &BotId, adapter: &Adapter, headers: &[(String, String)], body: &[u8]) {
    let mut map = http::HeaderMap::new();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (http::HeaderName::from_bytes(k.as_bytes()), http::HeaderValue::from_str(v)) {
            map.append(k, v);
        }
    }
    let req = Inbound { bot, headers: &map, body, now_ms: NOW_SECS * 1000, request_id: RequestId::new() };
    let _ = adapter.handle(&req);
}
