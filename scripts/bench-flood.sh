#!/usr/bin/env bash
# The forgery-flood benchmark of BENCHMARKS.md: real signed QQ webhooks at a
# fixed rate from 127.0.0.1, alone and beside a flood of forged QQ webhooks
# (a broken Ed25519 signature each) from 127.0.0.2, with ingest's per-client
# rejection budget on (the default) and off. A private redis-server and
# botq-ingest (release) with crates/botq-bench/bench.example.toml; everything
# on loopback; stops what it started.
#
#   scripts/bench-flood.sh [REAL_RATE] [FLOOD_RATE] [SECONDS]
#   defaults: 2000 20000 20
set -euo pipefail
cd "$(dirname "$0")/.."
real_rate=${1:-2000}
flood_rate=${2:-20000}
secs=${3:-20}
port=${BENCH_REDIS_PORT:-6391}
base=crates/botq-bench/bench.example.toml
cfg_on=$(mktemp --suffix=.toml)
cfg_off=$(mktemp --suffix=.toml)
cp "$base" "$cfg_on"
{ cat "$base"; printf '\n[ingest.listener]\nrejections_per_sec = 0.0\n'; } >"$cfg_off"

scripts/ensure-redis.sh
cargo build --release -q -p botq-ingest -p botq-bench
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$cfg_on" "$cfg_off"' EXIT
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --logfile /dev/null &
pids+=($!)
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
export BOTQ_REDIS_URL="redis://127.0.0.1:$port" BOTQ_LISTEN=127.0.0.1:18081 BOTQ_ADMIN_LISTEN=127.0.0.1:19091

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
echo "# $(date -u +%F) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); commit $(git rev-parse --short HEAD)"
echo "# real: qq-bench at ${real_rate}/s from 127.0.0.1, 64 connections; flood: forged qq-bench at ${flood_rate}/s from 127.0.0.2, 128 connections"
# The baseline runs first and last, so drift over the run shows.
for scenario in "alone:on" "flood:on" "flood:off" "alone:on"; do
  kind=${scenario%%:*} budget=${scenario##*:}
  cfg=$cfg_on
  [[ $budget == off ]] && cfg=$cfg_off
  redis-cli -p "$port" flushall >/dev/null
  target/release/botq-ingest --config "$cfg" 2>/dev/null &
  ingest=$!
  pids+=("$ingest")
  until target/release/botq-ingest --config "$cfg" healthcheck >/dev/null 2>&1; do sleep 0.05; done
  flood=
  tf=$(ticks "$ingest")
  if [[ $kind == flood ]]; then
    target/release/botq-bench ingest --config "$cfg" --bot qq-bench --url http://127.0.0.1:18081 \
      --source-ip 127.0.0.2 --forge --rate "$flood_rate" --duration $((secs + 4)) --connections 128 \
      --json >"/tmp/botq-flood-$budget.json" 2>/dev/null &
    flood=$!
    sleep 2
  fi
  t0=$(ticks "$ingest")
  echo "## $kind, rejection budget $budget"
  target/release/botq-bench ingest --config "$cfg" --bot qq-bench --url http://127.0.0.1:18081 \
    --rate "$real_rate" --duration "$secs" --connections 64 2>/dev/null
  t1=$(ticks "$ingest")
  if [[ -n $flood ]]; then
    wait "$flood" || true
    echo "ingest CPU over the flood's $((secs + 4)) s (real load included): $(awk -v a="$tf" -v b="$(ticks "$ingest")" -v hz="$(getconf CLK_TCK)" -v s="$((secs + 4))" 'BEGIN{printf "%.2f cores", (b-a)/hz/s}')"
    echo "flood: $(python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().splitlines()[-1]); l=d["latency_ms"]; print("offered %.0f/s, answered %.0f/s, statuses %s, answer p50 %.1f ms p99 %.1f ms" % (d["target_rate"], d["achieved_rate"], d["status"], l["p50"], l["p99"]))' "/tmp/botq-flood-$budget.json")"
  fi
  echo "ingest CPU during the real load: $(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v s="$secs" 'BEGIN{printf "%.2f cores", (b-a)/hz/s}')"
  kill "$ingest"; wait "$ingest" 2>/dev/null || true
done
