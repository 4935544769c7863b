//! Arbitrary headers and body at each platform's verifier: whatever the
//! bytes, a request is answered (most are rejected), never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    // The first line holds header values separated by \0; the rest is the body.
    let (head, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&rest[..0], rest),
    };
    let values: Vec<String> = head.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
    let names = [
        "X-Signature-Ed25519",
        "X-Signature-Timestamp",
        "X-Bot-Appid",
        "X-Lark-Request-Timestamp",
        "X-Lark-Request-Nonce",
        "X-Lark-Signature",
        "X-Signature",
        "X-Self-ID",
        "Content-Type",
    ];
    let headers: Vec<(String, String)> = names.iter().map(|n| n.to_string()).zip(values).collect();
    let (bot, adapter) = &botq_fuzz::adapters()[usize::from(selector) % 3];
    botq_fuzz::handle(bot, adapter, &headers, body);
});
