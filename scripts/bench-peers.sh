#!/usr/bin/env bash
# botq beside the way most bot developers would build the same job today:
# Node with Fastify and BullMQ (bench/peers/bullmq), on the same machine, in
# one run.
#
# For every rate and system, on fresh processes: a private redis-server (no
# persistence), botq-fakeplatform (release; its per-chat limits raised as in
# bench-e2e.sh) standing in for the platform's reply API, and the system under test:
#   botq    botq-ingest + one botq-worker (release, the bot handler)
#   bullmq  node ingest.js + node worker.js (Fastify + BullMQ)
# Both verify the webhook's signature (OneBot's X-Signature, HMAC-SHA1, or
# QQ's X-Signature-Ed25519), dedupe on the message, cap handling at 64 in
# flight, limit replies per bot (50 000/s: on, but never binding), retry 5
# times with exponential backoff from 1 s and answer /ping with "pong" through
# the platform's reply API (OneBot's send_group_msg, QQ's group messages)
# with its access token. `botq-bench ingest` offers the same open-loop load of
# the bot's signed /ping webhooks to each
# (bench/peers/measure.py measures a step from the outside; the systems'
# settings and what cannot map are in bench/peers/README.md). The systems take
# turns (botq first, then the peer first at the next rate, ..., and the other
# way round in the next round), so both see the same machine conditions.
#
#   scripts/bench-peers.sh [RATES] [SECONDS] [ROUNDS]     defaults: 1000,2000,4000,6000  10  1
#
# Environment: BENCH_PEERS_BOT (onebot-bench; qq-bench for QQ's Ed25519-signed
# group @-messages), BENCH_PEERS_SYSTEMS (botq,bullmq), BENCH_PEERS_WARMUP (1 s),
# BENCH_PEERS_OUT (results, one JSON object per step; default
# /tmp/bench-peers-<UTC time>.jsonl, process logs beside it in .logs/),
# BENCH_PEERS_NO_BUILD=1 (use the release binaries already in target/).
# Ports (all on 127.0.0.1): redis 6395, fake 8290, botq-ingest 18280 (admin
# 19290, worker admin 19291), peer ingest 18380.
set -euo pipefail
cd "$(dirname "$0")/.."
rates=${1:-1000,2000,4000,6000}
secs=${2:-10}
rounds=${3:-1}
warmup=${BENCH_PEERS_WARMUP:-1}
IFS=, read -ra systems <<<"${BENCH_PEERS_SYSTEMS:-botq,bullmq}"
out=${BENCH_PEERS_OUT:-/tmp/bench-peers-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
logs=${out%.jsonl}.logs
redis_port=6395
fake_port=8290
botq_port=18280
ingest_admin=127.0.0.1:19290
worker_admin=127.0.0.1:19291
peer_port=18380
bot=${BENCH_PEERS_BOT:-onebot-bench}
peer_dir=bench/peers/bullmq
bin=target/release

die() {
  echo "bench-peers: $*" >&2
  exit 1
}

for port in $redis_port $fake_port $botq_port ${ingest_admin##*:} ${worker_admin##*:} $peer_port; do
  if (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is in use; this benchmark needs it free"
  fi
done
scripts/ensure-redis.sh
command -v node >/dev/null || die "node (v20 or later) is needed for the BullMQ peer"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || die "node v20 or later is needed, found $(node --version)"
if [[ ${BENCH_PEERS_NO_BUILD:-0} != 1 ]]; then
  cargo build --release -q -p botq-ingest -p botq-worker -p botq-bench -p botq-fakeplatform
fi
if [[ ! -f $peer_dir/node_modules/.package-lock.json || $peer_dir/package-lock.json -nt $peer_dir/node_modules/.package-lock.json ]]; then
  (cd "$peer_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

mkdir -p "$logs"
work=$(mktemp -d)
cfg=$work/bench.toml
# The bench config with the real handler, the fake on its own port, an access
# token for the OneBot API, and the same reply limit as the peer's: 50 000/s
# for the bot (checked on every reply, never binding here); per-chat limits off
# (BullMQ has none to match, and the load spreads over 20 000 groups).
sed -e 's/^handler = "noop"/handler = "bots"/' -e "s#127.0.0.1:8090#127.0.0.1:$fake_port#" \
  crates/botq-bench/bench.example.toml |
  awk '{print} /^api_base = ".*\/onebot"/ {
    print "access_token = \"bench-onebot-access-token\""
    print "reply_limit = { chat_per_sec = 0.0, bot_per_sec = 50000.0, bot_burst = 50000 }"
  } /^token_url = ".*\/app\/getAppAccessToken"/ {
    print "reply_limit = { chat_per_sec = 0.0, bot_per_sec = 50000.0, bot_burst = 50000 }"
  }' >"$cfg"
# The peer takes the same bot's credentials, from the environment.
mapfile -t peer_env < <(python3 - "$cfg" "$bot" <<'PY'
import sys, tomllib
cfg = tomllib.load(open(sys.argv[1], "rb"))
b = next(b for b in cfg["bot"] if b["id"] == sys.argv[2])
if b["platform"] == "qq":
    env = {"PLATFORM": "qq", "QQ_APP_ID": b["app_id"], "QQ_SECRET": b["secret"],
           "QQ_API_BASE": b["api_base"], "QQ_TOKEN_URL": b["token_url"]}
else:
    env = {"PLATFORM": "onebot", "ONEBOT_SECRET": b["secret"], "ONEBOT_SELF_ID": b["app_id"],
           "ONEBOT_API_BASE": b["api_base"], "ONEBOT_ACCESS_TOKEN": b["access_token"]}
for k, v in env.items():
    print(f"{k}={v}")
PY
)
((${#peer_env[@]} >= 5)) || die "could not read $bot's credentials from $cfg"

stack=()
stop_stack() { # SIGTERM, 10 s to exit, then SIGKILL; only processes this script started
  local pid
  for pid in "${stack[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${stack[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  stack=()
}
trap 'stop_stack; rm -rf "$work"' EXIT

wait_for() { # what, command...: up to 30 s
  local what=$1
  shift
  for _ in $(seq 300); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "$what did not come up within 30 s (logs in $logs)"
}

start_common() { # name: redis + fake platform
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --logfile "$logs/$1-redis.log" &
  redis_pid=$!
  stack=("$redis_pid")
  wait_for redis redis-cli -p "$redis_port" ping
  "$bin/botq-fakeplatform" --config "$cfg" --listen "127.0.0.1:$fake_port" \
    --qq-chat-rate 1000000 --lark-chat-qps 1000000 >"$logs/$1-fake.log" 2>&1 &
  fake_pid=$!
  stack=("$fake_pid" "${stack[@]}")
  wait_for "the fake platform" curl -sf "127.0.0.1:$fake_port/_fake/stats"
}

start_botq() { # name
  local env=(BOTQ_REDIS_URL="redis://127.0.0.1:$redis_port" BOTQ_LOG=warn)
  env "${env[@]}" BOTQ_LISTEN=127.0.0.1:$botq_port BOTQ_ADMIN_LISTEN=$ingest_admin \
    "$bin/botq-ingest" --config "$cfg" >"$logs/$1-ingest.log" 2>&1 &
  ingest_pid=$!
  env "${env[@]}" BOTQ_ADMIN_LISTEN=$worker_admin "$bin/botq-worker" --config "$cfg" >"$logs/$1-worker.log" 2>&1 &
  worker_pid=$!
  stack=("$ingest_pid" "$worker_pid" "${stack[@]}")
  wait_for botq-ingest env BOTQ_ADMIN_LISTEN=$ingest_admin "$bin/botq-ingest" --config "$cfg" healthcheck
  wait_for botq-worker env BOTQ_ADMIN_LISTEN=$worker_admin "$bin/botq-worker" --config "$cfg" healthcheck
  url=http://127.0.0.1:$botq_port
}

start_bullmq() { # name
  local env=(REDIS_URL="redis://127.0.0.1:$redis_port" PORT="$peer_port" BOT_ID="$bot" LOG_LEVEL=warn
    CONCURRENCY=64 REPLY_LIMIT_PER_SEC=50000 ATTEMPTS=5 BACKOFF_MS=1000 "${peer_env[@]}")
  (cd "$peer_dir" && exec env "${env[@]}" node ingest.js) >"$logs/$1-ingest.log" 2>&1 &
  ingest_pid=$!
  (cd "$peer_dir" && exec env "${env[@]}" node worker.js) >"$logs/$1-worker.log" 2>&1 &
  worker_pid=$!
  stack=("$ingest_pid" "$worker_pid" "${stack[@]}")
  wait_for "node ingest.js" curl -sf "127.0.0.1:$peer_port/health"
  wait_for "node worker.js" grep -q '^worker ready' "$logs/$1-worker.log"
  url=http://127.0.0.1:$peer_port
}

step() { # system rate round
  local name=$1-$2-r$3
  start_common "$name"
  "start_$1" "$name"
  python3 bench/peers/measure.py --system "$1" --rate "$2" --secs "$secs" --warmup "$warmup" \
    --bench "$bin/botq-bench" --config "$cfg" --bot "$bot" --url "$url" --fake "http://127.0.0.1:$fake_port" \
    --proc "ingest=$ingest_pid" --proc "worker=$worker_pid" --redis "$redis_pid" --aux "fake=$fake_pid" \
    --bench-log "$logs/$name-bench.log" >>"$out"
  stop_stack
}

echo "# bench-peers $(date -u '+%F %T UTC'): $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# botq $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($("$bin/botq-ingest" --version)); redis $(redis-server --version | awk '{print $3}' | cut -d= -f2);" \
  "node $(node --version); $(cd "$peer_dir" && node -p 'const l = require("./package-lock.json").packages; ["fastify", "bullmq", "ioredis", "undici"].map(p => p + " " + l["node_modules/" + p].version).join(", ")')"
echo "# rates $rates, ${secs} s each after ${warmup} s warm-up, $rounds round(s); results in $out"
IFS=, read -ra list <<<"$rates"
for ((round = 1; round <= rounds; round++)); do
  for k in "${!list[@]}"; do
    r=${list[k]}
    order=("${systems[@]}")
    # Take turns going first: from one rate to the next, and at each rate
    # from one round to the next (whatever the number of rates).
    if (((k + round) % 2 == 0)); then
      order=()
      for ((i = ${#systems[@]} - 1; i >= 0; i--)); do order+=("${systems[i]}"); done
    fi
    for s in "${order[@]}"; do step "$s" "$r" "$round"; done
  done
done
echo
python3 bench/peers/table.py "$out"
