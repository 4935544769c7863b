//! A real `redis-server` child process for one test.
//!
//! Each server gets a free loopback port and its own temp directory, runs
//! without persistence unless asked, and is killed on drop. `stop` and
//! `start` keep the port, so a test can take Redis away and bring it back
//! under a running service.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) `redis-server` owned by a test.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    durable: bool,
    /// Extra `redis-server` arguments (cluster mode).
    extra: Vec<String>,
    child: Option<Child>,
}

const INSTALL_HINT: &str = "redis-server was not found on PATH. The tests need a real Redis 7: \
     install it with `apt-get install redis-server` (Debian/Ubuntu) or `make deps`.";

impl RedisServer {
    /// Starts a server on a free port.
    ///
    /// # Panics
    /// When `redis-server` is missing or does not come up: tests must fail loudly.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// Starts a server with an append-only file fsynced on every write, so a
    /// SIGKILL loses nothing it acknowledged and `start_again` restores it.
    ///
    /// # Panics
    /// As [`RedisServer::start`].
    #[must_use]
    pub fn start_durable() -> Self {
        Self::start_with(true)
    }

    /// Starts a node with cluster mode on (no slots yet): see [`RedisCluster`].
    ///
    /// # Panics
    /// As [`RedisServer::start`].
    #[must_use]
    pub fn start_cluster_node() -> Self {
        Self::start_with_args(false, |_| {
            // The cluster bus needs a second port; keep it out of the ephemeral range too.
            vec![
                "--cluster-enabled".into(),
                "yes".into(),
                "--cluster-port".into(),
                free_port().to_string(),
                "--cluster-node-timeout".into(),
                "3000".into(),
            ]
        })
    }

    fn start_with(durable: bool) -> Self {
        Self::start_with_args(durable, |_| Vec::new())
    }

