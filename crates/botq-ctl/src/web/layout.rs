//! The page shell (head, navigation, footer) and the small pieces every
//! page uses: times, ages, status badges, the hidden CSRF field.

use maud::{DOCTYPE, Markup, html};

use super::Shared;
use super::access::{CSRF_FIELD, Session};

/// The sections of the console, in navigation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Fleet,
    DeadLetters,
    Audit,
    Chats,
    Config,
}

const NAV: [(Nav, &str, &str); 6] = [
    (Nav::Overview, "/", "Overview"),
    (Nav::Fleet, "/fleet", "Fleet"),
    (Nav::DeadLetters, "/dead-letters", "Dead letters"),
    (Nav::Audit, "/audit", "Audit"),
    (Nav::Chats, "/chats", "Chats"),
    (Nav::Config, "/config", "Config"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · botq console" }
            link rel="stylesheet" href="/assets/console.css";
            link rel="icon" href="/assets/favicon.svg" type="image/svg+xml";
            script src="/assets/console.js" defer {}
        }
    }
}

fn brand(c: Option<&Shared>) -> Markup {
    html! {
        a.brand href="/" { span.logo { "bq" } " botq" }
        @if let Some(c) = c {
            span.where title="key prefix and Redis" {
                code { (c.settings.key_prefix) } " on " code { (c.settings.redis_url_redacted()) }
            }
        }
    }
}

/// A full page: navigation with `current` marked, then `body`.
pub fn page(c: &Shared, s: &Session, current: Nav, title: &str, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    (brand(Some(c)))
                    nav {
                        @for (nav, href, label) in NAV {
                            a href=(href) aria-current=[(nav == current).then_some("page")] { (label) }
                        }
                    }
                    div.session {
                        @if c.read_only { span.badge.neutral title="started with --read-only" { "read-only" } }
                        @if s.signed_in {
                            form method="post" action="/logout" {
                                (csrf(s))
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { h1 { (title) } (body) }
                (footer())
            }
        }
    }
}

/// A page without navigation (sign-in).
pub fn bare(c: &Shared, title: &str, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { header.top { (brand(Some(c))) } main { (body) } (footer()) }
        }
    }
}

/// A page that needs nothing of the console (errors before any state).
pub fn standalone(title: &str, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { header.top { (brand(None)) } main { (body) } (footer()) }
        }
    }
}

fn footer() -> Markup {
    html! { footer { "botqctl " (botq_core::build::LONG_VERSION) } }
}

/// The hidden field every form carries.
pub fn csrf(s: &Session) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(s.csrf); }
}

/// Unix ms as a UTC timestamp to the second, with the millisecond one as a tooltip.
pub fn when(ms: i64) -> Markup {
    let full = botq_core::rfc3339::format_unix_ms(ms);
    let short = full.get(..19).map_or(full.clone(), |s| s.replace('T', " "));
    html! { time datetime=(full) title=(full) { (short) } }
}

/// How long ago `ms` was, in the largest unit that fits: `42 s`, `3 min`, `5 h`, `2 d`.
#[must_use]
pub fn age(ms: i64, now_ms: i64) -> String {
    let secs = (now_ms - ms).max(0) / 1000;
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86_400),
    }
}

/// A coloured status word. `kind` is one of `ok`, `warn`, `bad`, `neutral`.
pub fn badge(kind: &str, text: &str) -> Markup {
    html! { span class={ "badge " (kind) } { (text) } }
}

/// A count, with thin-space thousands so big numbers read at a glance.
#[must_use]
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(ch);
    }
    out
}

/// `1 dead letter`, `2 dead letters`, `1 234 dead letters`.
#[must_use]
pub fn counted(n: u64, thing: &str) -> String {
    if n == 1 { format!("1 {thing}") } else { format!("{} {thing}s", count(n)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_use_the_largest_unit_that_fits() {
        assert_eq!(age(0, 42_000), "42 s");
        assert_eq!(age(0, 180_000), "3 min");
        assert_eq!(age(0, 5 * 3_600_000 + 1), "5 h");
        assert_eq!(age(0, 2 * 86_400_000), "2 d");
        assert_eq!(age(10, 0), "0 s", "a clock a little ahead is not negative");
    }

    #[test]
    fn counts_group_thousands() {
        assert_eq!(count(7), "7");
        assert_eq!(count(1234), "1\u{2009}234");
        assert_eq!(count(1_234_567), "1\u{2009}234\u{2009}567");
    }

    #[test]
    fn one_thing_is_singular() {
        assert_eq!(counted(1, "dead letter"), "1 dead letter");
        assert_eq!(counted(0, "dead letter"), "0 dead letters");
        assert_eq!(counted(2000, "replica"), "2\u{2009}000 replicas");
    }

    #[test]
    fn every_interpolation_is_escaped() {
        let m = badge("ok", "<script>alert(1)</script>");
        assert!(!m.into_string().contains("<script>"));
    }
}
