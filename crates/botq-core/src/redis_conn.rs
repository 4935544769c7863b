//! Connections to Redis, standalone or Redis Cluster, behind one type.
//!
//! Request paths (ingest's webhook, the worker's scripts, readiness probes)
//! share one [`Redis`]: against a standalone server a multiplexed,
//! auto-reconnecting [`ConnectionManager`] (concurrent requests are pipelined
//! on one socket and a checkout costs no extra round trip — a pool that PINGs
//! on checkout would double the webhook's Redis time); against a cluster a
//! multiplexed [`ClusterConnection`], which routes each command by its key's
//! slot, follows `MOVED`/`ASK` and refreshes the slot map. Both connect
//! lazily, so a service starts while Redis is down and reports not-ready
//! until it is up.
//!
//! Blocking reads (the worker's `XREADGROUP BLOCK`) hold a connection for the
//! whole block and so need their own: [`Blocking`] hands each reader one
//! (a deadpool pool of standalone connections, or a dedicated cluster
//! connection per reader).
//!
//! Cluster correctness rests on the key layout (`keys.rs`): every key one
//! script or pipeline touches carries the same `{hash tag}`. The one
//! keyspace-wide read, [`Redis::scan_match`], walks every master in turn,
//! because a `SCAN` sees the keys of the node it runs on only.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

/// Where Redis is: one server, or a cluster reached through a seed node.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: SecretString,
    pub cluster: bool,
}

/// A lazily connecting, self-healing connection to a server or a cluster.
/// Clones share the connection. Every call must still be bounded by the
/// caller's own timeout: while Redis is down, a call waits for the reconnect
/// attempt (each bounded by the connect timeout).
#[derive(Clone)]
pub struct Redis(Inner);

#[derive(Clone)]
enum Inner {
    Single(ConnectionManager),
    Cluster(LazyCluster),
}

#[derive(Clone)]
struct LazyCluster {
    client: Arc<ClusterClient>,
    conn: Arc<OnceCell<ClusterConnection>>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Inner::Single(_) => "Redis(standalone)",
            Inner::Cluster(_) => "Redis(cluster)",
        })
    }
}

impl LazyCluster {
    /// The shared connection, connecting on first use (and again after a
    /// failed first connect; once up, the cluster connection heals itself).
    async fn get(&self) -> redis::RedisResult<ClusterConnection> {
        self.conn.get_or_try_init(|| self.client.get_async_connection()).await.cloned()
    }
}

/// Runs a Redis call within `limit`; running out of time is an I/O timeout
/// error (`RedisError::is_timeout` is true), like the connection's own.
///
/// # Errors
/// The call's error, or the timeout.
pub async fn bounded<T, E: From<redis::RedisError>>(
    limit: Duration,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        let timeout = std::io::Error::new(std::io::ErrorKind::TimedOut, "redis did not answer in time");
        Err(E::from(redis::RedisError::from(timeout)))
    })
}

/// Connects lazily to `target`; every command is bounded by `timeout`.
///
/// # Errors
/// An invalid URL.
pub fn connect_lazy(target: &Target, timeout: Duration) -> Result<Redis, redis::RedisError> {
    if target.cluster {
        let client = cluster_client(target, timeout, timeout)?;
        return Ok(Redis(Inner::Cluster(LazyCluster { client: Arc::new(client), conn: Arc::new(OnceCell::new()) })));
    }
    let client = redis::Client::open(target.url.expose_secret())?;
    let cfg = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(20))
        .set_max_delay(Duration::from_millis(500));
    Ok(Redis(Inner::Single(ConnectionManager::new_lazy_with_config(client, cfg)?)))
}

fn cluster_client(target: &Target, connect: Duration, response: Duration) -> redis::RedisResult<ClusterClient> {
    ClusterClient::builder(vec![target.url.expose_secret()])
        .connection_timeout(connect)
        .response_timeout(response)
        .retries(2)
        .min_retry_wait(20)
        .max_retry_wait(500)
        .build()
}

