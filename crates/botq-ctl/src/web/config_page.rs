//! The config: what `botqctl config check` says about the file (problems
//! and warnings with their key paths), and the settings in effect (every
//! default filled in, the environment overrides applied), each literal
//! secret and the Redis password as `***`.

use axum::Extension;
use axum::extract::State;
use botq_core::config::{Config, Problems, Service};
use maud::{Markup, html};

use super::Shared;
use super::access::Session;
use super::error::WebError;
use super::layout::{self, Nav, badge};

/// The whole config, as the services would load it.
///
/// # Errors
/// Its problems.
pub fn full_config(c: &Shared) -> Result<Config, Problems> {
    Config::load(&c.config_path, Service::Tool)
}

/// `GET /config`.
pub async fn page(State(c): State<Shared>, Extension(s): Extension<Session>) -> Result<Markup, WebError> {
    let checked = full_config(&c);
    let text = std::fs::read_to_string(&c.config_path);
    let effective = text
        .as_ref()
        .map_err(ToString::to_string)
        .and_then(|t| botq_core::config::effective_toml(t, &|k| std::env::var(k).ok()).map_err(|p| p.to_string()));
    let body = html! {
        p.muted { "File: " code { (c.config_path.display()) } }
        h2 { "Check" }
        @match &checked {
            Ok(cfg) => {
                p { (badge("ok", "valid")) " " (cfg.bots.len()) " bots, " (cfg.skills.len()) " skills" }
                @let warnings = cfg.warnings();
                @if !warnings.is_empty() {
                    div.wrap { table {
                        thead { tr { th { "Warning at" } th { "What" } } }
                        tbody { @for w in &warnings { tr { td { code { (w.path) } } td { (w.message) } } } }
                    } }
                }
            }
            Err(problems) => {
                p { (badge("bad", "invalid")) " the services would refuse to start with this file" }
                div.wrap { table {
                    thead { tr { th { "Problem at" } th { "What" } } }
                    tbody { @for p in &problems.0 { tr { td { code { (p.path) } } td { (p.message) } } } }
                } }
            }
        }
        h2 { "Effective settings" }
        p.hint { "Defaults filled in, environment overrides applied; literal secrets and the Redis password are shown as ***." }
        @match &effective {
            Ok(t) => pre { (t) },
            Err(e) => p.problem { (e) },
        }
    };
    Ok(layout::page(&c, &s, Nav::Config, "Config", &body))
}
