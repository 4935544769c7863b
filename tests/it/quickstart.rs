//! The quick start's settings (`deploy/quickstart.env`, which `make run`
//! and `make send` source) name what exists: a log filter whose target is a
//! module that moved matches nothing, and the README's "the logs follow the
//! request id from the webhook to the reply" silently stops being true.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository").to_path_buf()
}

/// The default of `BOTQ_LOG` in quickstart.env: `export BOTQ_LOG=${BOTQ_LOG:-…}`.
fn quickstart_log_filter() -> String {
    let env = std::fs::read_to_string(repo().join("deploy/quickstart.env")).unwrap();
    let line = env.lines().find(|l| l.starts_with("export BOTQ_LOG=")).expect("quickstart.env sets BOTQ_LOG");
    let value = line.split_once(":-").expect("a default").1;
    value.trim_end_matches('}').to_owned()
}

/// Where a tracing target (a module path) lives: `botq_worker::engine::job`
/// is `crates/botq-worker/src/engine/job.rs` (or `…/job/mod.rs`).
fn module_file(target: &str) -> Option<PathBuf> {
    let mut parts = target.split("::");
    let krate = parts.next()?.replace('_', "-");
    let src = repo().join("crates").join(krate).join("src");
    let path = parts.collect::<Vec<_>>().join("/");
    let candidates = if path.is_empty() {
        [src.join("lib.rs"), src.join("main.rs")]
    } else {
        [src.join(format!("{path}.rs")), src.join(&path).join("mod.rs")]
    };
    candidates.into_iter().find(|p| p.exists())
}

#[test]
fn the_quick_start_log_filter_names_modules_that_exist() {
    let filter = quickstart_log_filter();
    let targets: Vec<&str> = filter.split(',').filter_map(|d| d.split_once('=').map(|(t, _)| t)).collect();
    assert!(targets.len() >= 3, "debug lines for ingest, the worker and the fake: {filter}");
    for target in targets {
        assert!(module_file(target).is_some(), "BOTQ_LOG in quickstart.env names {target}: no such module");
    }
}
