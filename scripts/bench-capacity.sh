#!/usr/bin/env bash
# The capacity model's check: the same offered load through 1 ingest + 1
# worker and through N ingest + M worker replicas, on one Redis, CPU per
# event of each kind of process summed over its replicas.
#
#   scripts/bench-capacity.sh RATES SECS BOT TOPOLOGY...      e.g. 3000,4500 10 qq-bench 1x1 2x2
#
# TOPOLOGY is INGESTSxWORKERS, or INGESTSxWORKERScMASTERS for a Redis Cluster
# of MASTERS masters (e.g. 1x1c3). QUEUES (default 1) sets the config's
# `queues`; a cluster wants a few per master (QUEUES=12 for 1x1 1x1c3 compares
# one Redis and three masters over the same 12 queues). For each rate and topology: a fresh stack
# (scripts/lib/bench-stack.sh: redis-server, botq-fakeplatform, ingest,
# worker) plus the extra replicas, the load split evenly over the ingests
# (one `botq-bench ingest` each, open loop), then one line: webhooks acked,
# the worst generator's ack p99, replies delivered, and CPU µs per event of
# all ingests, all workers, Redis and the fake platform, and Redis commands
# per event. Binaries come from BIN (default target/release). Ports: Redis
# 6395 (a cluster's masters 6395 onwards), fake 8391, ingests from 18580, their admin from 19580, workers' admin
# from 19680.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/bench-stack.sh
source scripts/lib/bench-stack.sh
BIN=${BIN:-target/release}
rates=$1 secs=$2 bot=$3
shift 3
STACK_REDIS_PORT=6395 STACK_FAKE=127.0.0.1:8391
# shellcheck disable=SC2034 # read by stack_start (scripts/lib/bench-stack.sh)
STACK_INGEST=127.0.0.1:18580 STACK_INGEST_ADMIN=127.0.0.1:19580 STACK_WORKER_ADMIN=127.0.0.1:19680
STACK_CFG=$(mktemp --suffix=.toml)
{ echo "queues = ${QUEUES:-1}"; bench_config "$STACK_FAKE"; } >"$STACK_CFG"
stack_cleanup_on_exit "$STACK_CFG"
hz=$(getconf CLK_TCK)
# Redis's CPU seconds and commands, summed over every node of the stack.
redis_ports() { seq "$STACK_REDIS_PORT" $((STACK_REDIS_PORT + (STACK_REDIS_CLUSTER > 0 ? STACK_REDIS_CLUSTER - 1 : 0))); }
redis_cpu() { for p in $(redis_ports); do redis-cli -p "$p" info cpu; done | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.6f", s}'; }
redis_calls() { for p in $(redis_ports); do redis-cli -p "$p" info commandstats; done | awk -F'[:=,]' '/^cmdstat_/ {n += $3} END {print n + 0}'; }
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(proc_ticks "$p"))); done; echo "$t"; }
# load RATE SECS [--json]: RATE/s split over the ingests, one generator each; prints each generator's JSON line.
load() {
  local share gens=() k
  share=$(awk -v r="$1" -v n="${#ingest_urls[@]}" 'BEGIN {printf "%.3f", r / n}')
  for k in "${!ingest_urls[@]}"; do
    "$BIN/botq-bench" ingest --config "$STACK_CFG" --bot "$bot" --url "http://${ingest_urls[$k]}" \
      --rate "$share" --duration "$2" --warmup 0 --chats 20000 "${@:3}" 2>/dev/null &
    gens+=($!)
  done
  wait "${gens[@]}"
}

