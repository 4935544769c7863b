#!/usr/bin/env bash
# The worker benchmark of BENCHMARKS.md: a private redis-server, N events
# preloaded, then 1, 2 and 4 botq-worker processes (release, no-op handler)
# timed draining them. Stops what it started.
#
#   scripts/bench-worker.sh [EVENTS] [PROCESSES]     defaults: 200000  1,2,4
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-200000}
procs=${2:-1,2,4}
port=${BENCH_REDIS_PORT:-6390}

scripts/ensure-redis.sh
cargo build --release -q -p botq-worker -p botq-bench
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --logfile /dev/null &
rpid=$!
trap 'kill $rpid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
echo "# $(date -u +%F) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); redis $(redis-server --version | awk '{print $3}')"
BOTQ_REDIS_URL="redis://127.0.0.1:$port" target/release/botq-bench worker \
  --config crates/botq-bench/bench.example.toml --bin target/release/botq-worker \
  --events "$events" --processes "$procs"
