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

quantiles() { # before-file after-file: p50 p95 p99 of the histogram difference
  python3 - "$1" "$2" <<'PY'
import re, sys
def load(path):
    b = {}
    for line in open(path):
        m = re.match(r'botq_event_reply_latency_seconds_bucket\{.*le="([^"]+)"\} (\S+)', line)
        if m:
            b[float(m.group(1))] = b.get(float(m.group(1)), 0.0) + float(m.group(2))
    return b
b0, b1 = load(sys.argv[1]), load(sys.argv[2])
les = sorted(b1)
cum = [b1[le] - b0.get(le, 0.0) for le in les]
total = cum[-1] if cum else 0
out = []
for q in (0.5, 0.95, 0.99):
    rank, prev_le, prev_c = q * total, 0.0, 0.0
    for le, c in zip(les, cum):
        if c >= rank:
            frac = (rank - prev_c) / (c - prev_c) if c > prev_c else 0
            v = le if le == float("inf") else prev_le + (le - prev_le) * frac
            out.append(f"{v * 1000:.0f}")
            break
        prev_le, prev_c = le, c
print(f"replies={int(total)} p50_ms={out[0]} p95_ms={out[1]} p99_ms={out[2]}")
PY
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