echo "# $(machine_line); bot $bot; ${secs}s per run; binaries $BIN"
echo "rate topology acked/sent ack_p99_ms replies expected ingest_us worker_us redis_us fake_us redis_cmds"
IFS=, read -ra list <<<"$rates"
for r in "${list[@]}"; do
  for topo in "$@"; do
    n_ingest=${topo%x*} n_worker=${topo#*x} STACK_REDIS_CLUSTER=0
    if [[ $n_worker == *c* ]]; then STACK_REDIS_CLUSTER=${n_worker#*c} n_worker=${n_worker%c*}; fi
    STACK_BIN=$BIN stack_start
    ingest_pids=("$PID_INGEST") worker_pids=("$PID_WORKER") ingest_urls=("$STACK_INGEST")
    for k in $(seq 2 "$n_ingest"); do
      BOTQ_LISTEN=127.0.0.1:$((18579 + k)) BOTQ_ADMIN_LISTEN=127.0.0.1:$((19579 + k)) "$BIN/botq-ingest" --config "$STACK_CFG" &
      ingest_pids+=($!) && pids+=($!) && ingest_urls+=("127.0.0.1:$((18579 + k))")
    done
    for k in $(seq 2 "$n_worker"); do
      BOTQ_ADMIN_LISTEN=127.0.0.1:$((19679 + k)) "$BIN/botq-worker" --config "$STACK_CFG" &
      worker_pids+=($!) && pids+=($!)
    done
    for k in $(seq 2 "$n_ingest"); do
      until BOTQ_ADMIN_LISTEN=127.0.0.1:$((19579 + k)) "$BIN/botq-ingest" --config "$STACK_CFG" healthcheck >/dev/null 2>&1; do sleep 0.05; done
    done
    for k in $(seq 2 "$n_worker"); do
      until BOTQ_ADMIN_LISTEN=127.0.0.1:$((19679 + k)) "$BIN/botq-worker" --config "$STACK_CFG" healthcheck >/dev/null 2>&1; do sleep 0.05; done
    done
    load "$r" 3 >/dev/null # warm-up: connections, token caches, allocator
    wait_deliveries $(($(printf '%.0f' "$r") * 3 + 1))
    curl -s -XPOST "$STACK_FAKE/_fake/reset" >/dev/null
    for p in $(redis_ports); do redis-cli -p "$p" config resetstat >/dev/null; done
    i0=$(ticks "${ingest_pids[@]}") w0=$(ticks "${worker_pids[@]}") f0=$(proc_ticks "$PID_FAKE") r0=$(redis_cpu) c0=$(redis_calls)
    acked=$(load "$r" "$secs" --json | python3 -c '
import json, sys
rs = [json.loads(line) for line in sys.stdin if line.strip()]
print("%d/%d %.1f" % (sum(r["status"]["2xx"] for r in rs), sum(r["requests"] for r in rs), max(r["latency_ms"]["p99"] for r in rs)))')
    expected=$(awk -v r="$r" -v s="$secs" 'BEGIN{printf "%d", r*s}')
    wait_deliveries "$expected"
    got=$(fake_deliveries)
    i1=$(ticks "${ingest_pids[@]}") w1=$(ticks "${worker_pids[@]}") f1=$(proc_ticks "$PID_FAKE") r1=$(redis_cpu) c1=$(redis_calls)
    extra=("${ingest_pids[@]:1}" "${worker_pids[@]:1}")
    if ((${#extra[@]})); then # (a bare `wait` would wait for the whole stack)
      kill "${extra[@]}" 2>/dev/null || true
      wait "${extra[@]}" 2>/dev/null || true
    fi
    stack_stop
    awk -v r="$r" -v t="$topo" -v acked="$acked" -v got="$got" -v n="$expected" -v hz="$hz" \
      -v i="$((i1 - i0))" -v w="$((w1 - w0))" -v f="$((f1 - f0))" -v rc="$r1 $r0" -v cc="$((c1 - c0))" \
      'BEGIN { split(rc, rr, " ");
               printf "%s %s %s %s %s %.1f %.1f %.1f %.1f %.2f\n", r, t, acked, got, n,
                 i / hz * 1e6 / n, w / hz * 1e6 / n, (rr[1] - rr[2]) * 1e6 / n, f / hz * 1e6 / n, cc / n }'
  done
done