impl ConnectionLike for Redis {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.0 {
            Inner::Single(c) => c.req_packed_command(cmd),
            Inner::Cluster(lazy) => Box::pin(async move { lazy.get().await?.req_packed_command(cmd).await }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.0 {
            Inner::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Inner::Cluster(lazy) => {
                Box::pin(async move { lazy.get().await?.req_packed_commands(pipeline, offset, count).await })
            }
        }
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// Keys one `SCAN` call is asked to visit ([`Redis::scan_match`]).
const SCAN_COUNT: usize = 1000;

impl Redis {
    /// The keys matching `pattern` (sorted, each once), and whether the scan
    /// stopped at `budget` with keys left unvisited.
    ///
    /// For keys no index lists (the worker's storm counters and cooldowns,
    /// for the console): `SCAN cursor MATCH pattern COUNT 1000` until the
    /// cursor comes back to 0 or `budget` keys were visited in all (each
    /// call counts as 1000, matching or not), so a
    /// large keyspace costs a bounded number of round trips and never blocks
    /// Redis the way `KEYS` does.
    ///
    /// A `SCAN` walks the keyspace of the node it runs on, so on a cluster
    /// every master is scanned in turn, sharing the budget (masters left
    /// when it is spent make the result cut). The masters are the ones the
    /// client's slot map knows, so a node that just joined or failed over is
    /// scanned after the map's next refresh. As with `SCAN` itself, a key
    /// created, deleted or moved to another master during the scan may or
    /// may not be in the result; every key that stayed where it was is.
    ///
    /// # Errors
    /// The connection's or a node's error (one master not answering fails
    /// the whole scan rather than return part of the keyspace as all of it).
    pub async fn scan_match(&mut self, pattern: &str, budget: usize) -> RedisResult<(Vec<String>, bool)> {
        let mut scan = KeyScan { pattern, budget, visited: 0, found: Vec::new() };
        let complete = match &mut self.0 {
            Inner::Single(c) => scan.node(&mut Node::Single(c)).await?,
            Inner::Cluster(lazy) => {
                let mut conn = lazy.get().await?;
                let mut complete = true;
                for (host, port) in masters(&mut conn).await? {
                    if scan.visited >= scan.budget || !scan.node(&mut Node::Master(&mut conn, host, port)).await? {
                        complete = false;
                        break;
                    }
                }
                complete
            }
        };
        let mut found = scan.found;
        found.sort_unstable();
        found.dedup();
        Ok((found, !complete))
    }
}

/// A [`Redis::scan_match`] under way: what it found and spent so far.
struct KeyScan<'p> {
    pattern: &'p str,
    budget: usize,
    visited: usize,
    found: Vec<String>,
}

/// The server one `SCAN` cursor belongs to.
enum Node<'c> {
    Single(&'c mut ConnectionManager),
    /// A master by address (`host`, `port`): a cursor is only valid on the
    /// node that issued it, so every call of one scan goes there.
    Master(&'c mut ClusterConnection, String, u16),
}

impl Node<'_> {
    async fn query<T: FromRedisValue>(&mut self, cmd: Cmd) -> RedisResult<T> {
        match self {
            Self::Single(c) => cmd.query_async(&mut **c).await,
            Self::Master(c, host, port) => {
                let at = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.clone(), port: *port });
                Ok(redis::from_redis_value(c.route_command(cmd, at).await?.extract_error()?)?)
            }
        }
    }
}

impl KeyScan<'_> {
    /// Scans one node from the start: `true` when its cursor came back to
    /// 0, `false` when the budget ran out first.
    async fn node(&mut self, node: &mut Node<'_>) -> RedisResult<bool> {
        let mut cursor = 0u64;
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor).arg("MATCH").arg(self.pattern).arg("COUNT").arg(SCAN_COUNT);
            let (next, keys): (u64, Vec<String>) = node.query(cmd).await?;
            self.found.extend(keys);
            self.visited += SCAN_COUNT;
            if next == 0 {
                return Ok(true);
            }
            if self.visited >= self.budget {
                return Ok(false);
            }
            cursor = next;
        }
    }
}

/// The cluster's masters as `(host, port)`, sorted, as the client's slot map
/// knows them: a command fanned out to every master with no response policy
/// answers with a map from each node's `host:port` to its reply, in the very
/// addresses `ByAddress` routing takes (no second view of the topology, as
/// parsing `CLUSTER SHARDS` would be).
async fn masters(conn: &mut ClusterConnection) -> RedisResult<Vec<(String, u16)>> {
    let every = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
    let replies: BTreeMap<String, Value> =
        redis::from_redis_value(conn.route_command(redis::cmd("PING"), every).await?.extract_error()?)?;
    replies
        .into_keys()
        .map(|addr| {
            let parsed = addr.rsplit_once(':').and_then(|(host, port)| Some((host.to_owned(), port.parse().ok()?)));
            parsed.ok_or_else(|| RedisError::from((ErrorKind::Client, "a cluster node address without a port", addr)))
        })
        .collect()
}

/// Connections for blocking reads, one per reader.
#[derive(Clone)]
pub enum Blocking {
    Single(deadpool_redis::Pool),
    Cluster(Arc<ClusterClient>),
}

impl std::fmt::Debug for Blocking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "Blocking(standalone)",
            Self::Cluster(_) => "Blocking(cluster)",
        })
    }
}

