#!/usr/bin/env bash
# The soak of BENCHMARKS.md: a steady open-loop stream of signed QQ and Lark
# /ping webhooks through botq-ingest → botq-worker → botq-fakeplatform for a
# long time, with the memory of every process and of Redis sampled, and the
# Redis state that must stay bounded (stream, pending, DLQ, dedupe keys, done
# markers, every key) counted.
#
#   scripts/bench-soak.sh [SECONDS] [RATE_PER_BOT] [OUT_DIR]   defaults: 3600  250  target/soak
#   env: SAMPLE_SECS=30 BENCH_REDIS_PORT=6393 BENCH_FAKE_PORT=8090 BENCH_INGEST_PORT=18081
#        BENCH_INGEST_ADMIN_PORT=19092 BENCH_WORKER_ADMIN_PORT=19093
#
# Writes OUT_DIR/samples.csv (one row per SAMPLE_SECS, default 30), the
# bench's own reports (OUT_DIR/qq.txt, lark.txt) and OUT_DIR/summary.txt.
# Redis runs with AOF (everysec), as deployed. The dedupe TTL is 600 s
# instead of the default day, so the key count reaches its plateau (rate ×
# TTL) within the run: flat after minute 10 is the claim under test.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3600}
rate=${2:-250}
out=${3:-target/soak}
every=${SAMPLE_SECS:-30}
# shellcheck source=scripts/lib/bench-stack.sh
source scripts/lib/bench-stack.sh
mkdir -p "$out"
out=$(cd "$out" && pwd)
dir=$(mktemp -d)
STACK_REDIS_PORT=${BENCH_REDIS_PORT:-6393}
STACK_FAKE=127.0.0.1:${BENCH_FAKE_PORT:-8090} STACK_INGEST=127.0.0.1:${BENCH_INGEST_PORT:-18081}
STACK_INGEST_ADMIN=127.0.0.1:${BENCH_INGEST_ADMIN_PORT:-19092} STACK_WORKER_ADMIN=127.0.0.1:${BENCH_WORKER_ADMIN_PORT:-19093}
STACK_REDIS_ARGS=(--appendonly yes --appendfsync everysec --dir "$dir")
STACK_CFG="$dir/soak.toml"
# The bench config with the real handler and botq's reply limits off (the
# load spreads over thousands of chats), a 10-minute dedupe TTL (and so a
# 5-minute timestamp window: the TTL must cover it), logs at warn.
bench_config "$STACK_FAKE" "timestamp_window_secs = 300" >"$STACK_CFG"
printf '\n[dedupe]\nttl_secs = 600\n' >>"$STACK_CFG"

scripts/ensure-redis.sh
cargo build --release -q -p botq-ingest -p botq-worker -p botq-bench -p botq-fakeplatform
stack_cleanup_on_exit "$dir"
stack_start

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
rc() { redis-cli -p "$STACK_REDIS_PORT" "$@"; }
count_keys() { rc --scan --pattern "$1" | wc -l; }
sample() {
  local info
  info=$(rc info memory | tr -d '\r')
  printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' \
    "$(($(date +%s) - start))" "$(rss_kib "$PID_INGEST")" "$(rss_kib "$PID_WORKER")" "$(rss_kib "$PID_REDIS")" \
    "$(rss_kib "$PID_FAKE")" "$(awk -F: '/^used_memory:/ {print $2}' <<<"$info")" \
    "$(rc xlen 'botq:{q0}:stream')" "$(rc xpending 'botq:{q0}:stream' botq-workers | head -1)" \
    "$(rc xlen 'botq:{q0}:dlq')" "$(count_keys 'botq:{q0}:dd:*')" "$(count_keys 'botq:{q0}:claim:*')" \
    "$(rc dbsize)" "$(fake_deliveries)"
}

echo "# $(machine_line); commit $(git rev-parse --short HEAD); ${secs} s at ${rate}/s QQ + ${rate}/s Lark" |
  tee "$out/summary.txt"
echo "t_s,ingest_rss_kib,worker_rss_kib,redis_rss_kib,fake_rss_kib,redis_used_bytes,stream_len,pending,dlq_len,dedupe_keys,claim_keys,all_keys,replies" >"$out/samples.csv"
start=$(date +%s)
for bot in qq-bench lark-bench; do
  name=${bot%-bench}
  target/release/botq-bench ingest --config "$STACK_CFG" --bot "$bot" --url "http://$STACK_INGEST" \
    --rate "$rate" --duration "$secs" --warmup 0 --chats 2000 --senders 20000 --connections 32 \
    --max-pregen-mib 64 >"$out/$name.txt" 2>&1 &
  pids+=($!)
  bench_pids+=($!)
done
while kill -0 "${bench_pids[@]}" 2>/dev/null; do
  sample >>"$out/samples.csv"
  sleep "$every"
done
wait "${bench_pids[@]}" || true
sleep 5
sample >>"$out/samples.csv"
cat "$out/qq.txt" "$out/lark.txt" | tee -a "$out/summary.txt"
python3 - "$out/samples.csv" <<'PY' | tee -a "$out/summary.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
end = float(rows[-1]["t_s"])
def at(frac):  # the first sample at or after frac of the run
    return next(r for r in rows if float(r["t_s"]) >= frac * end)
cols = [("ingest_rss_kib", "ingest RSS MiB", 1024), ("worker_rss_kib", "worker RSS MiB", 1024),
        ("redis_rss_kib", "redis RSS MiB", 1024), ("redis_used_bytes", "redis used_memory MiB", 1 << 20),
        ("stream_len", "stream length", 1), ("pending", "pending", 1), ("dlq_len", "DLQ", 1),
        ("dedupe_keys", "dedupe keys", 1), ("claim_keys", "done markers", 1), ("all_keys", "all keys", 1)]
marks = [0.25, 0.5, 0.75, 1.0]
print("| | " + " | ".join(f"t={float(at(m)['t_s']) / 60:.0f} min" for m in marks) + " | max |")
print("|---" * (len(marks) + 2) + "|")
for key, label, div in cols:
    vals = [float(at(m)[key]) / div for m in marks]
    mx = max(float(r[key]) for r in rows) / div
    fmt = (lambda v: f"{v:.1f}") if div > 1 else (lambda v: f"{v:.0f}")
    print(f"| {label} | " + " | ".join(fmt(v) for v in vals) + f" | {fmt(mx)} |")
print(f"replies delivered: {rows[-1]['replies']}")
PY
