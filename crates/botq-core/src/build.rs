//! What build is running: version and git commit, for `--version` on every
//! binary, the `botq_build_info{version,git_sha}` metric and the readiness
//! JSON, so "what is running?" has an answer in seconds.

/// The workspace version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit (12 hex digits), or `unknown` (see `build.rs`).
pub const GIT_SHA: &str = env!("BOTQ_GIT_SHA");

/// `<version> (<git sha>)`, what `--version` prints.
pub const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BOTQ_GIT_SHA"), ")");
