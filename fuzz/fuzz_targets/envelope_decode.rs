//! Stream entries are decoded by every worker: any bytes decode or fail
//! with an error, and what decodes encodes back to itself.
#![no_main]

use botq_core::envelope::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::decode(data) {
        let again = Envelope::decode(&env.encode()).expect("an encoded envelope decodes");
        assert_eq!(again, env);
    }
});
