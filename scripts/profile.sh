#!/usr/bin/env bash
# Where botq's time goes at the end-to-end knee, and A/B runs of
# two builds against each other. The setup is scripts/bench-e2e.sh's: a
# private redis-server, botq-fakeplatform, one botq-ingest, one botq-worker
# (the bot handler, /ping → "pong", botq's reply limits off) and
# `botq-bench ingest` offering signed webhooks open loop.
#
#   scripts/profile.sh record [RATE] [SECS] [BOT]
#       perf-records botq-ingest in one run and botq-worker in another (fresh
#       processes each) while RATE/s is offered, and writes
#       $OUT/<process>.folded.gz (collapsed stacks, inferno-collapse-perf,
#       stacks under 0.05% of the samples folded into their parents),
#       $OUT/<process>.svg (inferno-flamegraph, narrow frames trimmed) and
#       $OUT/<process>.txt (the grouped breakdown of profile-groups.py).
#       Defaults: 4500 15 onebot-bench; OUT=docs/profiles.
#   scripts/profile.sh compare RATES ROUNDS SECS BOT A_BIN_DIR B_BIN_DIR [C_BIN_DIR ...]
#       for each round, each rate, A then B (then C ...): a fresh stack from
#       that directory's binaries, RATE/s for SECS, then one line of results:
#       replies received, reply p50/p95/p99 (the worker's histogram), CPU µs
#       per event of ingest, worker, Redis and the fake platform, and the
#       Redis commands and read events (≈ round trips) per event; with
#       CMDSTATS=1 also each command's calls and CPU per event, in
#       /tmp/botq-profile-commands-<round>-<rate>-<build>.txt. botq-bench always comes from A_BIN_DIR.
#
# Binaries come from BIN (default target/release; build them with debug line
# tables, as [profile.release] does). Ports (PORT_REDIS, PORT_FAKE,
# PORT_INGEST, PORT_ADMIN_INGEST, PORT_ADMIN_WORKER; defaults 6396, 8390,
# 18480, 19490, 19491) stay clear of the other benchmark scripts. Needs perf
# (kernel.perf_event_paranoid ≤ 1, or root) and inferno (`cargo install inferno`)
# for `record`.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD
mode=${1:-record}
shift || true

# shellcheck source=scripts/lib/bench-stack.sh
source scripts/lib/bench-stack.sh
BIN=${BIN:-target/release}
OUT=${OUT:-docs/profiles}
STACK_REDIS_PORT=${PORT_REDIS:-6396}
STACK_FAKE=127.0.0.1:${PORT_FAKE:-8390} STACK_INGEST=127.0.0.1:${PORT_INGEST:-18480}
STACK_INGEST_ADMIN=127.0.0.1:${PORT_ADMIN_INGEST:-19490} STACK_WORKER_ADMIN=127.0.0.1:${PORT_ADMIN_WORKER:-19491}
STACK_CFG=$(mktemp --suffix=.toml)
bench_config "$STACK_FAKE" >"$STACK_CFG"
stack_cleanup_on_exit "$STACK_CFG"

# bench BENCH_BIN RATE SECS BOT [--json]: open-loop signed webhooks (no warm-up of its own).
bench() {
  "$1/botq-bench" ingest --config "$STACK_CFG" --bot "$4" --url "http://$STACK_INGEST" \
    --rate "$2" --duration "$3" --warmup 0 --chats 20000 "${@:5}" 2>/dev/null
}

redis_cpu() { redis-cli -p "$STACK_REDIS_PORT" info cpu | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.6f", s}'; }
# commandstats N: Redis calls and CPU µs per event of each command since the last CONFIG RESETSTAT.
commandstats() {
  redis-cli -p "$STACK_REDIS_PORT" info commandstats | tr -d '\r' | awk -F'[:=,]' -v n="$1" '/^cmdstat_/ {
      sub(/^cmdstat_/, "", $1); printf "  %-14s %6.2f calls/event %7.2f µs/event\n", $1, $3 / n, $5 / n }' | sort -k4 -rn
}
redis_calls() { redis-cli -p "$STACK_REDIS_PORT" info commandstats | awk -F'[:=,]' '/^cmdstat_/ {n += $3} END {print n + 0}'; }
# Read events Redis processed: one per request or pipeline it read, so about one per round trip.
redis_reads() { redis-cli -p "$STACK_REDIS_PORT" info stats | tr -d '\r' | awk -F: '/^total_reads_processed:/ {print $2}'; }