/// A connection a reader holds while it blocks.
pub enum BlockingConn {
    Pooled(deadpool_redis::Connection),
    Cluster(ClusterConnection),
}

impl Blocking {
    /// `readers` connections at most; a read may block for `block`, so the
    /// response timeout is `block + timeout` (a blocked read must not trip it).
    ///
    /// # Errors
    /// An invalid URL.
    pub fn new(target: &Target, readers: usize, block: Duration, timeout: Duration) -> anyhow::Result<Self> {
        if target.cluster {
            return Ok(Self::Cluster(Arc::new(cluster_client(target, timeout, block + timeout)?)));
        }
        let conn_cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(block + timeout));
        let manager = deadpool_redis::Manager::new_with_config(target.url.expose_secret(), conn_cfg)?;
        let pool = deadpool_redis::Pool::builder(manager)
            .max_size(readers)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .runtime(deadpool_redis::Runtime::Tokio1)
            .build()?;
        Ok(Self::Single(pool))
    }

    /// A connection for one reader to keep while it works.
    ///
    /// # Errors
    /// Redis unreachable, or the pool exhausted within the timeout.
    pub async fn get(&self) -> redis::RedisResult<BlockingConn> {
        match self {
            Self::Single(pool) => pool.get().await.map(BlockingConn::Pooled).map_err(|e| match e {
                deadpool_redis::PoolError::Backend(e) => e,
                other => redis::RedisError::from(std::io::Error::other(other.to_string())),
            }),
            Self::Cluster(client) => client.get_async_connection().await.map(BlockingConn::Cluster),
        }
    }
}

impl ConnectionLike for BlockingConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Pooled(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Pooled(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// `PING` within `timeout`: is Redis reachable right now?
pub async fn ping<C: ConnectionLike + Send>(conn: &mut C, timeout: Duration) -> bool {
    let cmd = redis::cmd("PING");
    matches!(tokio::time::timeout(timeout, cmd.query_async::<String>(conn)).await, Ok(Ok(_)))
}

/// Whether Redis is refusing writes for lack of memory: `maxmemory` set,
/// `noeviction`, and the memory that counts against it (used memory less
/// the AOF and replication buffers, as Redis counts it) past the limit.
/// Then every webhook would be refused, so readiness says so. `false` when
/// `INFO memory` cannot be read (a proxy that forbids it): PING decides then.
pub async fn refuses_writes<C: ConnectionLike + Send>(conn: &mut C, timeout: Duration) -> bool {
    let mut cmd = redis::cmd("INFO");
    cmd.arg("memory");
    let Ok(Ok(info)) = tokio::time::timeout(timeout, cmd.query_async::<String>(conn)).await else { return false };
    let field =
        |name: &str| info.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':'))).map(str::trim);
    let number = |name: &str| field(name).and_then(|v| v.parse::<u64>().ok());
    let (Some(used), Some(max)) = (number("used_memory"), number("maxmemory")) else { return false };
    let not_counted = number("mem_not_counted_for_evict").unwrap_or(0);
    max > 0 && field("maxmemory_policy") == Some("noeviction") && used.saturating_sub(not_counted) > max
}

/// What is risky about this Redis for a queue, in words an operator can act on.
///
/// botq's guarantee "ack means durable" holds only as far as Redis keeps what
/// it acknowledged: an eviction policy other than `noeviction` lets Redis drop
/// queued events under memory pressure, and a Redis without AOF or snapshots
/// loses everything on restart. Managed Redis often disables `CONFIG`; then
/// nothing can be checked and nothing is reported. (On a cluster, `CONFIG
/// GET` goes to one node: configure every node alike.)
pub async fn server_warnings<C>(conn: &mut C) -> Vec<String>
where
    C: ConnectionLike + Send,
{
    let get = |name: &'static str| {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("GET").arg(name);
        cmd
    };
    let mut warnings = Vec::new();
    if let Ok((_, policy)) = get("maxmemory-policy").query_async::<(String, String)>(conn).await
        && policy != "noeviction"
    {
        warnings.push(format!(
            "Redis maxmemory-policy is {policy}: under memory pressure Redis may evict queued events; set it to noeviction"
        ));
    }
    let aof = get("appendonly").query_async::<(String, String)>(conn).await.ok().map(|(_, v)| v);
    let save = get("save").query_async::<(String, String)>(conn).await.ok().map(|(_, v)| v);
    if let (Some(aof), Some(save)) = (aof, save)
        && aof == "no"
        && save.trim().is_empty()
    {
        warnings.push(
            "Redis has no persistence (appendonly no, no save points): a Redis restart loses every queued event; enable AOF (appendonly yes, appendfsync everysec or always)".to_owned(),
        );
    }
    warnings
}
