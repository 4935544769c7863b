//! A scriptable [`Handler`] for engine tests: each attempt does what the
//! test's script says (succeed, fail with a given error, panic, sleep), and
//! every attempt is recorded with how many ran at once, overall and per chat,
//! so a test can assert one handling per event, retries, concurrency caps and
//! per-chat order against the real engine.

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
