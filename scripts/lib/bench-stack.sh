# shellcheck shell=bash
# Sourced by the benchmark scripts (bench-e2e, bench-burst, bench-soak,
# profile): the bench config they all derive, and one private botq stack on
# loopback — redis-server, botq-fakeplatform, botq-ingest, botq-worker —
# started, waited for and stopped the same way everywhere, so a fix to the
# start-up (a readiness wait, a port check) reaches every figure at once.
#
# The caller sets, before stack_start:
#   STACK_CFG                         the config (bench_config writes one)
#   STACK_REDIS_PORT                  redis-server's port
#   STACK_FAKE STACK_INGEST           host:port of the fake platform and of ingest
#   STACK_INGEST_ADMIN STACK_WORKER_ADMIN  host:port of the admin listeners
# and may set:
#   STACK_BIN                         the binaries (default target/release)
#   STACK_REDIS_ARGS (array)          persistence and where (default: none, no AOF)
#   STACK_REDIS_CLUSTER               N > 0: a Redis Cluster of N masters on
#                                     STACK_REDIS_PORT and the N-1 ports after it
#                                     (PID_REDIS_NODES lists them), instead of one Redis
#   STACK_FAKE_ARGS (array)           extra fake-platform flags (default: its
#                                     per-chat limits raised out of the way)
# stack_start refuses ports another process listens on, sets PID_REDIS
# PID_FAKE PID_INGEST PID_WORKER and appends them to `pids`, which
# stack_cleanup_on_exit kills.

pids=()

# stack_cleanup_on_exit PATH...: at exit, every process in `pids` killed and
# the PATHs (the config, a data directory) removed.
stack_cleanup_on_exit() {
  STACK_LITTER=("$@")
  trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "${STACK_LITTER[@]}"' EXIT
}

# bench_config FAKE_ADDR [LINE...]: crates/botq-bench/bench.example.toml with
# the real handler (bots: /ping → "pong", /echo), the reply APIs at
# FAKE_ADDR and botq's reply limits off (the load spreads over thousands of
# chats; the limits have their own tests); each LINE is added to every bot
# after its api_base. Written to stdout.
bench_config() {
  local fake=$1
  shift
  sed -e 's/^handler = "noop"/handler = "bots"/' -e "s#127.0.0.1:8090#$fake#g" crates/botq-bench/bench.example.toml |
    awk -v extra="$(printf '%s\n' "reply_limit = { chat_per_sec = 0.0, bot_per_sec = 0.0 }" "$@")" \
      '{print} /^api_base/ {print extra}'
}

# stack_ports_free ADDR...: exits when another run (a soak, say) owns one of
# the ports, rather than share it and measure both.
stack_ports_free() {
  local addr
  for addr in "$@"; do
    if ss -ltnH "sport = :${addr##*:}" | grep -q .; then
      echo "port ${addr##*:} is in use; pick others (see the script's header)" >&2
      exit 1
    fi
  done
}

stack_start() {
  local bin=${STACK_BIN:-target/release}
  stack_ports_free "127.0.0.1:$STACK_REDIS_PORT" "$STACK_FAKE" "$STACK_INGEST" "$STACK_INGEST_ADMIN" "$STACK_WORKER_ADMIN"
  local fake_args=(--qq-chat-rate 1000000 --lark-chat-qps 1000000) redis_args=()
  declare -p STACK_FAKE_ARGS >/dev/null 2>&1 && fake_args=("${STACK_FAKE_ARGS[@]}")
  declare -p STACK_REDIS_ARGS >/dev/null 2>&1 && redis_args=("${STACK_REDIS_ARGS[@]}")
  PID_REDIS_NODES=()
  local masters=${STACK_REDIS_CLUSTER:-0} port nodes=() dir
  if ((masters > 0)); then
    # A Redis Cluster of `masters` masters, no replicas, on consecutive ports.
    dir=$(mktemp -d)
    for ((k = 0; k < masters; k++)); do
      port=$((STACK_REDIS_PORT + k))
      stack_ports_free "127.0.0.1:$port"
      redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --cluster-enabled yes \
        --cluster-config-file "$dir/nodes-$port.conf" --dir "$dir" "${redis_args[@]}" --daemonize no --logfile /dev/null &
      PID_REDIS_NODES+=($!) && pids+=($!) && nodes+=("127.0.0.1:$port")
      until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
    done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
    for ((k = 0; k < masters; k++)); do
      until redis-cli -p $((STACK_REDIS_PORT + k)) cluster info | grep -q 'cluster_state:ok'; do sleep 0.05; done
    done
    PID_REDIS=${PID_REDIS_NODES[0]}
    export BOTQ_REDIS_CLUSTER=true
  else
    # Later directives win: STACK_REDIS_ARGS may turn AOF on.
    redis-server --port "$STACK_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
      "${redis_args[@]}" --daemonize no --logfile /dev/null &
    PID_REDIS=$!
    PID_REDIS_NODES=("$PID_REDIS")
    pids+=("$PID_REDIS")
    until redis-cli -p "$STACK_REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done
    unset BOTQ_REDIS_CLUSTER
  fi
  export BOTQ_REDIS_URL="redis://127.0.0.1:$STACK_REDIS_PORT" BOTQ_LISTEN=$STACK_INGEST BOTQ_LOG=warn
  "$bin/botq-fakeplatform" --config "$STACK_CFG" --listen "$STACK_FAKE" "${fake_args[@]}" &
  PID_FAKE=$!
  pids+=("$PID_FAKE")
  BOTQ_ADMIN_LISTEN=$STACK_INGEST_ADMIN "$bin/botq-ingest" --config "$STACK_CFG" &
  PID_INGEST=$!
  pids+=("$PID_INGEST")
  BOTQ_ADMIN_LISTEN=$STACK_WORKER_ADMIN "$bin/botq-worker" --config "$STACK_CFG" &
  PID_WORKER=$!
  pids+=("$PID_WORKER")
  local service
  for service in "ingest $STACK_INGEST_ADMIN" "worker $STACK_WORKER_ADMIN"; do
    until BOTQ_ADMIN_LISTEN=${service#* } "$bin/botq-${service%% *}" --config "$STACK_CFG" healthcheck >/dev/null 2>&1; do
      kill -0 "$PID_WORKER" "$PID_INGEST" "$PID_FAKE" "$PID_REDIS" 2>/dev/null ||
        { echo "a service of the stack exited at start" >&2; exit 1; }
      sleep 0.05
    done
  done
  until curl -sf "$STACK_FAKE/_fake/stats" >/dev/null; do sleep 0.05; done
}

# stack_stop: the stack's processes, last started first; the caller's `pids` emptied.
stack_stop() {
  local p
  for p in "$PID_WORKER" "$PID_INGEST" "$PID_FAKE" "${PID_REDIS_NODES[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  pids=()
}

# fake_deliveries: how many replies the fake platform has accepted.
fake_deliveries() {
  curl -s "$STACK_FAKE/_fake/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["deliveries"])'
}

# wait_deliveries N: until the fake platform has N deliveries, at most 60 s.
wait_deliveries() {
  local _
  for _ in $(seq 600); do
    [[ $(fake_deliveries) -ge $1 ]] && return 0
    sleep 0.1
  done
}

# proc_ticks PID: the CPU the process has used (user + system) in clock
# ticks, $(getconf CLK_TCK) a second; 0 once it is gone.
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# machine_line: the date, the machine and Redis, for a run's header.
machine_line() {
  echo "$(date -u '+%F %H:%M UTC'); $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); redis $(redis-server --version | awk '{sub("v=", "", $3); print $3}')"
}
