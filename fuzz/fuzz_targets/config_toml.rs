//! The config file: any text loads or yields problems with key paths,
//! never a panic.
#![no_main]

use botq_core::config::{Config, Service};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Config::from_toml(text, Service::Ingest, &|_| None, std::path::Path::new("/nonexistent"));
});
