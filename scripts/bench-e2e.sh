#!/usr/bin/env bash
# The end-to-end benchmark of BENCHMARKS.md: signed webhooks into botq-ingest,
# botq-worker (the bot handler: /ping → "pong"), replies into
# botq-fakeplatform; all release builds and a private redis-server on
# loopback. For each rate: the ingest ack latency (botq-bench), the replies
# the fake platform received, and the reply latency (ingest receipt → platform
# accepted) from the worker's botq_event_reply_latency_seconds histogram
# (quantiles interpolated within buckets, as Prometheus' histogram_quantile does).
#
#   scripts/bench-e2e.sh [RATES] [SECONDS] [BOT]    defaults: 1000,2000,4000,6000  10  onebot-bench
set -euo pipefail
cd "$(dirname "$0")/.."
rates=${1:-1000,2000,4000,6000}
secs=${2:-10}
bot=${3:-onebot-bench}
port=${BENCH_REDIS_PORT:-6390}
cfg=$(mktemp --suffix=.toml)
# The bench config, with the real handler and botq's own reply limits off (the
# load spreads over many chats; the limits are tested elsewhere).
sed 's/^handler = "noop"/handler = "bots"/' crates/botq-bench/bench.example.toml |
  awk '{print} /^api_base/ {print "reply_limit = { chat_per_sec = 0.0, bot_per_sec = 0.0 }"}' >"$cfg"

scripts/ensure-redis.sh
cargo build --release -q -p botq-ingest -p botq-worker -p botq-bench -p botq-fakeplatform
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$cfg"' EXIT
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --logfile /dev/null &
pids+=($!)
export BOTQ_REDIS_URL="redis://127.0.0.1:$port" BOTQ_LISTEN=127.0.0.1:18080 BOTQ_LOG=warn
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
target/release/botq-fakeplatform --config "$cfg" --listen 127.0.0.1:8090 --qq-chat-rate 1000000 --lark-chat-qps 1000000 &
pids+=($!)
BOTQ_ADMIN_LISTEN=127.0.0.1:19090 target/release/botq-ingest --config "$cfg" &
pids+=($!)
BOTQ_ADMIN_LISTEN=127.0.0.1:19091 target/release/botq-worker --config "$cfg" &
pids+=($!)
until BOTQ_ADMIN_LISTEN=127.0.0.1:19091 target/release/botq-worker --config "$cfg" healthcheck >/dev/null 2>&1; do sleep 0.05; done

quantiles() { # before-file after-file: replies and p50 p95 p99 of the histogram difference
  scripts/reply-quantiles.py "$1" "$2" | awk '{print "replies=" $1 " p50_ms=" $2 " p95_ms=" $3 " p99_ms=" $4}'
}

echo "# $(date -u +%F) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); redis $(redis-server --version | awk '{print $3}'); bot $bot"
IFS=, read -ra list <<<"$rates"
for r in "${list[@]}"; do
  curl -s -XPOST 127.0.0.1:8090/_fake/reset >/dev/null
  curl -s 127.0.0.1:19091/metrics >/tmp/botq-e2e-before.txt
  target/release/botq-bench ingest --config "$cfg" --bot "$bot" --url http://127.0.0.1:18080 \
    --rate "$r" --duration "$secs" --warmup 0 --chats 20000 2>/dev/null
  expected=$(awk -v r="$r" -v s="$secs" 'BEGIN{printf "%d", r*s}')
  for _ in $(seq 600); do
    got=$(curl -s 127.0.0.1:8090/_fake/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["deliveries"])')
    [[ $got -ge $expected ]] && break
    sleep 0.1
  done
  curl -s 127.0.0.1:19091/metrics >/tmp/botq-e2e-after.txt
  echo "rate $r/s: fake platform received $got of $expected replies; $(quantiles /tmp/botq-e2e-before.txt /tmp/botq-e2e-after.txt)"
done
