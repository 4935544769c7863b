#!/usr/bin/env bash
# The quick start: botq on this machine with the example config.
#
# - Uses BOTQ_REDIS_URL when set; otherwise starts a private redis-server on
#   127.0.0.1:${BOTQ_LOCAL_REDIS_PORT:-6399} (data in target/quickstart/) and stops it on exit.
# - Starts botq-fakeplatform on 127.0.0.1:8090 (the stand-in for the QQ, Lark
#   and OneBot reply APIs the example config points at), botq-ingest on
#   127.0.0.1:8080 (admin 127.0.0.1:9090) and botq-worker (admin
#   127.0.0.1:9091) with deploy/botq.example.toml and the demo secrets of
#   deploy/quickstart.env (override them via the environment), and the
#   operator's console (`botqctl web`) on 127.0.0.1:9092.
# - Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=../deploy/quickstart.env
source deploy/quickstart.env
export BOTQ_LISTEN=${BOTQ_LISTEN:-127.0.0.1:8080}
export BOTQ_LOG_FORMAT=${BOTQ_LOG_FORMAT:-pretty}

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [[ -z ${BOTQ_REDIS_URL:-} ]]; then
  scripts/ensure-redis.sh
  port=${BOTQ_LOCAL_REDIS_PORT:-6399}
  mkdir -p target/quickstart
  redis-server --port "$port" --bind 127.0.0.1 --dir target/quickstart --save '' --appendonly yes \
    --daemonize no --logfile redis.log &
  pids+=($!)
  export BOTQ_REDIS_URL="redis://127.0.0.1:$port"
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  echo "started redis-server on 127.0.0.1:$port (data in target/quickstart/)"
fi

cargo build --release -q -p botq-ingest -p botq-worker -p botq-bench -p botq-fakeplatform -p botq-ctl
bin=${CARGO_TARGET_DIR:-target}/release
"$bin/botq-fakeplatform" --listen 127.0.0.1:8090 &
pids+=($!)
"$bin/botq-ingest" &
pids+=($!)
"$bin/botq-worker" &
pids+=($!)
"$bin/botqctl" web --listen 127.0.0.1:9092 &
pids+=($!)

cat <<MSG

botq is running:
  webhooks  http://$BOTQ_LISTEN/webhooks/{qq-main,lark-main,onebot-main}
  admin     http://127.0.0.1:9090/metrics (ingest)   http://127.0.0.1:9091/metrics (worker)
  replies   http://127.0.0.1:8090/_fake/deliveries (botq-fakeplatform)
  console   http://127.0.0.1:9092/ (botqctl web: queues, fleet, dead letters, audit)
Send a signed webhook from another terminal:
  make send                         # or: make send BOT=lark-main TEXT='/echo hi' 
and see the reply the fake platform received:
  curl -s 127.0.0.1:8090/_fake/deliveries
Make the agent refuse one message, so it is dead-lettered, then replay it from the console:
  make send TEXT='/ask please reject this'
Ctrl-C stops everything.

MSG
wait -n "${pids[@]}"
