//! botq-fakeplatform over real HTTP on 127.0.0.1:0, driven with reqwest.
//!
//! Each test starts its own fake (in-process, through the same `run` the
//! binary calls) and asserts on HTTP answers and on what the fake recorded.
//! Tests that cross a window or an expiry move a manual clock, never sleep.

mod binary;
mod control;
mod lark;
mod onebot;
mod qq;
mod support;
