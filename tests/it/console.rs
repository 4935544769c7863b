//! The operator's console (`botqctl web`) against a real Redis: every page
//! and action, over real HTTP on loopback.
//!
//! Each test starts a `redis-server`, fills it through botq's own functions
//! (events enqueued and dead-lettered by `queue::finish` as a worker does,
//! audit entries, fleet heartbeats and a goodbye, a backlogged chat, a
//! history step), serves a [`Console`] on 127.0.0.1:0 and talks to it with
//! reqwest as a browser would, but by hand: no cookie store (the session
//! cookie is read from `set-cookie` and sent back), no redirects followed,
//! the CSRF token read from the page's hidden field.
//!
//! What is checked:
//! - every page answers with its data and the security headers;
//! - the dead-letter list pages through full DLQs newest first, each letter
//!   once, without reading a DLQ whole;
//! - replay and purge take two POSTs, the confirmation says how many, and a
//!   confirmation whose letters changed meanwhile changes nothing (409);
//! - every POST needs its session's CSRF token and the console's own origin;
//! - bad input is a 400 that names the field, never a 500;
//! - token mode signs in and out; loopback mode refuses a foreign `Host`;
//! - `read_only` refuses actions, `show_text` alone shows what users wrote;
//! - no page shows the bot's secret.

mod actions;
mod guards;
mod pages;
mod paging;
pub(crate) mod support;
