#!/usr/bin/env bash
# Lints what botq really exports: starts Redis, botq-fakeplatform,
# botq-ingest and botq-worker (debug builds) with the example config on
# private ports, sends webhooks that exercise the webhook path, a built-in
# skill and the upstream-agent skill, waits for the replies, then runs
# `promtool check metrics` on a live scrape of both admin listeners.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v promtool >/dev/null || { echo "promtool missing: run scripts/check-deploy.sh first" >&2; exit 1; }
scripts/ensure-redis.sh

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port); fake_port=$(free_port); ingest_port=$(free_port); ingest_admin=$(free_port); worker_admin=$(free_port)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

sed "s/127.0.0.1:8090/127.0.0.1:$fake_port/g" deploy/botq.example.toml >"$work/botq.toml"
# shellcheck source=../deploy/quickstart.env
source deploy/quickstart.env
export BOTQ_CONFIG=$work/botq.toml BOTQ_REDIS_URL=redis://127.0.0.1:$redis_port BOTQ_LOG=warn BOTQ_LOG_FORMAT=json
export BOTQ_LISTEN=127.0.0.1:$ingest_port

cargo build -q -p botq-ingest -p botq-worker -p botq-fakeplatform -p botq-bench
bin=${CARGO_TARGET_DIR:-target}/debug
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
"$bin/botq-fakeplatform" --listen "127.0.0.1:$fake_port" >"$work/fake.log" 2>&1 &
pids+=($!)
BOTQ_ADMIN_LISTEN=127.0.0.1:$ingest_admin "$bin/botq-ingest" >"$work/ingest.log" 2>&1 &
pids+=($!)
BOTQ_ADMIN_LISTEN=127.0.0.1:$worker_admin "$bin/botq-worker" >"$work/worker.log" 2>&1 &
pids+=($!)

for _ in $(seq 200); do
  BOTQ_ADMIN_LISTEN=127.0.0.1:$ingest_admin "$bin/botq-ingest" healthcheck 2>/dev/null \
    && BOTQ_ADMIN_LISTEN=127.0.0.1:$worker_admin "$bin/botq-worker" healthcheck 2>/dev/null && break
  sleep 0.1
done
send() { "$bin/botq-bench" send --url "http://127.0.0.1:$ingest_port" --bot "$1" --text "$2" >/dev/null; }
send qq-main /ping
send lark-main '/ask hello'
send onebot-main '/echo hi'
for _ in $(seq 100); do
  [[ $(curl -s "127.0.0.1:$fake_port/_fake/deliveries" | grep -o '"text"' | wc -l) -ge 3 ]] && break
  sleep 0.1
done
replies=$(curl -s "127.0.0.1:$fake_port/_fake/deliveries" | grep -o '"text"' | wc -l)
[[ $replies -ge 3 ]] || { echo "expected 3 replies, saw $replies" >&2; cat "$work"/*.log >&2; exit 1; }

for svc in "ingest:$ingest_admin" "worker:$worker_admin"; do
  name=${svc%%:*} port=${svc##*:}
  curl -sf "127.0.0.1:$port/metrics" >"$work/$name.prom"
  echo "promtool check metrics ($name, $(grep -c '^botq_' "$work/$name.prom") botq samples)"
  promtool check metrics <"$work/$name.prom"
done
