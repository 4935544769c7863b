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
#   env: BENCH_REDIS_PORT=6390 BENCH_FAKE_PORT=8090 BENCH_INGEST_PORT=18080
#        BENCH_INGEST_ADMIN_PORT=19090 BENCH_WORKER_ADMIN_PORT=19091
set -euo pipefail
cd "$(dirname "$0")/.."
rates=${1:-1000,2000,4000,6000}
secs=${2:-10}
bot=${3:-onebot-bench}
# shellcheck source=scripts/lib/bench-stack.sh
source scripts/lib/bench-stack.sh
STACK_REDIS_PORT=${BENCH_REDIS_PORT:-6390}
STACK_FAKE=127.0.0.1:${BENCH_FAKE_PORT:-8090} STACK_INGEST=127.0.0.1:${BENCH_INGEST_PORT:-18080}
STACK_INGEST_ADMIN=127.0.0.1:${BENCH_INGEST_ADMIN_PORT:-19090} STACK_WORKER_ADMIN=127.0.0.1:${BENCH_WORKER_ADMIN_PORT:-19091}
STACK_CFG=$(mktemp --suffix=.toml)
bench_config "$STACK_FAKE" >"$STACK_CFG"

scripts/ensure-redis.sh
cargo build --release -q -p botq-ingest -p botq-worker -p botq-bench -p botq-fakeplatform
stack_cleanup_on_exit "$STACK_CFG"
stack_start

quantiles() { # before-file after-file: replies and p50 p95 p99 of the histogram difference
  scripts/reply-quantiles.py "$1" "$2" | awk '{print "replies=" $1 " p50_ms=" $2 " p95_ms=" $3 " p99_ms=" $4}'
}

echo "# $(machine_line); bot $bot"
IFS=, read -ra list <<<"$rates"
for r in "${list[@]}"; do
  curl -s -XPOST "$STACK_FAKE/_fake/reset" >/dev/null
  curl -s "$STACK_WORKER_ADMIN/metrics" >/tmp/botq-e2e-before.txt
  target/release/botq-bench ingest --config "$STACK_CFG" --bot "$bot" --url "http://$STACK_INGEST" \
    --rate "$r" --duration "$secs" --warmup 0 --chats 20000 2>/dev/null
  expected=$(awk -v r="$r" -v s="$secs" 'BEGIN{printf "%d", r*s}')
  wait_deliveries "$expected" || true
  got=$(fake_deliveries)
  curl -s "$STACK_WORKER_ADMIN/metrics" >/tmp/botq-e2e-after.txt
  echo "rate $r/s: fake platform received $got of $expected replies; $(quantiles /tmp/botq-e2e-before.txt /tmp/botq-e2e-after.txt)"
done
