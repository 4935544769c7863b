#!/usr/bin/env bash
# The ingest benchmark of BENCHMARKS.md: a private redis-server, botq-ingest
# (release) with crates/botq-bench/bench.example.toml, and botq-bench offering
# fixed rates of signed webhooks per platform. Everything on loopback; stops
# what it started.
#
#   scripts/bench-ingest.sh [RATES] [SECONDS] [BOTS]
#   defaults: 2000,5000,10000,15000,20000  10  "qq-bench lark-bench onebot-bench"
set -euo pipefail
cd "$(dirname "$0")/.."
rates=${1:-2000,5000,10000,15000,20000}
secs=${2:-10}
bots=${3:-qq-bench lark-bench onebot-bench}
port=${BENCH_REDIS_PORT:-6390}
cfg=crates/botq-bench/bench.example.toml

scripts/ensure-redis.sh
cargo build --release -q -p botq-ingest -p botq-bench
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --logfile /dev/null &
pids+=($!)
export BOTQ_REDIS_URL="redis://127.0.0.1:$port" BOTQ_LISTEN=127.0.0.1:18080 BOTQ_ADMIN_LISTEN=127.0.0.1:19090
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
target/release/botq-ingest --config "$cfg" &
pids+=($!)
until target/release/botq-ingest --config "$cfg" healthcheck >/dev/null 2>&1; do sleep 0.05; done

echo "# $(date -u +%F) $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# redis $(redis-server --version | awk '{print $3}'); ingest, redis and the generator share the machine"
for bot in $bots; do
  echo "## $bot"
  redis-cli -p "$port" flushall >/dev/null
  target/release/botq-bench ingest --config "$cfg" --bot "$bot" --url http://127.0.0.1:18080 \
    --rate "$rates" --duration "$secs" 2>/dev/null
  ingest_cpu=$(awk '{print ($14+$15)/100}' "/proc/${pids[1]}/stat")
  echo "ingest process CPU so far: ${ingest_cpu} s"
done