record() {
  local rate=${1:-4500} secs=${2:-15} bot=${3:-onebot-bench}
  command -v perf >/dev/null || { echo "perf not found" >&2; exit 1; }
  command -v inferno-flamegraph >/dev/null || { echo "inferno not found: cargo install inferno" >&2; exit 1; }
  mkdir -p "$OUT"
  local tmp
  tmp=$(mktemp -d)
  for proc in ingest worker; do
    STACK_BIN=$BIN stack_start
    bench "$BIN" "$rate" 3 "$bot" >/dev/null # warm-up: connections, token caches, allocator
    local pid
    [[ $proc == ingest ]] && pid=$PID_INGEST || pid=$PID_WORKER
    bench "$BIN" "$rate" $((secs + 4)) "$bot" >"$tmp/$proc.bench" &
    local load=$!
    sleep 2
    perf record -F 999 -g --call-graph dwarf,16384 -p "$pid" -o "$tmp/$proc.data" -- sleep "$secs" 2>"$tmp/$proc.perf.log"
    wait "$load"
    stack_stop
    perf script -i "$tmp/$proc.data" 2>/dev/null | inferno-collapse-perf --all >"$OUT/$proc.folded.full"
    # Frames of one sample's stack that a flamegraph shows as narrower than
    # 0.05% carry no information at this sample count; trimming keeps the SVG small.
    local side="HTTP client (reqwest/hyper)"
    [[ $proc == ingest ]] && side="HTTP server (axum/hyper)"
    python3 "$here/docs/profiles/profile-groups.py" "$OUT/$proc.folded.full" --hyper-as "$side" --trim 0.0005 \
      --folded-out "$OUT/$proc.folded" >"$OUT/$proc.txt"
    rm -f "$OUT/$proc.folded.full"
    inferno-flamegraph --title "botq-$proc at $rate/s ($bot, e2e)" --minwidth 0.5 \
      <"$OUT/$proc.folded" >"$OUT/$proc.svg"
    gzip -9 -f "$OUT/$proc.folded"
    echo "$proc: $(wc -c <"$OUT/$proc.svg") bytes of SVG; $(head -n 1 "$OUT/$proc.txt")"
  done
  rm -rf "$tmp"
}

quantiles() { # before-file after-file: p50 p95 p99 of the reply latency histogram difference
  scripts/reply-quantiles.py "$1" "$2" | cut -d" " -f2-
}

compare() {
  local rates=$1 rounds=$2 secs=$3 bot=$4
  shift 4
  local dirs=("$@") labels=(A B C D E F)
  local a=${dirs[0]}
  local hz
  hz=$(getconf CLK_TCK)
  local names=""
  for k in "${!dirs[@]}"; do names+="${labels[$k]}=${dirs[$k]} "; done
  echo "# $(date -u '+%F %T') UTC; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); ${names}bot $bot; ${secs}s per run"
  echo "round rate build acked/sent ack_p99_ms replies expected reply_p50_ms p95_ms p99_ms ingest_us worker_us redis_us fake_us redis_cmds redis_reads"
  IFS=, read -ra list <<<"$rates"
  for round in $(seq "$rounds"); do
    for r in "${list[@]}"; do
      for k in "${!dirs[@]}"; do
        local build=${labels[$k]} dir=${dirs[$k]}
        STACK_BIN=$dir stack_start
        bench "$a" "$r" 3 "$bot" >/dev/null
        wait_deliveries $(($(printf '%.0f' "$r") * 3 + 1))
        curl -s -XPOST "$STACK_FAKE/_fake/reset" >/dev/null
        curl -s "$STACK_WORKER_ADMIN/metrics" >/tmp/botq-profile-before.txt
        local i0 w0 f0 r0 c0 x0
        redis-cli -p "$STACK_REDIS_PORT" config resetstat >/dev/null
        i0=$(proc_ticks "$PID_INGEST") w0=$(proc_ticks "$PID_WORKER") f0=$(proc_ticks "$PID_FAKE") r0=$(redis_cpu) c0=$(redis_calls) x0=$(redis_reads)
        local acked
        acked=$(bench "$a" "$r" "$secs" "$bot" --json | python3 -c '
import json, sys
r = json.loads(sys.stdin.readline())
print("%d/%d %.1f" % (r["status"]["2xx"], r["requests"], r["latency_ms"]["p99"]))')
        local expected
        expected=$(awk -v r="$r" -v s="$secs" 'BEGIN{printf "%d", r*s}')
        wait_deliveries "$expected"
        local got
        got=$(fake_deliveries)
        local i1 w1 f1 r1 c1 x1
        i1=$(proc_ticks "$PID_INGEST") w1=$(proc_ticks "$PID_WORKER") f1=$(proc_ticks "$PID_FAKE") r1=$(redis_cpu) c1=$(redis_calls) x1=$(redis_reads)
        curl -s "$STACK_WORKER_ADMIN/metrics" >/tmp/botq-profile-after.txt
        local q
        q=$(quantiles /tmp/botq-profile-before.txt /tmp/botq-profile-after.txt)
        [[ -n ${CMDSTATS:-} ]] && commandstats "$expected" >"/tmp/botq-profile-commands-$round-$r-$build.txt"
        stack_stop
        awk -v round="$round" -v r="$r" -v b="$build" -v acked="${acked:-?}" -v got="$got" -v expct="$expected" -v q="$q" \
          -v hz="$hz" -v i="$((i1 - i0))" -v w="$((w1 - w0))" -v f="$((f1 - f0))" -v rc="$r1 $r0" -v cc="$((c1 - c0))" -v xx="$((x1 - x0))" \
          'BEGIN { split(q, qq, " "); split(rc, rr, " "); n = expct;
                   printf "%s %s %s %s %s %s %s %s %s %.1f %.1f %.1f %.1f %.2f %.2f\n", round, r, b, acked, got, expct, qq[1], qq[2], qq[3],
                     i / hz * 1e6 / n, w / hz * 1e6 / n, (rr[1] - rr[2]) * 1e6 / n, f / hz * 1e6 / n, cc / n, xx / n }'
      done
    done
  done
}

case $mode in
  record) record "$@" ;;
  compare) compare "$@" ;;
  *)
    echo "usage: scripts/profile.sh record [RATE] [SECS] [BOT] | compare RATES ROUNDS SECS BOT A_BIN B_BIN [C_BIN ...]" >&2
    exit 2
    ;;
esac
