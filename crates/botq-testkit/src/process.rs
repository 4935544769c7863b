//! The real binaries as child processes: start with a config file, probe with
//! their own `healthcheck` subcommand, stop with SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A config file from [`write_config`], removed on drop.
pub use tempfile::TempPath;

/// A botq binary running as a child process; killed on drop if still running.
#[derive(Debug)]
pub struct ServiceProcess {
    bin: PathBuf,
    config: PathBuf,
    /// Extra environment of the process; its `healthcheck` runs with it too.
    env: Vec<(String, String)>,
    child: Child,
    /// The process's stderr (its log lines), kept for [`ServiceProcess::log`].
    log: PathBuf,
}

/// A workspace binary built beside the running test executable
/// (`target/<profile>/<name>`), for tests outside the binary's own package.
///
/// # Panics
/// When it has not been built; `make test` builds every binary first
/// (`cargo build --workspace --bins`).
#[must_use]
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<name>
    let path = exe.parent().and_then(Path::parent).map(|dir| dir.join(name)).expect("target/<profile>/deps");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first (make test does)",
        path.display()
    );
    path
}

/// Redis URLs in each form botq takes, each with a password (`hunter2…`)
/// that no log line may show.
pub const URLS_WITH_PASSWORDS: [&str; 2] =
    ["unix:///nonexistent/botq.sock?db=0&user=ops&pass=hunter2u", "redis://ops:hunter2t@127.0.0.1:1/0"];

/// Runs `bin` with `config` once per [`URLS_WITH_PASSWORDS`] entry (as
/// `BOTQ_REDIS_URL`) until its log has every line of `wait_for`, and
/// asserts that the log never shows the password and names the URL
/// redacted (`***`).
///
/// # Panics
/// A line that does not come within 10 s, or a log that shows the password.
pub fn assert_logs_hide_redis_passwords(bin: &Path, config: &Path, wait_for: &[&str]) {
    for url in URLS_WITH_PASSWORDS {
        let svc = ServiceProcess::start_with_env(bin, config, &[("BOTQ_REDIS_URL", url)]);
        for line in wait_for {
            assert!(svc.wait_log(line, Duration::from_secs(10)), "{line}: {}", svc.log());
        }
        let log = svc.log();
        svc.kill();
        assert!(!log.contains("hunter2"), "{log}");
        assert!(log.contains("***"), "the start line names the URL, redacted: {log}");
    }
}

/// Writes `toml` to a fresh temp file; the file is removed when the returned
/// path is dropped, so a day of test runs leaves no configs behind.
///
/// # Panics
/// When the temp dir is not writable.
#[must_use]
pub fn write_config(toml: &str) -> TempPath {
    let mut file = tempfile::Builder::new().prefix("botq-").suffix(".toml").tempfile().expect("create temp config");
    std::io::Write::write_all(&mut file, toml.as_bytes()).expect("write temp config");
    file.into_temp_path()
}

/// Runs `bin --config config <args>` to completion.
///
/// # Panics
/// When the binary cannot be started.
#[must_use]
pub fn run_to_end(bin: &Path, config: &Path, args: &[&str]) -> Output {
    command(bin, config).args(args).output().expect("run binary")
}

/// `bin --config config`, the start of every command line run here.
fn command(bin: &Path, config: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("--config").arg(config);
    cmd
}

impl ServiceProcess {
    /// Starts `bin --config config`; its JSON log lines go to a temp file.
    ///
    /// # Panics
    /// When the binary cannot be started.
    #[must_use]
    pub fn start(bin: &Path, config: &Path) -> Self {
        Self::start_with_env(bin, config, &[])
    }

    /// As [`ServiceProcess::start`], with extra environment variables.
    ///
    /// # Panics
    /// When the binary cannot be started.
    #[must_use]
    pub fn start_with_env(bin: &Path, config: &Path, env: &[(&str, &str)]) -> Self {
        let log = std::env::temp_dir().join(format!("botq-{}.log", uuid::Uuid::now_v7().simple()));
        let log_file = std::fs::File::create(&log).expect("create the log file");
        let child = command(bin, config)
            .env("BOTQ_LOG_FORMAT", "json")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start binary");
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Self { bin: bin.to_owned(), config: config.to_owned(), env, child, log }
    }

    /// Everything the process logged so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; `false` when `within` passed first.
    #[must_use]
    pub fn wait_log(&self, needle: &str, within: Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        while !self.log().contains(needle) {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Sends SIGHUP (config reload).
    ///
    /// # Panics
    /// When `kill` cannot be run.
    pub fn hangup(&self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-HUP", &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -HUP {pid}");
    }

    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls the binary's own `healthcheck` subcommand (with the process's
    /// environment, so an overridden admin address is the one probed) until
    /// it succeeds.
    #[must_use]
    pub fn wait_ready(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let probe = command(&self.bin, &self.config)
                .arg("healthcheck")
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .output()
                .expect("run healthcheck");
            if probe.status.success() {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// SIGKILL, and waits for the exit: the process gets no chance to clean up.
    pub fn kill(self) {
        drop(self);
    }

    /// Sends SIGTERM and waits up to `within` for the exit.
    ///
    /// # Panics
    /// When `kill` cannot be run or the process does not exit in time.
    pub fn terminate(mut self, within: Duration) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit within {within:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
        drop(std::fs::remove_file(&self.log));
    }
}
