#!/usr/bin/env bash
# The fairness benchmark of BENCHMARKS.md: does one group sending
# 50× the traffic of 20 quiet groups hurt the quiet groups' reply latency?
#
# One run, on this machine, back to back, each scenario on fresh processes
# and an empty Redis (release builds, loopback):
#   baseline            20 quiet groups alone                      2 workers serving every lane
#   fair-share          + the noisy group; lanes off, fair share   2 workers serving every lane
#   fair-share-1w       the same with 1 worker serving everything
#   lane                + the noisy group on its own lane          1 worker --lanes default, 1 --lanes noisy
#   lane-no-fair-share  the same with fair share off
#   no-fair-share       + the noisy group; lanes off, fair share off (max_queued_per_chat = 0), 2 workers
#   baseline-end        the baseline again: the machine is shared, so the two baselines bracket any drift
# Fair share is on (FAIR_SHARE events per chat in the stream) unless the name says otherwise.
#
# botq-fakeplatform adds LATENCY_MS to every reply, so handling one event takes
# tens of milliseconds and the noisy group's serial capacity (per-chat order: one
# event at a time) is below its arrival rate: its backlog grows all run long.
# botq's reply limits, storm guard and ingest limits are off (they would
# measure themselves); OneBot, the cheapest webhook to sign.
#
#   scripts/bench-fairness.sh [SCENARIOS]     default: all seven, in the order above
#   env: RESULTS=/tmp/bench-fairness.jsonl QUIET_GROUPS=20 QUIET_RATE=2 NOISY_RATE=100 SECS=60 WARMUP=5 LATENCY_MS=30 CONCURRENCY=64 FAIR_SHARE=1
set -euo pipefail
cd "$(dirname "$0")/.."
scenarios=${1:-baseline fair-share fair-share-1w lane lane-no-fair-share no-fair-share baseline-end}
quiet_groups=${QUIET_GROUPS:-20}
quiet_rate=${QUIET_RATE:-2}
noisy_rate=${NOISY_RATE:-100}
secs=${SECS:-60}
warmup=${WARMUP:-5}
latency_ms=${LATENCY_MS:-30}
concurrency=${CONCURRENCY:-64}
fair_share=${FAIR_SHARE:-1}
port=${BENCH_REDIS_PORT:-6394}
ingest=127.0.0.1:18280
fake=127.0.0.1:18290
noisy_chat=700000000 # botq-bench's chat 0 on OneBot
work=$(mktemp -d)
results=${RESULTS:-/tmp/bench-fairness.jsonl} # one JSON object per scenario
: >"$results"

scripts/ensure-redis.sh
cargo build --release -q -p botq-ingest -p botq-worker -p botq-bench -p botq-fakeplatform
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --logfile /dev/null &
redis_pid=$!
pids=()
stop_services() { # workers first, so their last replies still find the fake platform
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  pids=()
}
trap 'stop_services; kill $redis_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
export BOTQ_REDIS_URL="redis://127.0.0.1:$port" BOTQ_LISTEN=$ingest BOTQ_LOG=warn

# config FAIR_SHARE LANE(yes|no): the deployment of one scenario.
config() {
  cat <<EOF
redis_url = "redis://127.0.0.1:$port"

[ingest]
listen = "$ingest"
max_backlog = 1000000

[ingest.rate_limit]
group_per_sec = 0.0
sender_per_sec = 0.0

[worker]
handler = "bots"
concurrency = $concurrency

[fair_share]
max_queued_per_chat = $1

[log]
level = "warn"
EOF
  [[ $2 == yes ]] && printf '\n[[lane]]\nname = "noisy"\n'
  cat <<EOF

[[bot]]
id = "onebot-bench"
platform = "onebot"
app_id = "10001000"
secret = "bench-onebot-secret"
api_base = "http://$fake/onebot"
reply_limit = { chat_per_sec = 0.0, bot_per_sec = 0.0 }

[bot.guard]
chat_replies_per_min = 0
EOF
  [[ $2 == yes ]] && printf '\n[[bot.group]]\nid = "%s"\nlane = "noisy"\n' "$noisy_chat"
  return 0
}

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # clock ticks