    fn start_with_args(durable: bool, extra: impl Fn(u16) -> Vec<String>) -> Self {
        for _ in 0..5 {
            let port = free_port();
            let dir = std::env::temp_dir().join(format!("botq-redis-{}-{port}", std::process::id()));
            drop(std::fs::remove_dir_all(&dir));
            std::fs::create_dir_all(&dir).expect("create redis temp dir");
            let mut s = Self { port, dir, durable, extra: extra(port), child: None };
            // Another process may take the port between our probe and redis's bind: try another.
            if s.spawn().is_ok() {
                return s;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// Starts the child and waits for PING. `Err` when it exited at once
    /// (typically: port taken).
    fn spawn(&mut self) -> Result<(), ()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(if self.durable {
                ["--appendonly", "yes", "--appendfsync", "always"]
            } else {
                ["--appendonly", "no", "--appendfsync", "everysec"]
            })
            .args(["--dir", &self.dir.to_string_lossy()])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{INSTALL_HINT}"),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(_)) = child.try_wait() {
                return Err(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(child.kill());
        panic!("redis-server on port {} did not answer PING within 10 s", self.port);
    }

    fn ping(&self) -> bool {
        ::redis::Client::open(self.url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| ::redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A blocking connection for assertions.
    ///
    /// # Panics
    /// When the server is not reachable.
    #[must_use]
    pub fn conn(&self) -> ::redis::Connection {
        ::redis::Client::open(self.url()).and_then(|c| c.get_connection()).expect("connect to test redis")
    }

    /// botq's own Redis handle to this server, as the services make it
    /// (lazy, multiplexed, 2 s timeouts).
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    #[must_use]
    pub fn redis(&self) -> botq_core::redis_conn::Redis {
        let target = botq_core::redis_conn::Target { url: self.url().into(), cluster: false };
        botq_core::redis_conn::connect_lazy(&target, std::time::Duration::from_secs(2)).expect("a valid redis url")
    }

    /// An async connection for assertions and for botq's own Redis helpers
    /// (queue, DLQ, audit readers).
    ///
    /// # Panics
    /// When the server is not reachable.
    pub async fn async_conn(&self) -> ::redis::aio::MultiplexedConnection {
        let client = ::redis::Client::open(self.url()).expect("test redis url");
        client.get_multiplexed_async_connection().await.expect("connect to test redis")
    }

    /// Keeps the server busy for `how_long` with a script (Redis runs one
    /// command at a time, so every other client waits), on a thread; join it
    /// to know the server is free again. `DEBUG SLEEP` would do, but Redis 7
    /// disables `DEBUG` by default.
    ///
    /// # Panics
    /// (On join) when the script fails.
    #[must_use]
    pub fn busy_for(&self, how_long: Duration) -> std::thread::JoinHandle<()> {
        let mut conn = self.conn();
        let script = "local s = redis.call('TIME') while true do local n = redis.call('TIME') \
            if (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > tonumber(ARGV[1]) then return 0 end end";
        let micros = how_long.as_micros();
        std::thread::spawn(move || {
            let _: i64 =
                ::redis::cmd("EVAL").arg(script).arg(0).arg(micros.to_string()).query(&mut conn).expect("busy script");
        })
    }

    /// Kills the server (SIGKILL: nothing is saved), keeping the port for `start_again`.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            drop(c.kill());
            drop(c.wait());
        }
    }

    /// Starts the server again on the same port: empty, or with everything it
    /// acknowledged when it was started with [`RedisServer::start_durable`].
    ///
    /// # Panics
    /// When the port was taken meanwhile or the server does not come up.
    pub fn start_again(&mut self) {
        self.stop();
        for _ in 0..50 {
            if self.spawn().is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server could not restart on port {}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        drop(std::fs::remove_dir_all(&self.dir));
    }
}

/// A port that was free a moment ago, below Linux's ephemeral range
/// (32768–60999) so outgoing connections of the tests cannot be handed it.
///
/// # Panics
/// When no port in 20000–32767 can be bound after many tries.
#[must_use]
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let port = rand::random_range(20_000..32_768);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000-32767");
}

/// A real Redis Cluster of `masters` nodes on loopback (no replicas), slots
/// split evenly, ready when every node reports `cluster_state:ok`.
#[derive(Debug)]
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// # Panics
    /// When a node does not start or the cluster does not form within 20 s.
    #[must_use]
    pub fn start(masters: u16) -> Self {
        let nodes: Vec<RedisServer> = (0..masters).map(|_| RedisServer::start_cluster_node()).collect();
        let per = 16_384 / masters;
        for (i, node) in (0u16..).zip(&nodes) {
            let first = i * per;
            let last = if i + 1 == masters { 16_383 } else { first + per - 1 };
            let _: () = ::redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(first)
                .arg(last)
                .query(&mut node.conn())
                .expect("CLUSTER ADDSLOTSRANGE");
        }
        for node in &nodes[1..] {
            let _: () = ::redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(node.port())
                .arg(cluster_bus_port(node))
                .query(&mut nodes[0].conn())
                .expect("CLUSTER MEET");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = nodes.iter().all(|n| {
                let info: String = ::redis::cmd("CLUSTER").arg("INFO").query(&mut n.conn()).unwrap_or_default();
                info.contains("cluster_state:ok") && info.contains(&format!("cluster_known_nodes:{masters}"))
            });
            if ok {
                return Self { nodes };
            }
            assert!(Instant::now() < deadline, "the cluster did not form within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A seed node's URL (botq discovers the rest).
    #[must_use]
    pub fn url(&self) -> String {
        self.nodes[0].url()
    }

    /// A cluster connection for assertions.
    ///
    /// # Panics
    /// When the cluster is not reachable.
    #[must_use]
    pub fn conn(&self) -> ::redis::cluster::ClusterConnection {
        ::redis::cluster::ClusterClient::new(vec![self.url()])
            .and_then(|c| c.get_connection())
            .expect("connect to the test cluster")
    }
}

fn cluster_bus_port(node: &RedisServer) -> u16 {
    let i = node.extra.iter().position(|a| a == "--cluster-port").expect("a cluster node");
    node.extra[i + 1].parse().expect("a port")
}
