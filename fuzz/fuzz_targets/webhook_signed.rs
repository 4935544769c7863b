//! Arbitrary bodies signed (and for Lark encrypted) with the bots' real
//! secrets, so they pass verification and reach each platform's parser:
//! every body is answered or rejected, never a panic.
#![no_main]

use botq_testkit::sign;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let now = botq_fuzz::NOW_SECS;
    let (i, hook) = match selector % 3 {
        0 => (0, sign::qq("102000000", botq_fuzz::QQ_SECRET, now, body)),
        1 => (1, sign::lark(Some(botq_fuzz::LARK_KEY), now, body)),
        _ => (2, sign::onebot("10001000", Some(botq_fuzz::ONEBOT_SECRET), body)),
    };
    let (bot, adapter) = &botq_fuzz::adapters()[i];
    botq_fuzz::handle(bot, adapter, &hook.headers, &hook.body);
});