# Every 2 s: stream lengths and the noisy group's fair-share backlog, per lane.
sample_queues() {
  while :; do
    printf '%s' "$(date +%s)"
    for k in 'botq:{q0}:stream' 'botq:{q:noisy:0}:stream' \
      "botq:{q0}:backlog:onebot-bench:$noisy_chat" "botq:{q:noisy:0}:backlog:onebot-bench:$noisy_chat"; do
      case $k in *stream) c=XLEN ;; *) c=LLEN ;; esac
      printf ' %s' "$(redis-cli -p "$port" "$c" "$k")"
    done
    echo
    sleep 2
  done
}

echo "# $(date -u '+%F %H:%M UTC'); $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); redis $(redis-server --version | awk '{sub("v=", "", $3); print $3}')"
echo "# botq $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- crates 2>/dev/null || echo ' (uncommitted changes)')"
echo "# quiet: $quiet_groups groups × $quiet_rate/s; noisy: 1 group × $noisy_rate/s; ${warmup} s warm-up + ${secs} s measured;"
echo "# fake reply latency ${latency_ms} ms; worker concurrency $concurrency per process; fair share $fair_share per chat when on"
for scenario in $scenarios; do
  case $scenario in
    baseline | baseline-end) fs=$fair_share lane=no noisy=0 lanes=(all all) ;;
    fair-share) fs=$fair_share lane=no noisy=$noisy_rate lanes=(all all) ;;
    fair-share-1w) fs=$fair_share lane=no noisy=$noisy_rate lanes=(all) ;;
    lane) fs=$fair_share lane=yes noisy=$noisy_rate lanes=(default noisy) ;;
    lane-no-fair-share) fs=0 lane=yes noisy=$noisy_rate lanes=(default noisy) ;;
    no-fair-share) fs=0 lane=no noisy=$noisy_rate lanes=(all all) ;;
    *)
      echo "unknown scenario $scenario: baseline fair-share fair-share-1w lane lane-no-fair-share no-fair-share baseline-end" >&2
      exit 2
      ;;
  esac
  cfg=$work/$scenario.toml
  config "$fs" "$lane" >"$cfg"
  redis-cli -p "$port" flushall >/dev/null
  target/release/botq-fakeplatform --config "$cfg" --listen "$fake" --latency-ms "$latency_ms" &
  pids+=($!)
  BOTQ_ADMIN_LISTEN=127.0.0.1:19280 target/release/botq-ingest --config "$cfg" &
  pids+=($!)
  n=0
  for l in "${lanes[@]}"; do
    n=$((n + 1))
    if [[ $l == all ]]; then
      BOTQ_ADMIN_LISTEN=127.0.0.1:1928$n target/release/botq-worker --config "$cfg" &
    else
      BOTQ_ADMIN_LISTEN=127.0.0.1:1928$n target/release/botq-worker --config "$cfg" --lanes "$l" &
    fi
    pids+=($!)
  done
  until BOTQ_ADMIN_LISTEN=127.0.0.1:19280 target/release/botq-ingest --config "$cfg" healthcheck >/dev/null 2>&1; do sleep 0.05; done
  for i in $(seq "$n"); do
    until BOTQ_ADMIN_LISTEN=127.0.0.1:1928$i target/release/botq-worker --config "$cfg" healthcheck >/dev/null 2>&1; do sleep 0.05; done
  done
  until curl -sf "http://$fake/_fake/stats" >/dev/null; do sleep 0.05; done

  echo "## $scenario: fair share $([[ $fs == 0 ]] && echo off || echo "$fs/chat"), noisy lane $lane, workers: ${lanes[*]}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  sample_queues >"$work/$scenario.queues" &
  sampler=$!
  before=()
  for p in "$redis_pid" "${pids[@]}"; do before+=("$(cpu_of "$p")"); done
  t0=$(date +%s.%N)
  target/release/botq-bench fairness --config "$cfg" --bot onebot-bench --url "http://$ingest" \
    --fake-url "http://$fake" --quiet-groups "$quiet_groups" --quiet-rate "$quiet_rate" --noisy-rate "$noisy" \
    --duration "$secs" --warmup "$warmup" --label "$scenario" --json >"$work/$scenario.json"
  t1=$(date +%s.%N)
  kill $sampler 2>/dev/null || true
  wait $sampler 2>/dev/null || true
  cat "$work/$scenario.json" >>"$results"
  # CPU of each process over the run (bench included via its report), as a share of the machine.
  names=(redis fake ingest)
  for l in "${lanes[@]}"; do names+=("worker:$l"); done
  cpu_line="cpu s:"
  total=0
  i=0
  for p in "$redis_pid" "${pids[@]}"; do
    d=$(($(cpu_of "$p") - before[i]))
    cpu_line+=" ${names[i]} $(awk -v d=$d 'BEGIN{printf "%.1f", d/100}')"
    total=$((total + d))
    i=$((i + 1))
  done
  bench_cpu=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bench_cpu_s"] or 0)' "$work/$scenario.json")
  echo "$cpu_line bench $bench_cpu; machine busy $(awk -v t=$total -v b="$bench_cpu" -v a="$t0" -v z="$t1" -v n="$(nproc)" \
    'BEGIN{printf "%.0f%%", 100 * (t / 100 + b) / ((z - a) * n)}') of $(nproc) cores over $(awk -v a="$t0" -v z="$t1" 'BEGIN{printf "%.0f", z - a}') s"
  awk '{for (i = 2; i <= 5; i++) if ($i > m[i]) m[i] = $i} END {printf "max during run: stream default %d, stream noisy-lane %d, noisy backlog (default lane) %d, noisy backlog (noisy lane) %d\n", m[2], m[3], m[4], m[5]}' "$work/$scenario.queues"
  python3 - "$work/$scenario.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for c in ("quiet", "noisy"):
    x = r[c]
    if not x:
        continue
    l = x["latency_ms"] or {}
    lb = "≥" if x["latency_is_lower_bound"] else ""
    print(f'{c}: offered {x["offered_per_sec"]}/s, acked {x["acked_per_sec"]}/s, replies {x["replies_per_sec"]}/s; '
          f'{x["replied"]}/{x["events"]} replied, {x["missing"]} missing, {x["duplicates"]} duplicates, {x["out_of_order"]} out of order; '
          f'p50 {lb}{l.get("p50")} p95 {lb}{l.get("p95")} p99 {lb}{l.get("p99")} max {lb}{l.get("max")} ms; '
          f'worst group p95 {x["worst_group_p95_ms"]} ms')
