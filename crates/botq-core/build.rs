//! Build identity: the git commit this build comes from, as `BOTQ_GIT_SHA`.
//!
//! `BOTQ_GIT_SHA` from the environment wins (container builds, which copy
//! the sources without `.git`, pass it as a build argument); otherwise
//! `git rev-parse`; otherwise `unknown`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=BOTQ_GIT_SHA");
    for path in ["../../.git/HEAD", "../../.git/refs/heads", "../../.git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let sha = std::env::var("BOTQ_GIT_SHA").ok().filter(|s| !s.is_empty()).or_else(|| {
        let out = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    let sha = sha.filter(|s| s.bytes().all(|b| b.is_ascii_alphanumeric())).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=BOTQ_GIT_SHA={sha}");
}
