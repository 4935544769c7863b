//! Shared helpers of the end-to-end tests (see `ingest_*.rs`).

use botq_testkit::fixtures::QQ_MAIN_BOT;
use botq_testkit::sign::Webhook;

/// The POST of `hook` (its headers and body) to `url`, ready to send.
pub fn request(client: &reqwest::Client, url: &str, hook: &Webhook) -> reqwest::RequestBuilder {
    hook.headers.iter().fold(client.post(url).body(hook.body.clone()), |req, (k, v)| req.header(k, v))
}

/// Posts a webhook and returns status, headers and body text.
///
/// # Panics
/// On a transport error: the services run on loopback and must answer.
pub async fn post(client: &reqwest::Client, url: &str, hook: &Webhook) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = request(client, url, hook).send().await.expect("ingest answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.expect("body"))
}

pub mod handler {
    //! A scriptable handler that records every attempt and how many ran at once.

    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use botq_core::envelope::Envelope;
    use botq_worker::{HandleError, HandleFuture, Handler, Job, SkillPlan};

    /// What the handler does on one attempt.
    #[derive(Debug, Clone)]
    pub enum Act {
        Succeed,
        Fail(HandleError),
        Panic,
        /// Succeed after this long (longer than the handler timeout = a timeout).
        Sleep(Duration),
    }

    type Script = Box<dyn Fn(&Job) -> Act + Send + Sync>;

    /// One recorded attempt.
    #[derive(Debug, Clone)]
    pub struct Call {
        pub event_id: String,
        pub chat_id: String,
        pub attempt: u32,
        pub at: Instant,
    }

    pub struct Recorder {
        script: Script,
        pub calls: Mutex<Vec<Call>>,
        /// Attempts that returned (any outcome).
        pub finished: AtomicUsize,
        active: AtomicUsize,
        pub max_active: AtomicUsize,
        active_per_chat: Mutex<HashMap<String, usize>>,
        /// Set when two attempts of one chat overlapped.
        pub chat_overlap: std::sync::atomic::AtomicBool,
        /// Every attempt also waits this long (to create overlap).
        pub dwell: Duration,
    }

    impl Recorder {
        pub fn rec(dwell: Duration, script: impl Fn(&Job) -> Act + Send + Sync + 'static) -> Rec {
            Rec(std::sync::Arc::new(Self {
                script: Box::new(script),
                calls: Mutex::new(Vec::new()),
                finished: AtomicUsize::new(0),
                active: AtomicUsize::new(0),
                max_active: AtomicUsize::new(0),
                active_per_chat: Mutex::new(HashMap::new()),
                chat_overlap: std::sync::atomic::AtomicBool::new(false),
                dwell,
            }))
        }

        pub fn rec_ok() -> Rec {
            Self::rec(Duration::ZERO, |_| Act::Succeed)
        }

        pub fn calls(&self) -> Vec<Call> {
            self.calls.lock().unwrap().clone()
        }

        pub fn calls_for(&self, event_id: &str) -> Vec<Call> {
            self.calls().into_iter().filter(|c| c.event_id == event_id).collect()
        }
    }

    /// A shared [`Recorder`], the handler the worker runs.
    #[derive(Clone)]
    pub struct Rec(pub std::sync::Arc<Recorder>);

    impl std::ops::Deref for Rec {
        type Target = Recorder;
        fn deref(&self) -> &Recorder {
            &self.0
        }
    }

    impl Handler for Rec {
        fn skill(&self, env: &Envelope) -> SkillPlan {
            SkillPlan::named(if env.text.starts_with("/slow") { "slow" } else { "default" })
        }

        fn handle(&self, job: Job) -> HandleFuture {
            let me = self.clone();
            Box::pin(async move {
                let env = job.envelope.clone();
                me.calls.lock().unwrap().push(Call {
                    event_id: env.event_id.clone(),
                    chat_id: env.chat_id.clone(),
                    attempt: job.attempt,
                    at: Instant::now(),
                });
                let now = me.active.fetch_add(1, Ordering::SeqCst) + 1;
                me.max_active.fetch_max(now, Ordering::SeqCst);
                {
                    let mut chats = me.active_per_chat.lock().unwrap();
                    let n = chats.entry(env.chat_id.clone()).or_default();
                    *n += 1;
                    if *n > 1 {
                        me.chat_overlap.store(true, Ordering::SeqCst);
                    }
                }
                let act = (me.script)(&job);
                if !me.dwell.is_zero() {
                    tokio::time::sleep(me.dwell).await;
                }
                let result = match act {
                    Act::Succeed => Ok(()),
                    Act::Fail(e) => Err(e),
                    Act::Panic => {
                        me.leave(&env.chat_id);
                        panic!("handler bug");
                    }
                    Act::Sleep(d) => {
                        tokio::time::sleep(d).await;
                        Ok(())
                    }
                };
                me.leave(&env.chat_id);
                result
            })
        }
    }

    impl Recorder {
        fn leave(&self, chat: &str) {
            self.active.fetch_sub(1, Ordering::SeqCst);
            if let Some(n) = self.active_per_chat.lock().unwrap().get_mut(chat) {
                *n -= 1;
            }
            self.finished.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Polls `cond` every 10 ms until it holds or `within` passes; returns whether it held.
pub async fn eventually(within: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Worker test config: fast ticks, short lease, deterministic backoff.
#[must_use]
pub fn worker_toml(worker_extra: &str) -> String {
    format!(
        r#"
[worker]
handler_timeout_secs = 1
lease_secs = 6
promote_interval_ms = 10
reclaim_interval_ms = 50
sample_interval_ms = 50
read_block_ms = 100
shutdown_grace_secs = 5
{worker_extra}
[worker.backoff]
initial_ms = 100
max_ms = 2000
multiplier = 2.0
jitter = 0.0
{QQ_MAIN_BOT}"#
    )
}

/// The `[worker]` tables of the reply tests: fast ticks, short timeouts,
/// deterministic backoff (100 ms doubling, at most 1 s).
pub const REPLY_WORKER: &str = r#"
[worker]
handler_timeout_secs = 5
lease_secs = 10
promote_interval_ms = 10
reclaim_interval_ms = 50
read_block_ms = 100
reply_timeout_secs = 2
[worker.backoff]
initial_ms = 100
max_ms = 1000
multiplier = 2.0
jitter = 0.0
"#;

/// botq-fakeplatform on a loopback port, running until dropped.
pub struct Fake {
    pub state: std::sync::Arc<botq_fakeplatform::FakeState>,
    _stop: tokio_util::sync::DropGuard,
}

impl Fake {
    /// Binds a loopback port, builds the config with it (`make(port)`: the
    /// bots' reply APIs point at the fake), and starts the fake for that
    /// config's bots.
    ///
    /// # Panics
    /// When no port can be bound or the config's bots do not suit the fake.
    pub async fn start(
        opts: botq_fakeplatform::Options,
        make: impl FnOnce(u16) -> botq_core::config::Config,
    ) -> (botq_core::config::Config, Self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let cfg = make(listener.local_addr().expect("local addr").port());
        let state = std::sync::Arc::new(botq_fakeplatform::FakeState::from_config(&cfg, opts).expect("fake bots"));
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(botq_fakeplatform::run(listener, state.clone(), stop.clone()));
        (cfg, Self { state, _stop: stop.drop_guard() })
    }
}