print(f'ack p99 {r["ack_ms"]["p99"]} ms, send lag p99 {r["send_lag_ms"]["p99"]} ms; replies read {r["collected_after_s"]} s after the window closed')
PY
  stop_services
done

echo "## summary (reply latency ms, due → the fake platform accepted the reply)"
python3 - "$results" <<'PY'
import json, sys
runs = {r["label"]: r for r in map(json.loads, open(sys.argv[1]))}
base = runs.get("baseline", {}).get("quiet", {}).get("latency_ms") or {}
print("| scenario | quiet p50 | quiet p95 | quiet p99 | worst quiet group p95 | quiet missing | noisy p50 | noisy p95 | noisy replies/s | noisy missing | noisy out of order | read after | quiet p95 ÷ baseline |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for name, r in runs.items():
    q, n = r["quiet"], r["noisy"]
    ql = q["latency_ms"] or {}
    b = "≥" if q["latency_is_lower_bound"] else ""
    row = [name, f'{b}{ql.get("p50")}', f'{b}{ql.get("p95")}', f'{b}{ql.get("p99")}', f'{b}{q["worst_group_p95_ms"]}', str(q["missing"])]
    if n:
        nl = n["latency_ms"] or {}
        nb = "≥" if n["latency_is_lower_bound"] else ""
        row += [f'{nb}{nl.get("p50")}', f'{nb}{nl.get("p95")}', str(n["replies_per_sec"]), str(n["missing"]), str(n["out_of_order"])]
    else:
        row += ["–"] * 5
    row.append(f'{r["collected_after_s"]:.1f} s')
    row.append(f'{b}{ql["p95"] / base["p95"]:.2f}' if base.get("p95") and ql.get("p95") else "–")
    print("| " + " | ".join(row) + " |")
end = runs.get("baseline-end", {}).get("quiet", {}).get("latency_ms") or {}
if base.get("p95") and end.get("p95") and not 0.8 <= end["p95"] / base["p95"] <= 1.25:
    print(f'WARNING: the baselines differ (quiet p95 {base["p95"]} then {end["p95"]} ms): the machine was disturbed, rerun')
PY
echo "(one JSON line per scenario: $results)"
