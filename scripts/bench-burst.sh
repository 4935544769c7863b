#!/usr/bin/env bash
# The burst benchmark of BENCHMARKS.md: EVENTS signed webhooks
# offered open loop at RATE, far above what one worker handles end to end,
# then the drain. The claim under test: a burst far above worker speed is
# absorbed with zero 5xx (ingest only verifies and appends to the stream)
# and drains at worker speed.
#
# Everything on this machine, release builds, loopback: a private
# redis-server (no persistence), botq-fakeplatform (its per-chat limits off,
# its delivery log long enough for every reply), one botq-ingest, one
# botq-worker running the bot handler, and `botq-bench burst`, which sends
# `/echo` webhooks naming each event and reads the replies back from the
# fake: statuses and ack latency of the burst, when the last reply arrived,
# replies per second from the first to the last, end-to-end latency,
# duplicate and missing replies. botq's reply limits and storm guard are off
# (the load spreads over CHATS chats; the limits have their own tests).
#
#   scripts/bench-burst.sh [EVENTS] [RATE] [BOT]    defaults: 200000  20000  onebot-bench
#   env: CHATS=1000 CONNECTIONS=512 DRAIN_TIMEOUT=120 REPLY_TIMEOUT=600 DUPLICATE_EVERY= (e.g. 10)
#        JSON= (1: one JSON line)
#        BENCH_REDIS_PORT=6394 BENCH_FAKE_PORT=8190 BENCH_INGEST_PORT=18180
#        BENCH_INGEST_ADMIN_PORT=19190 BENCH_WORKER_ADMIN_PORT=19191
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-200000}
rate=${2:-20000}
bot=${3:-onebot-bench}
chats=${CHATS:-1000}
# Many connections and a long answer timeout: while the worker drains beside
# it, ingest's acks slow down, and the burst must still be offered in full.
connections=${CONNECTIONS:-512}
drain_timeout=${DRAIN_TIMEOUT:-120}
reply_timeout=${REPLY_TIMEOUT:-600}
extra=()
[[ -n ${DUPLICATE_EVERY:-} ]] && extra+=(--duplicate-every "$DUPLICATE_EVERY")
[[ -n ${JSON:-} ]] && extra+=(--json)

# shellcheck source=scripts/lib/bench-stack.sh
source scripts/lib/bench-stack.sh
STACK_REDIS_PORT=${BENCH_REDIS_PORT:-6394}
STACK_FAKE=127.0.0.1:${BENCH_FAKE_PORT:-8190} STACK_INGEST=127.0.0.1:${BENCH_INGEST_PORT:-18180}
STACK_INGEST_ADMIN=127.0.0.1:${BENCH_INGEST_ADMIN_PORT:-19190} STACK_WORKER_ADMIN=127.0.0.1:${BENCH_WORKER_ADMIN_PORT:-19191}
# The fake's per-chat limits off, its delivery log long enough for every reply.
STACK_FAKE_ARGS=(--qq-chat-rate 0 --lark-chat-qps 0 --max-records $((2 * events + 1000)))
STACK_CFG=$(mktemp --suffix=.toml)
# botq's storm guard off as well: a chat gets events / CHATS replies.
bench_config "$STACK_FAKE" "guard = { chat_replies_per_min = 0 }" >"$STACK_CFG"

scripts/ensure-redis.sh
cargo build --release -q -p botq-ingest -p botq-worker -p botq-bench -p botq-fakeplatform
stack_cleanup_on_exit "$STACK_CFG"
stack_start

cpu_all() { echo "$(proc_ticks "$PID_INGEST") $(proc_ticks "$PID_WORKER") $(proc_ticks "$PID_REDIS") $(proc_ticks "$PID_FAKE")"; }

echo "# $(machine_line)"
echo "# botq $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- crates 2>/dev/null || echo ' (uncommitted changes)'); bot $bot; $events events at $rate/s over $chats chats; 1 ingest, 1 worker"
read -r i0 w0 r0 f0 <<<"$(cpu_all)"
target/release/botq-bench burst --config "$STACK_CFG" --bot "$bot" --url "http://$STACK_INGEST" --fake-url "http://$STACK_FAKE" \
  --events "$events" --rate "$rate" --chats "$chats" --connections "$connections" \
  --drain-timeout "$drain_timeout" --reply-timeout "$reply_timeout" "${extra[@]}"
read -r i1 w1 r1 f1 <<<"$(cpu_all)"
awk -v n="$events" -v hz="$(getconf CLK_TCK)" -v i="$((i1 - i0))" -v w="$((w1 - w0))" -v r="$((r1 - r0))" -v f="$((f1 - f0))" 'BEGIN {
  i /= hz; w /= hz; r /= hz; f /= hz
  printf "CPU over the burst and its drain, µs per event: ingest %.1f, worker %.1f, redis %.1f, fake platform %.1f (seconds: %.2f %.2f %.2f %.2f)\n",
    i * 1e6 / n, w * 1e6 / n, r * 1e6 / n, f * 1e6 / n, i, w, r, f }'
